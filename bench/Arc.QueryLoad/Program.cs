using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

// Query output load figure: the same 1M-row results through /api/v1/query (JSON), /api/v1/query/arrow and
// /api/v1/query/msgpack of a running server (scripts/query-load.sh starts the AOT binary), reporting rows/s of the whole
// response (request to last byte, body read and discarded; no client-side decoding) and the ratio to JSON.
// Usage: Arc.QueryLoad --url http://127.0.0.1:8000 [--rows 1000000] [--runs 5]
var options = args.Select((a, i) => (a, i)).Where(p => p.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(p => p.a[2..], p => p.i + 1 < args.Length ? args[p.i + 1] : "");
var url = options.GetValueOrDefault("url", "http://127.0.0.1:8000");
var rows = long.Parse(options.GetValueOrDefault("rows", "1000000"), CultureInfo.InvariantCulture);
var runs = int.Parse(options.GetValueOrDefault("runs", "5"), CultureInfo.InvariantCulture);
using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(10) };
if (options.TryGetValue("token", out var token))
{
    client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
}


await WriteMeasurementAsync(client, rows);

var queries = new (string Name, string Sql)[]
{
    ("range(1M): id BIGINT, value DOUBLE, host VARCHAR, time TIMESTAMP_NS",
        $"SELECT range AS id, range * 0.5 AS value, 'host-' || (range % 100) AS host, make_timestamp_ns(1700000000000000000 + range * 1000) AS time FROM range({rows})"),
    ("load.sensor (1M rows via line protocol): time, host, region, value, count, ok", "SELECT * FROM load.sensor"),
};
var endpoints = new[] { ("JSON", "/api/v1/query"), ("Arrow", "/api/v1/query/arrow"), ("msgpack", "/api/v1/query/msgpack") };
var buffer = new byte[1 << 20];
Console.WriteLine($"server {url}, {runs} runs per cell after one warm-up, median shown");
foreach (var (name, sql) in queries)
{
    Console.WriteLine();
    Console.WriteLine(name);
    Console.WriteLine($"| Output | rows/s | MB/s | response MB | ratio vs JSON |");
    Console.WriteLine($"|---|---|---|---|---|");
    double? json = null;
    foreach (var (label, path) in endpoints)
    {
        var times = new List<double>();
        long bytes = 0;
        for (var run = 0; run <= runs; run++)
        {
            var watch = Stopwatch.StartNew();
            bytes = await RunAsync(client, path, sql, buffer);
            if (run > 0)
            {
                times.Add(watch.Elapsed.TotalSeconds);
            }
        }

        times.Sort();
        var median = times[times.Count / 2];
        var rate = rows / median;
        json ??= rate;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {label} | {rate:N0} | {bytes / median / 1e6:N0} | {bytes / 1e6:N1} | {rate / json.Value:0.00}x |"));
    }
}

static async Task<long> RunAsync(HttpClient client, string path, string sql, byte[] buffer)
{
    using var request = new HttpRequestMessage(HttpMethod.Post, path)
    {
        Content = new StringContent(JsonSerializer.Serialize(new Dictionary<string, string> { ["sql"] = sql }), Encoding.UTF8,
            new MediaTypeHeaderValue("application/json")),
    };
    using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    await using var stream = await response.Content.ReadAsStreamAsync();
    long total = 0;
    int read;
    while ((read = await stream.ReadAsync(buffer)) > 0)
    {
        total += read;
    }

    return total;
}

// 1M rows of a 3-tag... measurement through line protocol, then waits until they are queryable.
static async Task WriteMeasurementAsync(HttpClient client, long rows)
{
    var existing = await CountAsync(client);
    if (existing == rows)
    {
        return;
    }

    var watch = Stopwatch.StartNew();
    const int batch = 50_000;
    var lines = new StringBuilder();
    for (long start = 0; start < rows; start += batch)
    {
        lines.Clear();
        for (var i = start; i < Math.Min(rows, start + batch); i++)
        {
            lines.Append(CultureInfo.InvariantCulture,
                $"sensor,host=host-{i % 100},region=r{i % 7} value={i * 0.25},count={i}i,ok={(i % 2 == 0 ? 't' : 'f')} {1700000000000000000 + (i * 1000)}\n");
        }

        using var content = new StringContent(lines.ToString(), Encoding.UTF8);
        using var response = await client.PostAsync("/api/v1/write/line-protocol?db=load", content);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"write failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    while (await CountAsync(client) < rows)
    {
        if (watch.Elapsed > TimeSpan.FromMinutes(5))
        {
            throw new TimeoutException("the written rows did not become queryable");
        }

        await Task.Delay(200);
    }

    Console.WriteLine($"wrote {rows:N0} rows to load.sensor through line protocol in {watch.Elapsed.TotalSeconds:0.0} s (until queryable)");
}

static async Task<long> CountAsync(HttpClient client)
{
    using var content = new StringContent("{\"sql\":\"SELECT count(*) FROM load.sensor\"}", Encoding.UTF8, "application/json");
    using var response = await client.PostAsync("/api/v1/query", content);
    if (!response.IsSuccessStatusCode)
    {
        return 0;
    }

    using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    return document.RootElement.GetProperty("data")[0][0].GetInt64();
}
