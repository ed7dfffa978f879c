using System.Globalization;
using Arc.ClickBench;

// ClickBench harness (scripts/clickbench/run.sh drives it):
//   generate --rows N --out DIR [--body-rows 25000]        the data set only
//   run --rows N --out DIR --binary PATH [--queries DIR] [--results DIR] [--machine NAME] [--tries 3] [--clients 2]
//       [--no-drop-caches] [--sort-keys "hits:cols" | ""]   generate (or reuse), load, compact, query, compare, report
//   (--sort-keys: arc-native's ingest.sort_keys; default ClickHouse's primary key, the order of the public hits files)
var command = args.Length > 0 ? args[0] : "help";
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 1; i < args.Length; i++)
{
    var key = args[i].TrimStart('-');
    options[key] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
}

long Long(string key, long fallback) => options.TryGetValue(key, out var v) ? long.Parse(v.Replace("_", "", StringComparison.Ordinal), CultureInfo.InvariantCulture) : fallback;
string Text(string key, string fallback) => options.GetValueOrDefault(key, fallback);

var rows = Long("rows", 1_000_000);
var output = Path.GetFullPath(Text("out", "artifacts/clickbench"));
switch (command)
{
    case "generate":
        Generate.Run(output, rows, (int)Long("body-rows", 25_000), 100);
        return 0;
    case "run":
        return await Runner.RunAsync(new RunOptions(rows, output, Path.GetFullPath(Text("binary", "artifacts/publish/arc-native")),
            Path.GetFullPath(Text("queries", "scripts/clickbench")), Path.GetFullPath(Text("results", Path.Combine(output, "results"))),
            Text("machine", "local"), (int)Long("tries", 3), (int)Long("clients", 2), (int)Long("body-rows", 25_000),
            !options.ContainsKey("no-drop-caches"), Text("sort-keys", "hits:CounterID,EventDate,UserID,EventTime,WatchID")));
    case "check":
        // The 43 queries once on raw DuckDB over the generated single file: row counts and the first rows (generator tuning).
        using (var duck = RawDuckDb.Open(Path.Combine(Generate.DataDirectory(output, rows), "hits.parquet")))
        {
            var queries = Runner.ReadQueries(Path.Combine(Path.GetFullPath(Text("queries", "scripts/clickbench")), "queries.sql"));
            if (options.TryGetValue("sql", out var extra))
            {
                queries = [extra];
            }

            for (var q = 0; q < queries.Count; q++)
            {
                var (seconds, result) = duck.Run(queries[q]);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Q{q + 1}: {result.Rows.Count} rows, {seconds:F3} s"));
                foreach (var row in result.Rows.Take(int.Parse(Text("show", "3"), CultureInfo.InvariantCulture)))
                {
                    var line = string.Join(" | ", row);
                    Console.WriteLine("    " + (line.Length > 200 ? line[..200] + "..." : line));
                }
            }
        }

        return 0;
    default:
        Console.Error.WriteLine("usage: Arc.ClickBench generate|run --rows N --out DIR [--binary PATH] [--machine NAME] (see scripts/clickbench/run.sh)");
        return 2;
}
