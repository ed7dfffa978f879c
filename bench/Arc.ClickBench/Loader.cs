using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Arc.ClickBench;

internal sealed record LoadResult(double Ingest, double Flush, double Restart, double Compaction, double Sync, int CompactionJobs)
{
    public double Total => Ingest + Flush + Restart + Compaction + Sync;
}

/// <summary>
/// Loads the MessagePack bodies into arc-native (<c>POST /api/v1/write/msgpack</c>, N keep-alive connections, bodies in data
/// order), waits until every buffer is flushed, restarts the server (a clean stop ends the write-ahead log, whose files
/// compaction otherwise leaves alone for up to <c>wal.max_age_seconds</c>), compacts (hourly, then daily, through the API),
/// and syncs, like ClickBench's timed load window.
/// </summary>
internal static class Loader
{
    public static async Task<LoadResult> LoadAsync(ArcServer server, string bodies, Manifest manifest, int clients)
    {
        await server.StartAsync();
        var files = Directory.GetFiles(bodies, "body_*.msgpack").Order(StringComparer.Ordinal).ToArray();
        var clock = Stopwatch.StartNew();
        var next = -1;
        long sent = 0;
        var done = 0;
        using var progress = new Timer(_ => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"load: {Volatile.Read(ref done)}/{files.Length} bodies, {Interlocked.Read(ref sent) / 1e6:N0} MB, {clock.Elapsed.TotalSeconds:F0} s")),
            null, 5000, 5000);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < files.Length)
            {
                var body = await File.ReadAllBytesAsync(files[i]);
                for (var attempt = 0; ; attempt++)
                {
                    using var content = new ByteArrayContent(body);
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write/msgpack") { Content = content };
                    request.Headers.Add("x-arc-database", ArcServer.Database);
                    using var response = await server.Http.SendAsync(request);
                    if (response.IsSuccessStatusCode)
                    {
                        break;
                    }

                    // 503: the memory budget is used up while flushes catch up (Retry-After: 1); anything else is a failure.
                    if (response.StatusCode != HttpStatusCode.ServiceUnavailable || attempt > 600)
                    {
                        throw new InvalidOperationException($"write failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    }

                    await Task.Delay(1000);
                }

                Interlocked.Add(ref sent, body.Length);
                Interlocked.Increment(ref done);
            }
        }));
        var ingest = clock.Elapsed.TotalSeconds;
        await progress.DisposeAsync();

        clock.Restart();
        while (true)
        {
            using var ready = await server.GetJsonAsync("/ready");
            if (ready.RootElement.GetProperty("buffered_rows").GetInt64() == 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        var flush = clock.Elapsed.TotalSeconds;
        clock.Restart();
        server.Stop();
        await server.StartAsync();
        var restart = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var jobs = 0;
        foreach (var tier in new[] { "hourly", "daily", "daily" })
        {
            using var result = await server.PostJsonAsync($"/api/v1/compaction/trigger?tier={tier}&database={ArcServer.Database}&wait=true");
            foreach (var job in result.RootElement.GetProperty("jobs").EnumerateArray())
            {
                jobs++;
                if (!job.GetProperty("succeeded").GetBoolean())
                {
                    throw new InvalidOperationException("compaction job failed: " + job.GetRawText());
                }
            }
        }

        using (var left = await server.GetJsonAsync($"/api/v1/compaction/candidates?database={ArcServer.Database}"))
        {
            if (left.RootElement.GetProperty("count").GetInt32() > 0)
            {
                Console.WriteLine("load: compaction candidates left: " + left.RootElement.GetRawText());
            }
        }

        var compaction = clock.Elapsed.TotalSeconds;
        clock.Restart();
        ColdCache.Sync();
        var sync = clock.Elapsed.TotalSeconds;

        var rows = long.Parse((await server.QueryAsync("SELECT COUNT(*) FROM hits")).Result.Rows[0][0] ?? "0", CultureInfo.InvariantCulture);
        if (rows != manifest.Rows)
        {
            throw new InvalidOperationException($"arc-native holds {rows} rows after the load, expected {manifest.Rows}");
        }

        return new LoadResult(ingest, flush, restart, compaction, sync, jobs);
    }
}
