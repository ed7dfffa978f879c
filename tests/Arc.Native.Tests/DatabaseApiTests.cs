using System.Net;
using static Arc.Native.Tests.TestServer;

namespace Arc.Native.Tests;

/// <summary>
/// The databases API with Arc's request and response shapes: list, create, get, measurements, drop (confirm, admin,
/// <c>delete.enabled</c>), scoped tokens, and drops racing writes and queries.
/// </summary>
public sealed class DatabaseApiTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(c => c.DeleteEnabled = true);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ListCreateGetMeasurementsAndDropAnswerInArcsShapes()
    {
        var client = _server.Client;
        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/write?db=telegraf", new StringContent("cpu,host=a v=1 1\nmem,host=a v=2 1\n"))).StatusCode);

        using var created = await client.PostAsync("/api/v1/databases", Json("{\"name\":\"metrics\"}"));
        var info = await BodyAsync(created, HttpStatusCode.Created);
        Assert.Equal("metrics", info.GetProperty("name").GetString());
        Assert.Equal(0, info.GetProperty("measurement_count").GetInt32());
        Assert.True(DateTime.TryParse(info.GetProperty("created_at").GetString(), out _));
        await BodyAsync(await client.PostAsync("/api/v1/databases", Json("{\"name\":\"METRICS\"}")), HttpStatusCode.Conflict);
        Assert.Contains("database name", (await BodyAsync(await client.PostAsync("/api/v1/databases", Json("{\"name\":\"1/..\"}")),
            HttpStatusCode.BadRequest)).GetProperty("error").GetString(), StringComparison.Ordinal);
        await BodyAsync(await client.PostAsync("/api/v1/databases", Json("{}")), HttpStatusCode.BadRequest);
        await BodyAsync(await client.PostAsync("/api/v1/databases", Json("not json")), HttpStatusCode.BadRequest);

        var list = await BodyAsync(await client.GetAsync("/api/v1/databases"), HttpStatusCode.OK);
        Assert.Equal(2, list.GetProperty("count").GetInt32());
        Assert.Equal(["metrics", "telegraf"], list.GetProperty("databases").EnumerateArray().Select(d => d.GetProperty("name").GetString()));
        Assert.Equal(2, list.GetProperty("databases")[1].GetProperty("measurement_count").GetInt32());

        var one = await BodyAsync(await client.GetAsync("/api/v1/databases/telegraf"), HttpStatusCode.OK);
        Assert.Equal(2, one.GetProperty("measurement_count").GetInt32());
        await BodyAsync(await client.GetAsync("/api/v1/databases/nope"), HttpStatusCode.NotFound);
        var measurements = await BodyAsync(await client.GetAsync("/api/v1/databases/telegraf/measurements"), HttpStatusCode.OK);
        Assert.Equal("telegraf", measurements.GetProperty("database").GetString());
        Assert.Equal(["cpu", "mem"], measurements.GetProperty("measurements").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
        Assert.Equal(2, measurements.GetProperty("count").GetInt32());

        Assert.Contains("confirm=true", (await BodyAsync(await client.DeleteAsync("/api/v1/databases/telegraf"), HttpStatusCode.BadRequest))
            .GetProperty("error").GetString(), StringComparison.Ordinal);
        var droppedMeasurement = await BodyAsync(await client.DeleteAsync("/api/v1/databases/telegraf/measurements/mem?confirm=true"), HttpStatusCode.OK);
        Assert.Equal(["mem"], droppedMeasurement.GetProperty("measurements").EnumerateArray().Select(m => m.GetString()));
        var dropped = await BodyAsync(await client.DeleteAsync("/api/v1/databases/telegraf?confirm=true"), HttpStatusCode.OK);
        Assert.Equal("Database 'telegraf' deleted successfully", dropped.GetProperty("message").GetString());
        Assert.True(dropped.TryGetProperty("files_deleted", out _));
        await BodyAsync(await client.DeleteAsync("/api/v1/databases/telegraf?confirm=true"), HttpStatusCode.NotFound);
        await BodyAsync(await client.GetAsync("/api/v1/databases/telegraf"), HttpStatusCode.NotFound);

        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/write?db=telegraf", new StringContent("cpu,host=b v=9 2\n"))).StatusCode);
        using var query = await client.PostAsync("/api/v1/query", Json("{\"sql\":\"SELECT count(*) FROM telegraf.cpu\"}"));
        Assert.Equal(1, (await BodyAsync(query, HttpStatusCode.OK)).GetProperty("data")[0][0].GetInt64());
    }

    [Fact]
    public async Task ScopedAndNonAdminTokensSeeOnlyTheirDatabasesAndCannotCreateOrDrop()
    {
        foreach (var db in new[] { "alpha", "beta" })
        {
            Assert.Equal(HttpStatusCode.NoContent, (await _server.Client.PostAsync($"/write?db={db}", new StringContent("cpu v=1 1\n"))).StatusCode);
        }

        using var scoped = _server.NewClient(await _server.CreateTokenAsync("alpha-admin", ["read", "write", "delete", "admin"], ["alpha"]));
        var list = await BodyAsync(await scoped.GetAsync("/api/v1/databases"), HttpStatusCode.OK);
        Assert.Equal(["alpha"], list.GetProperty("databases").EnumerateArray().Select(d => d.GetProperty("name").GetString()));
        await BodyAsync(await scoped.GetAsync("/api/v1/databases/beta"), HttpStatusCode.Forbidden);
        await BodyAsync(await scoped.GetAsync("/api/v1/databases/beta/measurements"), HttpStatusCode.Forbidden);
        await BodyAsync(await scoped.DeleteAsync("/api/v1/databases/beta?confirm=true"), HttpStatusCode.Forbidden);
        await BodyAsync(await scoped.DeleteAsync("/api/v1/databases/beta/measurements/cpu?confirm=true"), HttpStatusCode.Forbidden);
        await BodyAsync(await scoped.PostAsync("/api/v1/databases", Json("{\"name\":\"gamma\"}")), HttpStatusCode.Forbidden);

        using var reader = _server.NewClient(await _server.CreateTokenAsync("reader", ["read", "delete"]));
        Assert.Equal(2, (await BodyAsync(await reader.GetAsync("/api/v1/databases"), HttpStatusCode.OK)).GetProperty("count").GetInt32());
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.DeleteAsync("/api/v1/databases/beta?confirm=true")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.PostAsync("/api/v1/databases", Json("{\"name\":\"gamma\"}"))).StatusCode);

        await BodyAsync(await scoped.DeleteAsync("/api/v1/databases/alpha?confirm=true"), HttpStatusCode.OK);
        Assert.Equal(1, (await BodyAsync(await _server.Client.GetAsync("/api/v1/databases/beta"), HttpStatusCode.OK)).GetProperty("measurement_count").GetInt32());
    }

    [Fact]
    public async Task DroppingIsRefusedUnlessDeletesAreEnabledAsInArc()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent, (await server.Client.PostAsync("/write?db=d", new StringContent("cpu v=1 1\n"))).StatusCode);
        using var response = await server.Client.DeleteAsync("/api/v1/databases/d?confirm=true");
        Assert.Contains("delete.enabled=true", (await BodyAsync(response, HttpStatusCode.Forbidden)).GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DropsRacingWritesAndQueriesLeaveEitherNothingOrOnlyRowsWrittenAfter()
    {
        var client = _server.Client;
        using var stop = new CancellationTokenSource();
        var refused = 0;
        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                using var response = await client.PostAsync("/write?db=race", new StringContent($"m,w=w{w} seq={i}i {i + 1}\n"));
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Interlocked.Increment(ref refused);
                }
                else
                {
                    Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
                }
            }
        })).ToList();
        var queries = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.PostAsync("/api/v1/query", Json("{\"sql\":\"SELECT count(*) FROM race.m\"}"));
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK || text.Contains("does not exist", StringComparison.Ordinal), text);
            }
        });

        for (var drop = 0; drop < 10; drop++)
        {
            await Task.Delay(30);
            using var response = await client.DeleteAsync("/api/v1/databases/race?confirm=true");
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound, await response.Content.ReadAsStringAsync());
        }

        await stop.CancelAsync();
        await Task.WhenAll(writers.Append(queries));
        using (var last = await client.DeleteAsync("/api/v1/databases/race?confirm=true"))
        {
            // Not found when no write landed after the tenth drop.
            Assert.True(last.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound, await last.Content.ReadAsStringAsync());
        }

        await BodyAsync(await client.GetAsync("/api/v1/databases/race"), HttpStatusCode.NotFound);

        // The same after a restart: nothing written before the last drop comes back from the log.
        await using var restarted = await _server.RestartAsync(c => c.DeleteEnabled = true);
        await BodyAsync(await restarted.Client.GetAsync("/api/v1/databases/race"), HttpStatusCode.NotFound);
    }
}
