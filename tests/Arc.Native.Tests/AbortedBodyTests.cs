using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Arc.Native.Tests;

/// <summary>
/// Request bodies that never arrive whole, over raw sockets: a client that goes away mid-body, a body whose framing is
/// broken while the connection stays, a body that trickles in slower than Kestrel's minimum data rate. Each is the
/// client's doing: no 500, nothing logged at warning level or above (it was a 500 with a stack trace at error level),
/// an answer when the connection is still there (400, 408), and a count in <c>arc_http_requests_aborted_total</c>.
/// </summary>
[LongRunning(12)]
public sealed class AbortedBodyTests
{
    public static TheoryData<string> Paths => ["/api/v1/write/line-protocol", "/write?db=aborted", "/api/v1/write/msgpack", "/api/v1/query"];

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task AClientThatClosesMidBodyIsCountedAndNotLoggedAsAnError(string path)
    {
        var logs = new CapturingLoggerProvider();
        await using var server = await TestServer.StartAsync(logging: b => b.AddProvider(logs));
        using (var client = await ConnectAsync(server))
        {
            var stream = client.GetStream();
            await stream.WriteAsync(Headers(path, "Content-Length: 1000000"));
            await stream.WriteAsync(Body(path, 100));
            await stream.FlushAsync();
        }

        // Closed after 100 of 1,000,000 bytes: Kestrel sees the body end early, or the connection gone.
        await WaitForAsync(async () => await AbortedAsync(server, "incomplete") + await AbortedAsync(server, "client_closed") == 1);
        Assert.Equal(0, await AbortedAsync(server, "too_slow"));
        AssertQuiet(logs);

        // The server is fine: the next request on a new connection works.
        using var next = await server.WriteAsync("/write?db=aborted", "m v=1\n");
        Assert.Equal(System.Net.HttpStatusCode.NoContent, next.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task ABodyWithBrokenFramingIsAnswered400WhileTheConnectionStays(string path)
    {
        var logs = new CapturingLoggerProvider();
        await using var server = await TestServer.StartAsync(logging: b => b.AddProvider(logs));
        using var client = await ConnectAsync(server);
        var stream = client.GetStream();
        await stream.WriteAsync(Headers(path, "Transfer-Encoding: chunked"));
        await stream.WriteAsync("zz\r\n"u8.ToArray()); // not a chunk size
        var response = await ReadResponseAsync(stream);
        Assert.StartsWith("HTTP/1.1 400 ", response, StringComparison.Ordinal);
        Assert.Contains("\"error\":\"the request body is incomplete: Bad chunk size data.\"", response, StringComparison.Ordinal);
        Assert.Equal(1, await AbortedAsync(server, "incomplete"));
        AssertQuiet(logs);
    }

    /// <summary>
    /// Kestrel's default minimum body data rate (240 bytes/s after a 5 s grace period) is what this test waits for: the
    /// server takes no Kestrel options beyond its own configuration, and adding a setting only to make this test a few
    /// seconds faster was not worth a knob. It takes about 6 s.
    /// </summary>
    [Fact]
    public async Task ABodySlowerThanTheMinimumDataRateIsAnswered408()
    {
        var logs = new CapturingLoggerProvider();
        await using var server = await TestServer.StartAsync(logging: b => b.AddProvider(logs));
        using var client = await ConnectAsync(server);
        var stream = client.GetStream();
        await stream.WriteAsync(Headers("/api/v1/write/line-protocol", "Content-Length: 1000000"));
        await stream.WriteAsync(Body("/api/v1/write/line-protocol", 100));
        var response = await ReadResponseAsync(stream); // nothing more is sent
        Assert.StartsWith("HTTP/1.1 408 ", response, StringComparison.Ordinal);
        Assert.Contains("\"error\":\"the request body arrived too slowly: ", response, StringComparison.Ordinal);
        Assert.Equal(1, await AbortedAsync(server, "too_slow"));
        AssertQuiet(logs);
    }

    /// <summary>Nothing at warning level or above, from the server or from Kestrel.</summary>
    private static void AssertQuiet(CapturingLoggerProvider logs)
    {
        var loud = string.Join('\n', logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => $"{e.Level} {e.Category}: {e.Text}"));
        Assert.True(loud.Length == 0, loud);
    }

    private static async Task<TcpClient> ConnectAsync(TestServer server)
    {
        var address = new Uri(server.Server.Addresses.First());
        var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        return client;
    }

    private static byte[] Headers(string path, string framing) => Encoding.ASCII.GetBytes(
        $"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TestServer.AdminToken}\r\nx-arc-database: aborted\r\n" +
        $"Content-Type: application/json\r\n{framing}\r\n\r\n");

    /// <summary>The first <paramref name="length"/> bytes of a plausible body for <paramref name="path"/>.</summary>
    private static byte[] Body(string path, int length)
    {
        var start = path switch
        {
            "/api/v1/query" => "{\"sql\": \"SELECT 1 -- ",
            "/api/v1/write/msgpack" => "\x81\xa1m\xa3cpu",
            _ => "m,host=a v=1 1700000000000000000\n",
        };
        return Encoding.Latin1.GetBytes(start.PadRight(length, 'x'));
    }

    /// <summary>Reads a response until its last chunk (error responses are chunked) or until the server closes the connection.</summary>
    private static async Task<string> ReadResponseAsync(NetworkStream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    private static async Task<double> AbortedAsync(TestServer server, string reason)
    {
        var families = PrometheusOpsParser.Parse(await server.Client.GetStringAsync("/metrics"));
        return Assert.Single(families["arc_http_requests_aborted_total"].Samples, s => s.Labels["reason"] == reason).Value;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail("the condition did not hold within 5 s");
    }
}
