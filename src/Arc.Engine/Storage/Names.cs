using System.Buffers;

namespace Arc.Engine.Storage;

/// <summary>
/// Rules for the names that become directories and SQL identifiers (Arc's rules): a measurement matches
/// <c>^[a-zA-Z][a-zA-Z0-9_-]*$</c> and has at most 128 characters; a database matches <c>^[a-zA-Z0-9_][a-zA-Z0-9_-]*$</c>,
/// has at most 64 characters and is not a reserved name.
/// </summary>
public static class Names
{
    public const int MaxMeasurementLength = 128;
    public const int MaxDatabaseLength = 64;

    private static readonly SearchValues<byte> NameBytes =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"u8);

    private static readonly SearchValues<char> NameChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

    /// <summary>Database names that would collide with DuckDB's own schemas or Arc's internal ones.</summary>
    private static readonly HashSet<string> ReservedDatabases = new(StringComparer.OrdinalIgnoreCase)
    {
        "system", "internal", "main", "information_schema", "pg_catalog", "temp", "memory",
    };

    /// <summary>Null when <paramref name="name"/> is a valid measurement name, else the reason.</summary>
    public static string? ValidateMeasurement(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty)
        {
            return "measurement name is empty";
        }

        if (name.Length > MaxMeasurementLength)
        {
            return $"measurement name is longer than {MaxMeasurementLength} characters";
        }

        if (!char.IsAsciiLetter((char)name[0]) || name.IndexOfAnyExcept(NameBytes) >= 0)
        {
            return "invalid measurement name: it must start with a letter and contain only letters, digits, '_' and '-'";
        }

        return null;
    }

    /// <summary>Null when <paramref name="name"/> is a valid database name, else the reason.</summary>
    public static string? ValidateDatabase(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "database name is empty";
        }

        if (name.Length > MaxDatabaseLength)
        {
            return $"database name is longer than {MaxDatabaseLength} characters";
        }

        if (name[0] == '-' || name.AsSpan().IndexOfAnyExcept(NameChars) >= 0)
        {
            return "invalid database name: use letters, digits, '_' and '-' (not first)";
        }

        return ReservedDatabases.Contains(name) ? $"database name '{name}' is reserved" : null;
    }

    public static bool IsValidDatabase(string name) => ValidateDatabase(name) is null;

    public static bool IsValidMeasurement(string name)
    {
        Span<byte> bytes = stackalloc byte[MaxMeasurementLength + 1];
        return name.Length <= MaxMeasurementLength
               && System.Text.Encoding.UTF8.TryGetBytes(name, bytes, out var written)
               && ValidateMeasurement(bytes[..written]) is null;
    }

    /// <summary>Quotes an identifier for SQL: <c>"a""b"</c>.</summary>
    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>Quotes a string literal for SQL: <c>'it''s'</c>.</summary>
    public static string QuoteLiteral(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}
