using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

// Line-protocol load against a running server, Telegraf-like `cpu` points (3 tags, 10 float fields).
// Throughput mode: N concurrent clients POST pre-built bodies for a fixed time; prints acknowledged points per second.
//   Arc.LoadTest --url http://127.0.0.1:8000 [--clients 8] [--lines 5000] [--seconds 10] [--db load]
// Dataset mode: writes exactly --dataset points for --hosts hosts spread evenly over --hours hours (ending at
// 2023-11-15T00:00Z), in time order, in requests of --lines points; prints the time taken.
//   Arc.LoadTest --url ... --dataset 1000000 --hosts 1000 --hours 6 --lines 1000 [--clients 4]
var options = args.Chunk(2).ToDictionary(p => p[0].TrimStart('-'), p => p.Length > 1 ? p[1] : "");
if (options.TryGetValue("dataset", out var datasetText))
{
    await WriteDataset(options, long.Parse(datasetText, CultureInfo.InvariantCulture));
    return;
}

var url = options.GetValueOrDefault("url", "http://127.0.0.1:8000");
var clients = int.Parse(options.GetValueOrDefault("clients", "8"), CultureInfo.InvariantCulture);
var lines = int.Parse(options.GetValueOrDefault("lines", "5000"), CultureInfo.InvariantCulture);
var seconds = double.Parse(options.GetValueOrDefault("seconds", "10"), CultureInfo.InvariantCulture);
var database = options.GetValueOrDefault("db", "load");

var bodies = Enumerable.Range(0, 16).Select(b => Body(b, lines)).ToArray();
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2) };
Authorize(http, options);
long points = 0, requests = 0, failures = 0, bytes = 0;
var clock = Stopwatch.StartNew();
var deadline = TimeSpan.FromSeconds(seconds);
await Task.WhenAll(Enumerable.Range(0, clients).Select(async client =>
{
    var i = client;
    while (clock.Elapsed < deadline)
    {
        var body = bodies[i++ % bodies.Length];
        using var content = new ByteArrayContent(body);
        using var response = await http.PostAsync($"/write?db={database}", content);
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            Interlocked.Add(ref points, lines);
            Interlocked.Add(ref bytes, body.Length);
            Interlocked.Increment(ref requests);
        }
        else
        {
            Interlocked.Increment(ref failures);
            await Task.Delay(50);
        }
    }
}));
var elapsed = clock.Elapsed.TotalSeconds;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"points/s={points / elapsed:F0} MB/s={bytes / elapsed / 1e6:F1} requests={requests} failures={failures} seconds={elapsed:F1} clients={clients} lines/request={lines}"));

static async Task WriteDataset(Dictionary<string, string> options, long total)
{
    var url = options.GetValueOrDefault("url", "http://127.0.0.1:8000");
    var hosts = int.Parse(options.GetValueOrDefault("hosts", "1000"), CultureInfo.InvariantCulture);
    var hours = double.Parse(options.GetValueOrDefault("hours", "6"), CultureInfo.InvariantCulture);
    var lines = int.Parse(options.GetValueOrDefault("lines", "1000"), CultureInfo.InvariantCulture);
    var clients = int.Parse(options.GetValueOrDefault("clients", "4"), CultureInfo.InvariantCulture);
    var database = options.GetValueOrDefault("db", "load");
    var end = 1_700_006_400_000_000_000L; // 2023-11-15T00:00:00Z
    var start = end - (long)(hours * 3_600_000_000_000);
    var step = (end - start) / (total / hosts);
    string[] fields = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"];
    using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2) };
    Authorize(http, options);
    var clock = Stopwatch.StartNew();
    long next = 0;
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
    {
        var random = new Random();
        var text = new StringBuilder(lines * 280);
        while (true)
        {
            var first = Interlocked.Add(ref next, lines) - lines;
            if (first >= total)
            {
                return;
            }

            text.Clear();
            for (var i = first; i < Math.Min(first + lines, total); i++)
            {
                var host = i % hosts;
                text.Append(CultureInfo.InvariantCulture, $"cpu,cpu=cpu-total,host=host-{host:D4},region=region-{host % 10} ");
                for (var f = 0; f < fields.Length; f++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{(f > 0 ? "," : "")}{fields[f]}={Math.Round(random.NextDouble() * 100, 2)}");
                }

                text.Append(CultureInfo.InvariantCulture, $" {start + (i / hosts * step) + host}\n");
            }

            using var content = new StringContent(text.ToString());
            using var response = await http.PostAsync($"/write?db={database}", content);
            if (response.StatusCode != HttpStatusCode.NoContent)
            {
                throw new InvalidOperationException($"write failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }
    }));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {total} points in {clock.Elapsed.TotalSeconds:F1} s ({total / clock.Elapsed.TotalSeconds:F0} points/s)"));
}

static void Authorize(HttpClient http, Dictionary<string, string> options)
{
    if (options.TryGetValue("token", out var token))
    {
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
    }
}

static byte[] Body(int seed, int lines)
{
    var random = new Random(seed);
    var text = new StringBuilder(lines * 270);
    var time = 1_700_000_000_000_000_000L + (seed * (long)lines * 1_000_000L);
    for (var i = 0; i < lines; i++)
    {
        text.Append(CultureInfo.InvariantCulture, $"cpu,cpu=cpu{i % 8},host=host-{(seed * 31) + (i % 50)},region=us-west-{i % 3} ");
        string[] fields = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"];
        for (var f = 0; f < fields.Length; f++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{(f > 0 ? "," : "")}{fields[f]}={Math.Round(random.NextDouble() * 100, 2)}");
        }

        text.Append(CultureInfo.InvariantCulture, $" {time + (i * 1_000_000L)}\n");
    }

    return Encoding.UTF8.GetBytes(text.ToString());
}
