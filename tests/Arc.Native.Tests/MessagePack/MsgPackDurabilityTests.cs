using System.Net;
using System.Text;
using static Arc.Native.Tests.MessagePack.MsgPackWriteTests;

namespace Arc.Native.Tests.MessagePack;

/// <summary>MessagePack writes go through the same commit path as line protocol: WAL, memory budget, recovery.</summary>
public sealed class MsgPackDurabilityTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "arc-mpdur-" + Guid.NewGuid().ToString("N"));

    public MsgPackDurabilityTests() => Directory.CreateDirectory(_root);

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

    [Fact]
    [Trait("Category", "Crash")]
    public async Task AcknowledgedBodiesSurviveSigkill()
    {
        var environment = new Dictionary<string, string> { ["ARC_STORAGE_LOCAL_PATH"] = Path.Combine(_root, "data") };
        await using (var server = await ServerProcess.StartAsync(environment))
        {
            for (var request = 0; request < 5; request++)
            {
                var times = Enumerable.Range(0, 100).Select(i => (object?)(1_700_000_000_000L + (request * 100) + i)).ToArray();
                var values = Enumerable.Range(0, 100).Select(i => (object?)(double)((request * 100) + i)).ToArray();
                var body = Serialize(Map(("m", "k"), ("columns", Map(("time", times), ("v", values)))));
                using var content = new ByteArrayContent(TelegrafArcEncoder.Gzip(body));
                using var message = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write/msgpack") { Content = content };
                message.Headers.Add("x-arc-database", "crash");
                using var response = await server.Client.SendAsync(message);
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }

            server.Kill();
        }

        await using var restarted = await ServerProcess.StartAsync(environment);
        using var query = await restarted.Client.PostAsync("/api/v1/query",
            new StringContent("{\"sql\": \"SELECT count(*), sum(v)::BIGINT FROM crash.k\"}", Encoding.UTF8, "application/json"));
        Assert.Contains("\"data\":[[500,124750]]", await query.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await restarted.StopAsync());
    }

    [Fact]
    public async Task WritesGet503WhenBuffersUseUpTheMemoryBudget()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { MaxBufferMemory = 2L << 20 });
        var times = Enumerable.Range(0, 4000).Select(i => (object?)(1_700_000_000_000L + i)).ToArray();
        var values = Enumerable.Range(0, 4000).Select(i => (object?)(long)i).ToArray();
        var body = Serialize(Map(("m", "mem"), ("columns", Map(("time", times), ("a", values), ("b", values), ("c", values), ("d", values)))));
        var refused = await TestServer.SendUntilRefusedAsync(() => Post(server, body, database: "bp"), attempts: 60);
        refused.Dispose();
        await server.Server.Engine.FlushAsync();
        using var accepted = await Post(server, body, database: "bp");
        Assert.Equal(HttpStatusCode.NoContent, accepted.StatusCode);
    }
}
