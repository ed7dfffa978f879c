namespace Arc.Engine.Query;

/// <summary>The Arc/InfluxDB listing commands DuckDB does not have in this form.</summary>
internal enum ShowKind
{
    Databases,
    Tables,
}

/// <summary>
/// Recognizes <c>SHOW DATABASES</c>, <c>SHOW TABLES</c> and <c>SHOW MEASUREMENTS</c>, optionally with <c>FROM db</c> or
/// <c>IN db</c> and a trailing semicolon. This only classifies a whole command by its words; it never edits SQL. Anything
/// else (including DuckDB's own <c>SHOW</c>/<c>DESCRIBE</c> forms) goes to DuckDB untouched.
/// </summary>
internal readonly record struct ShowCommand(ShowKind Kind, string? Database)
{
    public static bool TryParse(string sql, out ShowCommand command)
    {
        command = default;
        var text = sql.AsSpan().Trim();
        if (text.EndsWith(";"))
        {
            text = text[..^1].TrimEnd();
        }

        Span<Range> words = stackalloc Range[5];
        var count = text.SplitAny(words, " \t\r\n", StringSplitOptions.RemoveEmptyEntries);
        if (count is < 2 or > 4 || !text[words[0]].Equals("SHOW", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var what = text[words[1]];
        if (what.Equals("DATABASES", StringComparison.OrdinalIgnoreCase) && count == 2)
        {
            command = new ShowCommand(ShowKind.Databases, null);
            return true;
        }

        if (!what.Equals("TABLES", StringComparison.OrdinalIgnoreCase) && !what.Equals("MEASUREMENTS", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (count == 2)
        {
            command = new ShowCommand(ShowKind.Tables, null);
            return true;
        }

        var preposition = text[words[2]];
        if (count != 4 || !(preposition.Equals("FROM", StringComparison.OrdinalIgnoreCase) || preposition.Equals("IN", StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }

        var database = text[words[3]];
        if (database.Length >= 2 && database[0] == '"' && database[^1] == '"')
        {
            database = database[1..^1];
        }

        command = new ShowCommand(ShowKind.Tables, database.ToString());
        return true;
    }
}
