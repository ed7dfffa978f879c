using System.Globalization;
using System.Net;
using System.Text;

namespace Arc.Native.Tests;

/// <summary>One server for the query output tests: metrics.cpu (10 rows, nanosecond times), metrics.mem, other.cpu.</summary>
public sealed class QueryOutputFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await TestServer.StartAsync();
        var lines = new StringBuilder();
        for (var i = 0; i < 10; i++)
        {
            lines.Append(CultureInfo.InvariantCulture,
                $"cpu,host=h{i % 3},region=eu usage={i * 1.5},count={i}i,ok={(i % 2 == 0 ? "t" : "f")},note=\"n, \\\"{i}\\\"\" {1700000000000000000L + (i * 1_000_000_001L)}\n");
        }

        lines.Append("mem,host=h0 used=100i 1700000000000000000\nmem,host=h1 used=200i 1700000000000000000\n");
        Assert.Equal(HttpStatusCode.NoContent, (await Server.WriteAsync("/write?db=metrics", lines.ToString())).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await Server.WriteAsync("/write?db=other", "cpu,host=x usage=99 1700000000000000000\n")).StatusCode);
        await Server.Server.Engine.FlushAsync();
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
