using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Arc.DashboardBench;

/// <summary>
/// A panel's answer in one shape for every system: rows keyed by bucket time (Unix ms) and, for per-host panels, the host,
/// each with its values; for the catalog panel, the measurement names. Compared across systems after the timing.
/// </summary>
internal sealed class Answer
{
    private Answer(SortedDictionary<string, double?[]> rows) => Rows = rows;

    public SortedDictionary<string, double?[]> Rows { get; }

    public int Count => Rows.Count;

    /// <summary>arc-native's JSON: <c>{"columns":[...],"data":[[...],...]}</c>; times are RFC 3339 strings.</summary>
    public static Answer FromArc(Panel panel, byte[] body)
    {
        using var json = JsonDocument.Parse(body);
        var columns = json.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetString() ?? "").ToList();
        var rows = new SortedDictionary<string, double?[]>(StringComparer.Ordinal);
        foreach (var row in json.RootElement.GetProperty("data").EnumerateArray())
        {
            var cells = row.EnumerateArray().ToArray();
            if (panel.Range is null)
            {
                var name = columns.IndexOf("table_name");
                rows[cells[name < 0 ? 0 : name].GetString() ?? ""] = [];
                continue;
            }

            var key = Key(Time(cells[0].GetString()), panel.PerHost ? cells[1].GetString() : null);
            rows[key] = cells.Skip(panel.PerHost ? 2 : 1).Select(Number).ToArray();
        }

        return new Answer(rows);
    }

    /// <summary>The <c>execution_time_ms</c> arc-native reports in its JSON answer.</summary>
    public static double ArcExecutionMs(byte[] body)
    {
        using var json = JsonDocument.Parse(body);
        return json.RootElement.TryGetProperty("execution_time_ms", out var ms) ? ms.GetDouble() : double.NaN;
    }

    /// <summary>InfluxDB 1.x's JSON (<c>epoch=ms</c>): a series per host for per-host panels; an error in the body is thrown.</summary>
    public static Answer FromInflux(Panel panel, byte[] body)
    {
        using var json = JsonDocument.Parse(body);
        var result = json.RootElement.GetProperty("results")[0];
        if (result.TryGetProperty("error", out var error))
        {
            throw new InvalidOperationException("InfluxDB: " + error.GetString());
        }

        var rows = new SortedDictionary<string, double?[]>(StringComparer.Ordinal);
        if (!result.TryGetProperty("series", out var series))
        {
            return new Answer(rows);
        }

        foreach (var s in series.EnumerateArray())
        {
            string? host = null;
            if (panel.PerHost)
            {
                host = s.GetProperty("tags").GetProperty("host").GetString();
            }

            foreach (var row in s.GetProperty("values").EnumerateArray())
            {
                var cells = row.EnumerateArray().ToArray();
                if (panel.Range is null)
                {
                    rows[cells[0].GetString() ?? ""] = [];
                    continue;
                }

                rows[Key(cells[0].GetInt64(), host)] = cells.Skip(1).Select(Number).ToArray();
            }
        }

        return new Answer(rows);
    }

    /// <summary>Raw DuckDB's cells as text (<c>duckdb_value_varchar</c>): times as <c>2026-01-02 03:04:00</c>.</summary>
    public static Answer FromText(Panel panel, string[] columns, List<string?[]> data)
    {
        var rows = new SortedDictionary<string, double?[]>(StringComparer.Ordinal);
        foreach (var cells in data)
        {
            if (panel.Range is null)
            {
                var name = Array.IndexOf(columns, "name");
                rows[cells[name < 0 ? 0 : name] ?? ""] = [];
                continue;
            }

            var key = Key(Time(cells[0]), panel.PerHost ? cells[1] : null);
            rows[key] = cells.Skip(panel.PerHost ? 2 : 1)
                .Select(c => c is null ? (double?)null : double.Parse(c, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
        }

        return new Answer(rows);
    }

    /// <summary>
    /// Null when <paramref name="other"/> holds the same keys with the same number of values, each within a relative
    /// 1e-9 (means summed in another order differ in the last bits); otherwise the first differences.
    /// </summary>
    public string? Difference(Answer other)
    {
        var text = new StringBuilder();
        var differences = 0;
        foreach (var key in Rows.Keys.Union(other.Rows.Keys).Order(StringComparer.Ordinal))
        {
            var mine = Rows.GetValueOrDefault(key);
            var theirs = other.Rows.GetValueOrDefault(key);
            if (mine is not null && theirs is not null && mine.Length == theirs.Length && mine.Zip(theirs).All(p => Close(p.First, p.Second)))
            {
                continue;
            }

            if (++differences <= 5)
            {
                text.Append(CultureInfo.InvariantCulture, $"  {Describe(key)}: {Show(mine)} vs {Show(theirs)}\n");
            }
        }

        return differences == 0 && Count == other.Count
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"{Count} rows vs {other.Count}, {differences} differing\n{text}");
    }

    private static bool Close(double? a, double? b) => (a, b) switch
    {
        (null, null) => true,
        ({ } x, { } y) => Math.Abs(x - y) <= 1e-9 * Math.Max(1, Math.Max(Math.Abs(x), Math.Abs(y))),
        _ => false,
    };

    private static string Show(double?[]? values) => values is null
        ? "(missing)"
        : "[" + string.Join(", ", values.Select(v => v?.ToString("R", CultureInfo.InvariantCulture) ?? "null")) + "]";

    private static string Describe(string key)
    {
        var bar = key.IndexOf('|', StringComparison.Ordinal);
        var ms = bar > 0 ? key[..bar] : key;
        return long.TryParse(ms, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? DateTime.UnixEpoch.AddMilliseconds(value).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) + (bar > 0 ? " " + key[(bar + 1)..] : "")
            : key;
    }

    private static string Key(long unixMs, string? host) =>
        unixMs.ToString("D15", CultureInfo.InvariantCulture) + (host is null ? "" : "|" + host);

    private static long Time(string? text) =>
        Panel.UnixMs(DateTime.Parse(text ?? throw new InvalidOperationException("null bucket time"), CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal));

    private static double? Number(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.Number => value.GetDouble(),
        _ => throw new InvalidOperationException("not a number: " + value.GetRawText()),
    };
}
