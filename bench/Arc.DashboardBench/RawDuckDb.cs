using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using DuckDB.NET.Native;

namespace Arc.DashboardBench;

/// <summary>
/// The floor: raw DuckDB in process (the <c>libduckdb.so</c> arc-native embeds, DuckDB.NET.Bindings' C API) over only the
/// Parquet files arc-native wrote whose partition overlaps the panel's range, <c>read_parquet([...])</c>, with DuckDB's
/// defaults. One in-memory instance per history, kept open (warm, like the servers). The time is that of
/// <c>duckdb_query</c>, which returns the materialized result: no HTTP, no serialization.
/// </summary>
internal sealed partial class RawDuckDb : IDisposable
{
    private readonly DuckDBDatabase _database;
    private readonly DuckDBNativeConnection _connection;

    private RawDuckDb(DuckDBDatabase database, DuckDBNativeConnection connection)
    {
        _database = database;
        _connection = connection;
    }

    public static string Version => NativeMethods.Startup.DuckDBLibraryVersion();

    /// <summary>
    /// An in-memory instance with a view <c>cpu</c> over every file (what <c>SHOW TABLES</c> lists; the panels read the files
    /// they need directly).
    /// </summary>
    public static RawDuckDb Open(IReadOnlyList<string> allFiles)
    {
        if (NativeMethods.Startup.DuckDBOpen(":memory:", out var database) != DuckDBState.Success)
        {
            throw new InvalidOperationException("could not open DuckDB");
        }

        if (NativeMethods.Startup.DuckDBConnect(database, out var connection) != DuckDBState.Success)
        {
            throw new InvalidOperationException("could not connect to DuckDB");
        }

        var raw = new RawDuckDb(database, connection);
        raw.Run($"CREATE VIEW cpu AS SELECT * FROM {ReadParquet(allFiles)}");
        return raw;
    }

    /// <summary><c>read_parquet(['a', 'b', ...])</c>.</summary>
    public static string ReadParquet(IReadOnlyList<string> files) =>
        "read_parquet([" + string.Join(", ", files.Select(f => "'" + f.Replace("'", "''", StringComparison.Ordinal) + "'")) + "])";

    /// <summary>The panel's SQL with <c>FROM cpu</c> reading <paramref name="files"/> instead of the view.</summary>
    public static string OverFiles(string sql, IReadOnlyList<string> files)
    {
        if (files.Count == 0)
        {
            // No partition overlaps: an empty relation of the same shape.
            return FromCpu().Replace(sql, "FROM (SELECT * FROM cpu WHERE false)", 1);
        }

        return ReplaceFrom(sql, ReadParquet(files));
    }

    /// <summary>The panel's SQL reading <paramref name="source"/> where it says <c>FROM cpu</c>.</summary>
    public static string ReplaceFrom(string sql, string source)
    {
        var replaced = FromCpu().Replace(sql, "FROM " + source, 1);
        return replaced == sql ? throw new ArgumentException("the panel SQL has no 'FROM cpu' for raw DuckDB to replace: " + sql) : replaced;
    }

    /// <summary>Runs a statement; the time covers <c>duckdb_query</c> (planning, execution, materialized result) only.</summary>
    public (double Seconds, string[] Columns, List<string?[]> Rows) Run(string sql)
    {
        var clock = Stopwatch.StartNew();
        var state = NativeMethods.Query.DuckDBQuery(_connection, sql, out var result);
        var seconds = clock.Elapsed.TotalSeconds;
        try
        {
            if (state != DuckDBState.Success)
            {
                throw new QueryFailedException("DuckDB: " + NativeMethods.Query.DuckDBResultError(ref result) + " in: " + Shorten(sql));
            }

            var columnCount = (long)NativeMethods.Query.DuckDBColumnCount(ref result);
            var rowCount = (long)NativeMethods.Query.DuckDBRowCount(ref result);
            var columns = new string[columnCount];
            for (var c = 0; c < columnCount; c++)
            {
                columns[c] = NativeMethods.Query.DuckDBColumnName(ref result, c) ?? "";
            }

            var rows = new List<string?[]>((int)rowCount);
            for (long r = 0; r < rowCount; r++)
            {
                var row = new string?[columnCount];
                for (var c = 0; c < columnCount; c++)
                {
                    var text = NativeMethods.Types.DuckDBValueVarchar(ref result, c, r);
                    row[c] = text == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(text);
                    if (text != IntPtr.Zero)
                    {
                        NativeMethods.Helpers.DuckDBFree(text);
                    }
                }

                rows.Add(row);
            }

            return (seconds, columns, rows);
        }
        finally
        {
            NativeMethods.Query.DuckDBDestroyResult(ref result);
        }
    }

    public void Dispose()
    {
        _connection.Dispose();
        _database.Dispose();
    }

    /// <summary>A long file list cut for messages.</summary>
    public static string Shorten(string sql) => sql.Length <= 600 ? sql : string.Concat(sql.AsSpan(0, 300), " ... ", sql.AsSpan(sql.Length - 200));

    [GeneratedRegex(@"\bFROM\s+cpu\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex FromCpu();
}

/// <summary>
/// arc-native's Parquet files with the time range of their partition: <c>YYYY/MM/DD/HH/</c> is that hour,
/// <c>YYYY/MM/DD/daily/</c> that day; a file anywhere else is always read.
/// </summary>
internal sealed class PartitionIndex
{
    private readonly List<(string Path, DateTime Start, DateTime End)> _files = [];

    public IReadOnlyList<string> All => _files.Select(f => f.Path).ToList();

    public int Count => _files.Count;

    public static PartitionIndex Build(string measurementDirectory)
    {
        var index = new PartitionIndex();
        foreach (var path in Directory.GetFiles(measurementDirectory, "*.parquet", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var parts = Path.GetRelativePath(measurementDirectory, path).Split('/');
            var (start, end) = (DateTime.MinValue, DateTime.MaxValue);
            if (parts.Length == 5 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var year)
                && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var month) && int.TryParse(parts[2], CultureInfo.InvariantCulture, out var day))
            {
                var date = new DateTime(year, month, day, 0, 0, 0, DateTimeKind.Utc);
                if (parts[3] == "daily")
                {
                    (start, end) = (date, date.AddDays(1));
                }
                else if (int.TryParse(parts[3], CultureInfo.InvariantCulture, out var hour))
                {
                    (start, end) = (date.AddHours(hour), date.AddHours(hour + 1));
                }
            }

            index._files.Add((path, start, end));
        }

        return index;
    }

    /// <summary>Files whose partition overlaps [<paramref name="from"/>, <paramref name="to"/>].</summary>
    public List<string> Overlapping(DateTime from, DateTime to) =>
        _files.Where(f => f.Start <= to && f.End > from).Select(f => f.Path).ToList();

    /// <summary>Files per partition kind, e.g. <c>365 daily + 40 hourly</c>.</summary>
    public string Describe()
    {
        var daily = _files.Count(f => f.End - f.Start == TimeSpan.FromDays(1));
        var hourly = _files.Count(f => f.End - f.Start == TimeSpan.FromHours(1));
        var text = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"{daily} daily + {hourly} hourly"));
        if (_files.Count > daily + hourly)
        {
            text.Append(CultureInfo.InvariantCulture, $" + {_files.Count - daily - hourly} elsewhere");
        }

        return text.ToString();
    }
}
