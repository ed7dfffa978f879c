using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests.Crash;

/// <summary>
/// What the tests that kill the server (SIGKILL) and start it again share: a data directory of their own (removed at the
/// end), the server process restarted on one port with the test's settings, and counts read back with SQL. The writers
/// that record what was acknowledged and the checks after the restarts are <see cref="AcknowledgedPoints"/> and
/// <see cref="AcknowledgedRows"/>.
/// </summary>
public sealed class CrashHarness : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "arc-crash-" + Guid.NewGuid().ToString("N"));
    private int _port;

    /// <param name="settings">The server's environment (ARC_*), beside the data directory the harness sets.</param>
    public CrashHarness(IReadOnlyDictionary<string, string> settings)
    {
        Environment = new Dictionary<string, string>(settings) { ["ARC_STORAGE_LOCAL_PATH"] = DataPath };
    }

    public string DataPath => Path.Combine(_root, "data");

    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>Starts the server process, on the port its first start got.</summary>
    public async Task<ServerProcess> StartAsync()
    {
        var server = await ServerProcess.StartAsync(Environment, _port);
        _port = server.Port;
        return server;
    }

    /// <summary>Kills the server (SIGKILL) and tells whether <paramref name="request"/>, sent before, was answered 200 first.</summary>
    public static async Task<bool> KillAndCheckAnsweredAsync(ServerProcess server, Task<HttpResponseMessage> request)
    {
        server.Kill();
        try
        {
            using var response = await request;
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or System.Net.Sockets.SocketException)
        {
            // Killed before the answer. A kill while the connection is being made can surface as the socket's own error
            // (HttpClient reads the remote end point of a socket the server's death already reset).
            return false;
        }
    }

    /// <summary>The first cell of the first row of <paramref name="sql"/> (a count); 0 when a table it reads does not exist.</summary>
    public static async Task<long> ScalarAsync(HttpClient client, string sql)
    {
        using var result = await client.PostAsync("/api/v1/query", new StringContent(TestServer.SqlBody(sql), Encoding.UTF8, "application/json"));
        var text = await result.Content.ReadAsStringAsync();
        if (result.StatusCode != HttpStatusCode.OK && text.Contains("does not exist", StringComparison.Ordinal))
        {
            return 0;
        }

        Assert.True(result.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("data")[0][0].GetInt64();
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort cleanup.
        }
    }
}

/// <summary>
/// Concurrent writers, each sending requests of numbered points (<c>m,writer=wN seq=Si T</c>) until it is stopped or the
/// server is killed, recording every point attempted and every point a 204 acknowledged; after the last restart every
/// acknowledged point must be stored exactly once and nothing stored that was never sent.
/// </summary>
/// <param name="time">The point's timestamp (nanoseconds) from its writer and number.</param>
public sealed class AcknowledgedPoints(string database, string measurement, int writers, int pointsPerRequest, Func<int, long, long> time)
{
    private readonly ConcurrentDictionary<(int Writer, long Seq), bool> _acknowledged = new();
    private readonly ConcurrentDictionary<(int Writer, long Seq), bool> _attempted = new();
    private readonly long[] _nextSeq = new long[writers];

    public int PointsPerRequest => pointsPerRequest;

    /// <summary>Starts the writers against <paramref name="server"/>; they end when <paramref name="stop"/> is cancelled.</summary>
    public Task[] Start(ServerProcess server, CancellationToken stop) => Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            var first = _nextSeq[w];
            _nextSeq[w] += pointsPerRequest;
            var body = new StringBuilder();
            for (var seq = first; seq < first + pointsPerRequest; seq++)
            {
                _attempted[(w, seq)] = true;
                body.Append(CultureInfo.InvariantCulture, $"{measurement},writer=w{w} seq={seq}i {time(w, seq)}\n");
            }

            try
            {
                using var response = await server.Client.PostAsync($"/write?db={database}", new StringContent(body.ToString()));
                if (response.StatusCode == HttpStatusCode.NoContent)
                {
                    for (var seq = first; seq < first + pointsPerRequest; seq++)
                    {
                        _acknowledged[(w, seq)] = true;
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or System.Net.Sockets.SocketException)
            {
                // Killed mid-request: not acknowledged. A kill right after the connect can surface as a bare
                // SocketException ("Transport endpoint is not connected") rather than an HttpRequestException.
            }
        }
    })).ToArray();

    /// <summary>
    /// Every acknowledged point stored, no point stored twice (a request the kill cut off is stored whole or not at all),
    /// none stored that was never sent, and more acknowledged than <paramref name="atLeast"/>, so the check means something.
    /// </summary>
    public async Task AssertStoredExactlyOnceAsync(HttpClient client, int atLeast)
    {
        using var response = await client.PostAsync("/api/v1/query", new StringContent(
            TestServer.SqlBody($"SELECT writer, seq, count(*) AS n FROM {database}.{measurement} GROUP BY ALL"), Encoding.UTF8, "application/json"));
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToString());
        var stored = new Dictionary<(int, long), long>();
        foreach (var row in json.GetProperty("data").EnumerateArray())
        {
            stored[(int.Parse(row[0].GetString()![1..], CultureInfo.InvariantCulture), row[1].GetInt64())] = row[2].GetInt64();
        }

        Assert.True(_acknowledged.Count > atLeast, $"too few acknowledged points to mean anything: {_acknowledged.Count}");
        var lost = _acknowledged.Keys.Where(k => !stored.ContainsKey(k)).ToList();
        var doubled = stored.Where(s => s.Value > 1).Select(s => s.Key).ToList();
        var invented = stored.Keys.Where(k => !_attempted.ContainsKey(k)).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged points lost, e.g. {string.Join(", ", lost.Take(5))}");
        Assert.True(doubled.Count == 0, $"{doubled.Count} points stored twice, e.g. {string.Join(", ", doubled.Take(5))}");
        Assert.Empty(invented);
    }
}

/// <summary>
/// Rows written beside what a crash test kills the server in: requests of ten rows, one after another, until the kill;
/// after each restart the store holds every acknowledged row once, plus at most the one request the kill cut off before
/// its answer (stored or not), which then counts as stored.
/// </summary>
/// <param name="lines">The request's ten lines from the number of its first row (the rows stored so far).</param>
/// <param name="count">SQL counting the rows (<c>{0}</c>: <c>*</c> or <c>DISTINCT seq</c>).</param>
public sealed class AcknowledgedRows(string database, Func<long, string> lines, string count)
{
    public const int PerRequest = 10;
    private long _rows;

    /// <summary>Up to <paramref name="requests"/> requests, stopping at the first one not acknowledged.</summary>
    public Task WriteAsync(HttpClient client, int requests) => Task.Run(async () =>
    {
        for (var i = 0; i < requests; i++)
        {
            try
            {
                using var response = await client.PostAsync($"/write?db={database}", new StringContent(lines(Interlocked.Read(ref _rows))));
                if (response.StatusCode != HttpStatusCode.NoContent)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                return; // killed: this write was not acknowledged
            }

            Interlocked.Add(ref _rows, PerRequest);
        }
    });

    /// <summary>Each acknowledged row once, at most one cut-off request more; those stored count from now on.</summary>
    public async Task AssertStoredOnceAsync(HttpClient client)
    {
        var rows = await CrashHarness.ScalarAsync(client, string.Format(CultureInfo.InvariantCulture, count, "*"));
        Assert.InRange(rows, _rows, _rows + PerRequest);
        Assert.Equal(rows, await CrashHarness.ScalarAsync(client, string.Format(CultureInfo.InvariantCulture, count, "DISTINCT seq")));
        _rows = rows;
    }
}
