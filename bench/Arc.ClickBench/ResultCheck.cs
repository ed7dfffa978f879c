using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Arc.ClickBench;

/// <summary>A query result as text: column names and rows of values (null for SQL NULL).</summary>
internal sealed record QueryResult(string[] Columns, List<string?[]> Rows);

/// <summary>
/// How a query's result is compared between two systems. Both run DuckDB, but over different files, so rows that tie on
/// the ORDER BY key may come back in another order, and where a LIMIT or OFFSET cuts through a group of tied rows, which of
/// them are returned is arbitrary. The checksum therefore covers: the row count; every row whose ORDER BY key is not tied
/// across a cut (as a multiset, so order among ties does not matter); and, for the rows whose key is tied at the cut, only
/// the key values.
/// </summary>
internal sealed partial record QuerySpec(int Number, int[]? KeyColumns, string? KeyColumnName, int? Limit, int Offset, bool RowCountOnly, string Note)
{
    /// <summary>The ORDER BY key of each query as output column positions (null: no ORDER BY).</summary>
    private static readonly Dictionary<int, int[]> Keys = new()
    {
        [8] = [1],
        [9] = [1],
        [10] = [2],
        [11] = [1],
        [12] = [2],
        [13] = [1],
        [14] = [1],
        [15] = [2],
        [16] = [1],
        [17] = [2],
        [19] = [3],
        [22] = [2],
        [23] = [3],
        [26] = [0],
        [28] = [1],
        [29] = [1],
        [31] = [2],
        [32] = [2],
        [33] = [2],
        [34] = [1],
        [35] = [2],
        [36] = [4],
        [37] = [1],
        [38] = [1],
        [39] = [1],
        [40] = [5],
        [41] = [2],
        [42] = [2],
        [43] = [0],
    };

    public static QuerySpec For(int number, string sql)
    {
        var limit = LimitPattern().Match(sql);
        int? limitValue = limit.Success ? int.Parse(limit.Groups[1].Value, CultureInfo.InvariantCulture) : null;
        var offset = limit.Success && limit.Groups[2].Success ? int.Parse(limit.Groups[2].Value, CultureInfo.InvariantCulture) : 0;
        return number switch
        {
            18 => new QuerySpec(number, null, null, limitValue, offset, true,
                "LIMIT without ORDER BY: any 10 groups are a correct answer, so only the row count is compared"),
            24 => new QuerySpec(number, null, "EventTime", limitValue, offset, false,
                "SELECT *: columns matched by name (arc-native's extra `time` column is left out of the comparison)"),
            25 => new QuerySpec(number, [], null, limitValue, offset, false,
                "ORDER BY a column not in the output (EventTime): compared as a multiset unless EventTime ties across the LIMIT"),
            27 => new QuerySpec(number, null, null, limitValue, offset, false,
                "ORDER BY EventTime, SearchPhrase: rows that tie on both keys are identical, so the result is fully determined"),
            _ => new QuerySpec(number, Keys.GetValueOrDefault(number), null, limitValue, offset, false, ""),
        };
    }

    [GeneratedRegex(@"LIMIT\s+(\d+)(?:\s+OFFSET\s+(\d+))?\s*;?\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex LimitPattern();
}

internal static partial class ResultCheck
{
    /// <summary>A value as comparable text: timestamps in one spelling, numbers to 12 significant digits, the rest as is.</summary>
    public static string Normalize(string? value)
    {
        if (value is null)
        {
            return "\u2205";
        }

        var timestamp = TimestampPattern().Match(value);
        if (timestamp.Success)
        {
            var fraction = timestamp.Groups[3].Value.TrimEnd('0');
            return timestamp.Groups[1].Value + " " + timestamp.Groups[2].Value + (fraction.Length > 1 ? fraction : "");
        }

        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return integer.ToString(CultureInfo.InvariantCulture);
        }

        if (value.Length > 0 && (char.IsDigit(value[0]) || value[0] is '-' or '.')
            && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            return number.ToString("G12", CultureInfo.InvariantCulture);
        }

        return value;
    }

    /// <summary>
    /// The checksum of a result under <paramref name="spec"/>, plus the text it was computed from (for a diff on mismatch).
    /// <paramref name="referenceColumns"/> orders and filters the columns by name (raw DuckDB's column list).
    /// </summary>
    public static (string Checksum, string Canonical, bool TiedAtCut) Checksum(QuerySpec spec, QueryResult result, string[] referenceColumns)
    {
        var positions = Align(result.Columns, referenceColumns);
        var rows = result.Rows.Select(r => positions.Select(p => Normalize(r[p])).ToArray()).ToList();
        var text = new StringBuilder();
        text.Append("rows=").Append(rows.Count).Append('\n');
        var tied = false;
        if (!spec.RowCountOnly)
        {
            var keys = spec.KeyColumnName is { } name
                ? [Array.FindIndex(referenceColumns, c => c.Equals(name, StringComparison.OrdinalIgnoreCase))]
                : spec.KeyColumns;
            var cutKeys = new HashSet<string>();
            if (keys is { Length: > 0 } && rows.Count > 0)
            {
                if (spec.Limit is { } limit && rows.Count == limit)
                {
                    cutKeys.Add(Key(rows[^1], keys));
                }

                if (spec.Offset > 0)
                {
                    cutKeys.Add(Key(rows[0], keys));
                }
            }

            var lines = new List<string>();
            foreach (var row in rows)
            {
                var key = keys is { Length: > 0 } ? Key(row, keys) : null;
                if (key is not null && cutKeys.Contains(key))
                {
                    lines.Add("key " + key);
                    tied = true;
                }
                else
                {
                    lines.Add(string.Join(" | ", row));
                }
            }

            lines.Sort(StringComparer.Ordinal);
            foreach (var line in lines)
            {
                text.Append(line).Append('\n');
            }
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
        return (hash, text.ToString(), tied);
    }

    private static string Key(string[] row, int[] keys) => string.Join(" | ", keys.Select(k => row[k]));

    private static int[] Align(string[] columns, string[] reference)
    {
        // By name when every reference column is found once; otherwise by position.
        var positions = new int[reference.Length];
        for (var i = 0; i < reference.Length; i++)
        {
            var matches = Enumerable.Range(0, columns.Length).Where(c => columns[c].Equals(reference[i], StringComparison.OrdinalIgnoreCase)).ToList();
            if (matches.Count != 1)
            {
                return Enumerable.Range(0, Math.Min(columns.Length, reference.Length)).ToArray();
            }

            positions[i] = matches[0];
        }

        return positions;
    }

    [GeneratedRegex(@"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?Z?$")]
    private static partial Regex TimestampPattern();
}
