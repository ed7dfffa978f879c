using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>One query connection, five waiting places: contention is easy to arrange over HTTP.</summary>
public sealed class QueryPoolOpsFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await TestServer.StartAsync(c => c.Engine = c.Engine with
    {
        QueryConnections = 1,
        DuckDbThreads = 1, // the endless query burns one core, not all
        QueryQueueSize = 5,
        QueryQueueTimeout = TimeSpan.FromSeconds(30),
        QueryTimeout = TimeSpan.FromSeconds(60),
    });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class QueryPoolOpsTests(QueryPoolOpsFixture fixture) : IClassFixture<QueryPoolOpsFixture>
{
    /// <summary>Runs until interrupted (by the client going away, or the time limit).</summary>
    internal const string EndlessSql = "SELECT max(range * 2) FROM range(1000000000000)";

    private readonly TestServer _server = fixture.Server;

    [Fact]
    public async Task QueuedQueriesRunByPriorityThenArrivalAndADisconnectFreesTheConnection()
    {
        var waitsBefore = (await Pool(_server)).GetProperty("waits_total").GetInt64();
        using var blocker = new CancellationTokenSource();
        var blocked = Send(_server.Client, EndlessSql, null, blocker.Token);
        await WaitForPool(_server, p => p.GetProperty("active").GetInt32() == 1);

        // Each query is queued before the next is sent, so arrival order is known; now() is when each one ran.
        string[] arrivals = ["low", "normal", "high", "low", "critical", "high"];
        var queued = new List<(string Priority, Task<HttpResponseMessage> Response)>();
        foreach (var priority in arrivals)
        {
            queued.Add((priority, Send(_server.Client, "SELECT epoch_us(now()) AS started", priority)));
            var depth = queued.Count;
            await WaitForPool(_server, p => p.GetProperty("queue_depth").GetInt32() == depth);
        }

        var pool = await Pool(_server);
        Assert.Equal(2, pool.GetProperty("queue_depth_by_priority").GetProperty("low").GetInt32());
        Assert.Equal(1, pool.GetProperty("queue_depth_by_priority").GetProperty("critical").GetInt32());

        // The client of the running query goes away: DuckDB is interrupted and the connection goes to the queue's head.
        await blocker.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked);
        var started = new List<(string Priority, long Started)>();
        foreach (var (priority, response) in queued)
        {
            using var answer = await response;
            var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement;
            Assert.True(answer.StatusCode == HttpStatusCode.OK, body.ToString());
            started.Add((priority, body.GetProperty("data")[0][0].GetInt64()));
        }

        var order = started.Select((s, i) => (s.Started, Label: $"{s.Priority}#{i}")).OrderBy(s => s.Started).Select(s => s.Label).ToList();
        Assert.Equal(["critical#4", "high#2", "high#5", "normal#1", "low#0", "low#3"], order);
        pool = await WaitForPool(_server, p => p.GetProperty("active").GetInt32() == 0);
        Assert.Equal(waitsBefore + 6, pool.GetProperty("waits_total").GetInt64());
    }

    [Fact]
    public async Task AFullQueueIs503WithRetryAfterAndAWaiterThatLeavesIsDropped()
    {
        using var blocker = new CancellationTokenSource();
        var blocked = Send(_server.Client, EndlessSql, null, blocker.Token);
        await WaitForPool(_server, p => p.GetProperty("active").GetInt32() == 1);
        using var leaving = new CancellationTokenSource();
        var waiting = new List<Task<HttpResponseMessage>> { Send(_server.Client, "SELECT 1", "low", leaving.Token) };
        for (var i = 1; i < 5; i++)
        {
            waiting.Add(Send(_server.Client, "SELECT 1", "normal"));
        }

        await WaitForPool(_server, p => p.GetProperty("queue_depth").GetInt32() == 5);
        using (var full = await Send(_server.Client, "SELECT 1", "high"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, full.StatusCode);
            Assert.Equal("1", full.Headers.GetValues("Retry-After").Single());
            Assert.Contains("query.queue_size", await full.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A waiting client that disconnects leaves its place at once (and it is not counted as served).
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting[0]);
        var pool = await WaitForPool(_server, p => p.GetProperty("queue_depth").GetInt32() == 4);
        Assert.True(pool.GetProperty("cancelled_total").GetInt64() >= 1);
        Assert.True(pool.GetProperty("rejected_queue_full_total").GetInt64() >= 1);

        await blocker.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked);
        foreach (var response in waiting.Skip(1))
        {
            using var answer = await response;
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }
    }

    [Fact]
    public async Task PriorityIsValidatedAndCriticalIsForAdminsOnly()
    {
        using (var bad = await Send(_server.Client, "SELECT 1", "urgent"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("low, normal, high or critical", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var created = await _server.Client.PostAsync("/api/v1/auth/tokens",
            new StringContent("{\"name\":\"reader\",\"permissions\":[\"read\"]}", Encoding.UTF8, "application/json"));
        var token = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString();
        using var reader = _server.NewClient(token);
        using (var critical = await Send(reader, "SELECT 1", "critical"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, critical.StatusCode);
        }

        using (var high = await Send(reader, "SELECT 1", "high"))
        {
            Assert.Equal(HttpStatusCode.OK, high.StatusCode);
        }

        // The body's "priority" works too (the header wins when both are present).
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/query")
        {
            Content = new StringContent("{\"sql\":\"SELECT 1\",\"priority\":\"critical\"}", Encoding.UTF8, "application/json"),
        };
        using (var body = await reader.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.Forbidden, body.StatusCode);
        }

        var before = (await Pool(_server)).GetProperty("acquired_by_priority").GetProperty("critical").GetInt64();
        using (var admin = await Send(_server.Client, "SELECT 1", "CRITICAL"))
        {
            Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        }

        Assert.Equal(before + 1, (await Pool(_server)).GetProperty("acquired_by_priority").GetProperty("critical").GetInt64());
        using (var measurement = await _server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/v1/query/cpu")
        {
            Headers = { { "x-arc-query-priority", "nope" } },
        }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, measurement.StatusCode);
        }
    }

    [Fact]
    public async Task AQueryPastTheTimeLimitIsInterrupted()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { QueryTimeout = TimeSpan.FromSeconds(1), QueryConnections = 1, DuckDbThreads = 1 });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var response = await Send(server.Client, EndlessSql, null);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("query.timeout", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
        Assert.Equal([["1"]], await server.RowsAsync("SELECT 1")); // the connection came back
    }

    internal static Task<HttpResponseMessage> Send(HttpClient client, string sql, string? priority, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/query")
        {
            Content = new StringContent(TestServer.SqlBody(sql), Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        if (priority is not null)
        {
            request.Headers.Add("x-arc-query-priority", priority);
        }

        return client.SendAsync(request, cancellationToken);
    }

    internal static async Task<JsonElement> Pool(TestServer server)
    {
        using var response = await server.Client.GetAsync("/metrics/query-pool");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    internal static async Task<JsonElement> WaitForPool(TestServer server, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var pool = await Pool(server);
            if (condition(pool))
            {
                return pool;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the pool never reached the expected state: {pool}");
            await Task.Delay(10);
        }
    }
}
