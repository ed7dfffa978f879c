using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

// Line-protocol load against a running server: N concurrent clients POST pre-built Telegraf-like `cpu` bodies
// (3 tags, 10 float fields) for a fixed time; prints acknowledged points per second.
// Usage: Arc.LoadTest --url http://127.0.0.1:8000 [--clients 8] [--lines 5000] [--seconds 10] [--db load]
var options = args.Chunk(2).ToDictionary(p => p[0].TrimStart('-'), p => p.Length > 1 ? p[1] : "");
var url = options.GetValueOrDefault("url", "http://127.0.0.1:8000");
var clients = int.Parse(options.GetValueOrDefault("clients", "8"), CultureInfo.InvariantCulture);
var lines = int.Parse(options.GetValueOrDefault("lines", "5000"), CultureInfo.InvariantCulture);
var seconds = double.Parse(options.GetValueOrDefault("seconds", "10"), CultureInfo.InvariantCulture);
var database = options.GetValueOrDefault("db", "load");

var bodies = Enumerable.Range(0, 16).Select(b => Body(b, lines)).ToArray();
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2) };
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
