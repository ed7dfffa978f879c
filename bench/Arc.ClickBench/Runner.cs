using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Arc.ClickBench;

internal sealed record RunOptions(long Rows, string Output, string Binary, string QueryDirectory, string ResultDirectory, string Machine,
    int Tries, int Clients, int BodyRows, bool DropCaches, string SortKeys);

/// <summary>Per system: load time, data size and the per-query tries.</summary>
internal sealed class SystemRun(string name)
{
    public string Name { get; } = name;

    public double LoadTime { get; set; }

    public long DataSize { get; set; }

    public List<double[]> Times { get; } = [];

    public List<QueryResult> Results { get; } = [];

    public double ColdSum => Times.Sum(t => t[0]);

    public double HotSum => Times.Sum(Hot);

    public static double Hot(double[] t) => t.Length > 1 ? t.Skip(1).Min() : t[0];
}

/// <summary>
/// <c>run</c>: generate (or reuse) the data, load it into arc-native through MessagePack, compact, then run the 43 queries on
/// arc-native (over HTTP), raw DuckDB on the single file and raw DuckDB on the partitioned files, query by query in that
/// order (so the three see the same machine load), compare result checksums, and write the result files.
/// </summary>
internal static class Runner
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The result files are read by people: <c>&gt;</c>, <c>+</c> and quotes as themselves, not <c>\u003E</c>.</summary>
    private static readonly HarnessJson Readable = new(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    public static async Task<int> RunAsync(RunOptions options)
    {
        Console.WriteLine($"clickbench: {options.Rows:N0} rows, DuckDB {RawDuckDb.Version}, arc-native {options.Binary}");
        var manifest = Generate.Run(options.Output, options.Rows, options.BodyRows, 100);
        var data = Generate.DataDirectory(options.Output, options.Rows);
        var arcQueries = ReadQueries(Path.Combine(options.QueryDirectory, "queries-arc.sql"));
        var rawQueries = ReadQueries(Path.Combine(options.QueryDirectory, "queries.sql"));
        if (arcQueries.Count != 43 || rawQueries.Count != 43)
        {
            throw new InvalidOperationException("expected 43 queries in each file");
        }

        var cold = ColdCache.Probe(options.DropCaches);
        Console.WriteLine("clickbench: cold runs: " + cold.Description);

        var arc = new SystemRun("arc-native");
        var single = new SystemRun("DuckDB (Parquet, single)") { LoadTime = 0, DataSize = manifest.SingleFileBytes };
        var partitioned = new SystemRun("DuckDB (Parquet, partitioned)") { LoadTime = 0, DataSize = manifest.PartitionedBytes };
        var work = Path.Combine(options.Output, $"arc-{options.Rows}");
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true);
        }

        // No scheduled compaction during the queries, and no result cache: ClickBench requires every try to run the query
        // (arc-native's cache would answer the two hot tries from memory).
        var settings = new Dictionary<string, string> { ["ARC_COMPACTION_ENABLED"] = "false", ["ARC_CACHE_ENABLED"] = "false" };
        if (options.SortKeys.Length > 0)
        {
            // Without sort keys a table without tags is compacted in time order, which scatters each counter's rows.
            settings["ARC_INGEST_SORT_KEYS"] = options.SortKeys;
        }

        Console.WriteLine("clickbench: arc-native sort keys: " + (options.SortKeys.Length > 0 ? options.SortKeys : "none (time order)"));
        using var server = new ArcServer(options.Binary, work, settings);
        var load = await Loader.LoadAsync(server, Path.Combine(data, "msgpack"), manifest, options.Clients);
        arc.LoadTime = load.Total;
        arc.DataSize = ParquetBytes(Path.Combine(server.DataPath, ArcServer.Database), out var files);
        Console.WriteLine(string.Create(Inv,
            $"arc-native: load {load.Total:F1} s (ingest {load.Ingest:F1} s = {manifest.Rows / load.Ingest:N0} rows/s, {manifest.MsgPackBytes / load.Ingest / 1e6:F1} MB/s; flush {load.Flush:F1} s; restart {load.Restart:F1} s; compaction {load.Compaction:F1} s; sync {load.Sync:F1} s); data {arc.DataSize:N0} B in {files} Parquet files"));

        // The raw views are created per query (ClickBench's "load" for duckdb-parquet is creating the view).
        var raw = Stopwatch.StartNew();
        using (RawDuckDb.Open(Path.Combine(data, "hits.parquet")))
        {
        }

        single.LoadTime = partitioned.LoadTime = Math.Round(raw.Elapsed.TotalSeconds, 3);

        for (var q = 0; q < 43; q++)
        {
            // arc-native: restart (the first time: after the load), drop the page cache, then the tries.
            server.Stop();
            cold.Drop();
            await server.StartAsync();
            var arcTimes = new double[options.Tries];
            QueryResult? arcResult = null;
            for (var t = 0; t < options.Tries; t++)
            {
                (arcTimes[t], arcResult) = await server.QueryAsync(arcQueries[q]);
            }

            arc.Times.Add(arcTimes);
            arc.Results.Add(arcResult!);
            server.Stop(); // nothing of it (the hot tier's fill after the start) runs beside raw DuckDB's tries

            foreach (var (run, path) in new[] { (single, Path.Combine(data, "hits.parquet")), (partitioned, Path.Combine(data, "partitioned", "hits_*.parquet")) })
            {
                cold.Drop();
                using var duck = RawDuckDb.Open(path);
                var times = new double[options.Tries];
                QueryResult? result = null;
                for (var t = 0; t < options.Tries; t++)
                {
                    (times[t], result) = duck.Run(rawQueries[q]);
                }

                run.Times.Add(times);
                run.Results.Add(result!);
            }

            Console.WriteLine(string.Create(Inv,
                $"query {q + 1}/43: arc-native [{Join(arcTimes)}], DuckDB single [{Join(single.Times[q])}], partitioned [{Join(partitioned.Times[q])}]; {single.Results[q].Rows.Count} rows"));
        }

        server.Stop();

        // Checksums: arc-native and partitioned DuckDB against single-file DuckDB.
        var checks = new List<(QuerySpec Spec, string Reference, string Arc, string Partitioned, bool Tied, string Note)>();
        var failures = new List<string>();
        for (var q = 0; q < 43; q++)
        {
            var spec = QuerySpec.For(q + 1, rawQueries[q]);
            var reference = single.Results[q].Columns;
            var expected = ResultCheck.Checksum(spec, single.Results[q], reference);
            var actual = ResultCheck.Checksum(spec, arc.Results[q], reference);
            var other = ResultCheck.Checksum(spec, partitioned.Results[q], reference);
            var note = spec.Note;
            if (q + 1 == 25 && (expected.Checksum != actual.Checksum || expected.Checksum != other.Checksum) && TiesAtCut25(data))
            {
                spec = spec with { RowCountOnly = true };
                expected = ResultCheck.Checksum(spec, single.Results[q], reference);
                actual = ResultCheck.Checksum(spec, arc.Results[q], reference);
                other = ResultCheck.Checksum(spec, partitioned.Results[q], reference);
                note = "EventTime ties across the LIMIT in this data set: only the row count is compared";
            }

            foreach (var (name, check) in new[] { ("arc-native", actual), ("DuckDB partitioned", other) })
            {
                if (check.Checksum != expected.Checksum)
                {
                    failures.Add($"Q{q + 1}: {name} {check.Checksum} != DuckDB single {expected.Checksum}\n--- DuckDB single:\n{expected.Canonical}--- {name}:\n{check.Canonical}");
                }
            }

            checks.Add((spec, expected.Checksum, actual.Checksum, other.Checksum, expected.TiedAtCut, note));
        }

        var stamp = DateTime.UtcNow.ToString("yyyyMMdd", Inv);
        var prefix = Path.Combine(options.ResultDirectory, $"{stamp}_{options.Machine}_{options.Rows}");
        Directory.CreateDirectory(options.ResultDirectory);
        var tags = new[] { "C#", "column-oriented", "time-series", "embedded DuckDB" };
        var comment = $"{manifest.Rows:N0} generated rows (bench/Arc.ClickBench, generator v{Generate.Version}); {cold.Description}";
        File.WriteAllText(prefix + "_arc-native.json", ResultJson(arc, options, stamp, tags, comment + string.Create(Inv,
            $"; load = MessagePack ingest {load.Ingest:F1} s + flush {load.Flush:F1} s + restart {load.Restart:F1} s + compaction {load.Compaction:F1} s + sync {load.Sync:F1} s")));
        File.WriteAllText(prefix + "_duckdb-parquet.json", ResultJson(single, options, stamp, ["C++", "column-oriented", "embedded", "parquet"], comment));
        File.WriteAllText(prefix + "_duckdb-parquet-partitioned.json",
            ResultJson(partitioned, options, stamp, ["C++", "column-oriented", "embedded", "parquet"], comment));
        var summary = Summary(options, manifest, load, arc, single, partitioned, checks, failures, cold, files);
        File.WriteAllText(prefix + "_summary.md", summary);
        Console.WriteLine(summary);
        Console.WriteLine($"clickbench: results in {prefix}_*.json and {prefix}_summary.md");
        if (failures.Count > 0)
        {
            File.WriteAllText(prefix + "_mismatches.txt", string.Join("\n\n", failures));
            Console.Error.WriteLine($"clickbench: {failures.Count} result checksum mismatch(es); see {prefix}_mismatches.txt");
            return 1;
        }

        return 0;
    }

    private static bool TiesAtCut25(string data)
    {
        using var duck = RawDuckDb.Open(Path.Combine(data, "hits.parquet"));
        var (_, probe) = duck.Run("SELECT EventTime FROM hits WHERE SearchPhrase <> '' ORDER BY EventTime LIMIT 2 OFFSET 9");
        return probe.Rows.Count == 2 && probe.Rows[0][0] == probe.Rows[1][0];
    }

    public static List<string> ReadQueries(string path) =>
        File.ReadAllLines(path).Where(l => !string.IsNullOrWhiteSpace(l)).Select(l => l.Trim()).ToList();

    private static long ParquetBytes(string directory, out int files)
    {
        var list = Directory.Exists(directory) ? Directory.GetFiles(directory, "*.parquet", SearchOption.AllDirectories) : [];
        files = list.Length;
        return list.Sum(f => new FileInfo(f).Length);
    }

    private static string Join(double[] times) => string.Join(", ", times.Select(t => t.ToString("F3", Inv)));

    /// <summary>ClickBench's result file shape: one <c>[cold, hot, hot]</c> array per query, seconds.</summary>
    private static string ResultJson(SystemRun run, RunOptions options, string stamp, string[] tags, string comment)
    {
        var text = new StringBuilder();
        text.Append("{\n");
        text.Append(CultureInfo.InvariantCulture, $"    \"system\": {JsonSerializer.Serialize(run.Name, Readable.String)},\n");
        text.Append(CultureInfo.InvariantCulture, $"    \"date\": \"{stamp[..4]}-{stamp[4..6]}-{stamp[6..]}\",\n");
        text.Append(CultureInfo.InvariantCulture, $"    \"machine\": {JsonSerializer.Serialize(options.Machine, Readable.String)},\n");
        text.Append("    \"cluster_size\": 1,\n    \"proprietary\": \"no\",\n    \"tuned\": \"no\",\n");
        text.Append(CultureInfo.InvariantCulture, $"    \"tags\": [{string.Join(", ", tags.Select(t => JsonSerializer.Serialize(t, Readable.String)))}],\n");
        text.Append(CultureInfo.InvariantCulture, $"    \"rows\": {options.Rows},\n");
        text.Append(CultureInfo.InvariantCulture, $"    \"comment\": {JsonSerializer.Serialize(comment, Readable.String)},\n");
        text.Append(CultureInfo.InvariantCulture, $"    \"load_time\": {run.LoadTime.ToString("0.###", Inv)},\n");
        text.Append(CultureInfo.InvariantCulture, $"    \"data_size\": {run.DataSize},\n");
        text.Append("    \"result\": [\n");
        for (var q = 0; q < run.Times.Count; q++)
        {
            text.Append("        [").Append(string.Join(", ", run.Times[q].Select(t => t.ToString("0.000", Inv)))).Append(']')
                .Append(q < run.Times.Count - 1 ? ",\n" : "\n");
        }

        text.Append("    ]\n}\n");
        return text.ToString();
    }

    /// <summary>ClickBench's per-query ratio, (0.01 + t) / (0.01 + baseline), and its geometric mean.</summary>
    private static double GeoMeanRatio(SystemRun run, SystemRun baseline, Func<double[], double> pick) =>
        Math.Exp(Enumerable.Range(0, run.Times.Count).Average(q => Math.Log((0.01 + pick(run.Times[q])) / (0.01 + pick(baseline.Times[q])))));

    private static string Summary(RunOptions options, Manifest manifest, LoadResult load, SystemRun arc, SystemRun single, SystemRun partitioned,
        List<(QuerySpec Spec, string Reference, string Arc, string Partitioned, bool Tied, string Note)> checks, List<string> failures, ColdCache cold,
        int files)
    {
        var s = new StringBuilder();
        s.Append(Inv, $"## ClickBench, {manifest.Rows:N0} generated rows ({options.Machine}, {DateTime.UtcNow:yyyy-MM-dd}, DuckDB {RawDuckDb.Version})\n\n");
        s.Append(Inv, $"Cold runs: {cold.Description}. Tries per query: {options.Tries} (first cold, the others hot; hot = min of them).\n\n");
        s.Append("| | arc-native | DuckDB (Parquet, single) | DuckDB (Parquet, partitioned) |\n|---|---|---|---|\n");
        s.Append(Inv, $"| load time (s) | {arc.LoadTime:F1} | {single.LoadTime:F3} (view only) | {partitioned.LoadTime:F3} (view only) |\n");
        s.Append(Inv, $"| data size (B) | {arc.DataSize:N0} ({files} files) | {single.DataSize:N0} | {partitioned.DataSize:N0} ({manifest.Partitions} files) |\n");
        s.Append(Inv, $"| cold sum (s) | {arc.ColdSum:F2} | {single.ColdSum:F2} | {partitioned.ColdSum:F2} |\n");
        s.Append(Inv, $"| hot sum (s) | {arc.HotSum:F2} | {single.HotSum:F2} | {partitioned.HotSum:F2} |\n");
        foreach (var (baseline, label) in new[] { (single, "single"), (partitioned, "partitioned") })
        {
            var coldScore = GeoMeanRatio(arc, baseline, t => t[0]);
            var hotScore = GeoMeanRatio(arc, baseline, SystemRun.Hot);
            var size = (double)arc.DataSize / Math.Min(arc.DataSize, baseline.DataSize);
            var sizeBase = (double)baseline.DataSize / Math.Min(arc.DataSize, baseline.DataSize);
            // ClickBench's combined score; a load under 5 s counts as 1, so with raw DuckDB's view-only load both load factors are 1.
            var combined = Math.Exp((0.1 * Math.Log(size / sizeBase)) + (0.2 * Math.Log(coldScore)) + (0.6 * Math.Log(hotScore)));
            s.Append(Inv, $"| arc-native / DuckDB {label} | cold sum x{arc.ColdSum / baseline.ColdSum:F2}, hot sum x{arc.HotSum / baseline.HotSum:F2}; geomean(0.01+t) cold x{coldScore:F2}, hot x{hotScore:F2}; size x{(double)arc.DataSize / baseline.DataSize:F2}; combined x{combined:F2} | | |\n");
        }

        s.Append(Inv, $"\narc-native load: {manifest.Bodies} MessagePack bodies of {manifest.BodyRows:N0} rows ({manifest.MsgPackBytes:N0} B) over {options.Clients} connections: ingest {load.Ingest:F1} s ({manifest.Rows / load.Ingest:N0} rows/s, {manifest.MsgPackBytes / load.Ingest / 1e6:F1} MB/s), flush {load.Flush:F1} s, restart {load.Restart:F1} s, compaction {load.Compaction:F1} s ({load.CompactionJobs} jobs), sync {load.Sync:F1} s.\n\n");
        s.Append("| Q | rows | arc-native cold / hot (s) | DuckDB single cold / hot (s) | DuckDB partitioned cold / hot (s) | hot ratio arc/single | checksum |\n|---|---|---|---|---|---|---|\n");
        for (var q = 0; q < arc.Times.Count; q++)
        {
            var check = checks[q];
            var ok = check.Arc == check.Reference && check.Partitioned == check.Reference ? "ok" : "MISMATCH";
            var ratio = (0.01 + SystemRun.Hot(arc.Times[q])) / (0.01 + SystemRun.Hot(single.Times[q]));
            s.Append(Inv, $"| {q + 1} | {single.Results[q].Rows.Count} | {arc.Times[q][0]:F3} / {SystemRun.Hot(arc.Times[q]):F3} | {single.Times[q][0]:F3} / {SystemRun.Hot(single.Times[q]):F3} | {partitioned.Times[q][0]:F3} / {SystemRun.Hot(partitioned.Times[q]):F3} | {ratio:F2} | {ok} {check.Reference}{(check.Tied ? " (ties at the cut: key only)" : "")}{(check.Note.Length > 0 ? "; " + check.Note : "")} |\n");
        }

        s.Append(Inv, $"\nChecksums: {43 - failures.Count(f => f.Contains("arc-native", StringComparison.Ordinal))}/43 arc-native and {43 - failures.Count(f => f.Contains("partitioned", StringComparison.Ordinal))}/43 partitioned results match DuckDB single.\n");
        return s.ToString();
    }
}

/// <summary>Dropping the OS page cache (<c>sync; echo 3 &gt; /proc/sys/vm/drop_caches</c>) where the machine allows it.</summary>
internal sealed class ColdCache
{
    private readonly bool _enabled;

    private ColdCache(bool enabled, string description)
    {
        _enabled = enabled;
        Description = description;
    }

    public string Description { get; }

    public static ColdCache Probe(bool wanted)
    {
        if (!wanted)
        {
            return new ColdCache(false, "page cache NOT dropped (--no-drop-caches); arc-native restarted before each query");
        }

        try
        {
            Sync();
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
            return new ColdCache(true, "server restarted and OS page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before each query's first try; raw DuckDB: fresh instance and page cache dropped");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ColdCache(false, $"page cache could NOT be dropped here ({e.Message}): cold = server restarted / fresh DuckDB instance only (lukewarm)");
        }
    }

    public void Drop()
    {
        Sync();
        if (_enabled)
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
        }
    }

    public static void Sync()
    {
        using var sync = Process.Start(new ProcessStartInfo("sync") { UseShellExecute = false });
        sync?.WaitForExit();
    }
}
