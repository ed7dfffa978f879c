namespace Arc.Engine.Query;

/// <summary>
/// The <c>EXPLAIN</c> forms DuckDB accepts before a statement: <c>EXPLAIN</c>, <c>EXPLAIN ANALYZE</c> (or <c>ANALYSE</c>)
/// and <c>EXPLAIN (option, ...)</c> with <c>ANALYZE [true|false]</c> and <c>FORMAT text|json|html|graphviz|yaml</c>.
/// <see cref="TryParse"/> reads only that prefix (skipping whitespace and comments) and returns the rest of the text, which
/// DuckDB's parser then checks like any statement; the EXPLAIN that runs is rebuilt from the options read
/// (<see cref="Render"/>), so nothing of the client's prefix reaches DuckDB but these words.
/// </summary>
internal readonly record struct ExplainPrefix(bool Analyze, string? Format)
{
    private static readonly string[] Formats = ["text", "json", "html", "graphviz", "yaml"];

    /// <summary>The EXPLAIN prefix with a trailing space, in DuckDB's syntax.</summary>
    public string Render() => Format is null
        ? Analyze ? "EXPLAIN ANALYZE " : "EXPLAIN "
        : Analyze ? $"EXPLAIN (ANALYZE, FORMAT {Format}) " : $"EXPLAIN (FORMAT {Format}) ";

    /// <summary>
    /// Whether <paramref name="sql"/> starts with the EXPLAIN keyword; if so, <paramref name="prefix"/> holds its options
    /// and <paramref name="statement"/> the text after them, or <paramref name="error"/> says what was not understood.
    /// </summary>
    public static bool TryParse(string sql, out ExplainPrefix prefix, out string statement, out string? error)
    {
        prefix = default;
        statement = "";
        error = null;
        var position = 0;
        if (!Word(sql, ref position).Equals("EXPLAIN", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var afterExplain = position;
        var next = Word(sql, ref position);
        var analyze = false;
        string? format = null;
        if (next.Equals("ANALYZE", StringComparison.OrdinalIgnoreCase) || next.Equals("ANALYSE", StringComparison.OrdinalIgnoreCase))
        {
            analyze = true;
        }
        else if (next.Length == 0 && Skip(sql, afterExplain) is var open && open < sql.Length && sql[open] == '(')
        {
            position = open + 1;
            while (true)
            {
                var option = Word(sql, ref position);
                if (option.Equals("ANALYZE", StringComparison.OrdinalIgnoreCase) || option.Equals("ANALYSE", StringComparison.OrdinalIgnoreCase))
                {
                    analyze = true;
                    var save = position;
                    var value = Word(sql, ref position);
                    if (value.Equals("false", StringComparison.OrdinalIgnoreCase) || value.Equals("off", StringComparison.OrdinalIgnoreCase))
                    {
                        analyze = false;
                    }
                    else if (!(value.Equals("true", StringComparison.OrdinalIgnoreCase) || value.Equals("on", StringComparison.OrdinalIgnoreCase)))
                    {
                        position = save;
                    }
                }
                else if (option.Equals("FORMAT", StringComparison.OrdinalIgnoreCase))
                {
                    var value = Word(sql, ref position, quoted: true);
                    format = Formats.FirstOrDefault(f => f.Equals(value, StringComparison.OrdinalIgnoreCase));
                    if (format is null)
                    {
                        error = $"unsupported EXPLAIN format '{value}': use {string.Join(", ", Formats)}";
                        return true;
                    }
                }
                else
                {
                    error = option.Length == 0
                        ? "EXPLAIN options must be ANALYZE and FORMAT, in parentheses and separated by commas"
                        : $"unsupported EXPLAIN option '{option}': use ANALYZE and FORMAT";
                    return true;
                }

                position = Skip(sql, position);
                if (position < sql.Length && sql[position] == ',')
                {
                    position++;
                    continue;
                }

                if (position < sql.Length && sql[position] == ')')
                {
                    position++;
                    break;
                }

                error = "EXPLAIN options must be ANALYZE and FORMAT, in parentheses and separated by commas";
                return true;
            }
        }
        else
        {
            position = afterExplain;
        }

        prefix = new ExplainPrefix(analyze, format);
        statement = sql[position..];
        return true;
    }

    /// <summary>The word (letters, digits, '_') or, when <paramref name="quoted"/>, the single-quoted string at the position.</summary>
    private static string Word(string sql, ref int position, bool quoted = false)
    {
        var start = Skip(sql, position);
        if (quoted && start < sql.Length && sql[start] == '\'')
        {
            var close = sql.IndexOf('\'', start + 1);
            if (close < 0)
            {
                return "";
            }

            position = close + 1;
            return sql[(start + 1)..close];
        }

        var end = start;
        while (end < sql.Length && (char.IsAsciiLetterOrDigit(sql[end]) || sql[end] == '_'))
        {
            end++;
        }

        if (end > start)
        {
            position = end;
        }

        return sql[start..end];
    }

    /// <summary>Skips whitespace, <c>-- line</c> comments and (nested) <c>/* block */</c> comments.</summary>
    private static int Skip(string sql, int position)
    {
        while (position < sql.Length)
        {
            if (char.IsWhiteSpace(sql[position]))
            {
                position++;
            }
            else if (sql.AsSpan(position).StartsWith("--"))
            {
                var end = sql.IndexOf('\n', position);
                position = end < 0 ? sql.Length : end + 1;
            }
            else if (sql.AsSpan(position).StartsWith("/*"))
            {
                var depth = 0;
                do
                {
                    if (sql.AsSpan(position).StartsWith("/*"))
                    {
                        depth++;
                        position += 2;
                    }
                    else if (sql.AsSpan(position).StartsWith("*/"))
                    {
                        depth--;
                        position += 2;
                    }
                    else
                    {
                        position++;
                    }
                }
                while (depth > 0 && position < sql.Length);
            }
            else
            {
                break;
            }
        }

        return position;
    }

    /// <summary>The first word of a statement, upper-cased, for messages ("COPY", "CREATE"); empty if it starts otherwise.</summary>
    public static string FirstWord(string sql)
    {
        var position = 0;
        return Word(sql, ref position).ToUpperInvariant();
    }
}
