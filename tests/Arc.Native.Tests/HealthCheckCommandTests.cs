using System.Collections;
using System.Net;
using System.Net.Sockets;
using Arc.Native.Commands;
using Arc.Native.Configuration;

namespace Arc.Native.Tests;

public sealed class HealthCheckCommandTests
{
    [Fact]
    public async Task AHealthyServerFoundThroughArcServerPortExitsZero()
    {
        await using var server = await TestServer.StartAsync();
        var port = new Uri(server.Server.Addresses.First()).Port;

        var (code, output, error) = await RunAsync([], new Hashtable { ["ARC_SERVER_PORT"] = port.ToString() });

        Assert.True(code == HealthCheckCommand.Healthy, error);
        Assert.Equal($"healthy: http://127.0.0.1:{port}/health answered 200", output.Trim());
    }

    [Fact]
    public async Task AnExplicitUrlIsUsed()
    {
        await using var server = await TestServer.StartAsync();

        var (code, output, _) = await RunAsync(["--url", server.Server.Addresses.First() + "/ready"], new Hashtable());

        Assert.Equal(HealthCheckCommand.Healthy, code);
        Assert.Contains("/ready answered 200", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NothingListeningExitsOne()
    {
        var (code, output, error) = await RunAsync(["--timeout", "2"], new Hashtable { ["ARC_SERVER_PORT"] = FreePort().ToString() });

        Assert.Equal(HealthCheckCommand.Unhealthy, code);
        Assert.Empty(output);
        Assert.StartsWith("unhealthy: http://127.0.0.1:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AServerThatAnswersAnErrorIsUnhealthy()
    {
        await using var server = await TestServer.StartAsync();

        var (code, _, error) = await RunAsync(["--url", server.Server.Addresses.First() + "/no-such-endpoint"], new Hashtable());

        Assert.Equal(HealthCheckCommand.Unhealthy, code);
        Assert.Contains("answered 404", error, StringComparison.Ordinal);

        // The probe sends no token: /health and /ready are public, a route that needs one answers 401.
        (code, _, error) = await RunAsync(["--url", server.Server.Addresses.First() + "/ping"], new Hashtable());
        Assert.Equal(HealthCheckCommand.Unhealthy, code);
        Assert.Contains("answered 401", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadArgumentsAndConfigurationAreUnhealthyNotAnotherExitCode()
    {
        Assert.Equal(HealthCheckCommand.Unhealthy, (await RunAsync(["--bogus"], new Hashtable())).Code);
        Assert.Equal(HealthCheckCommand.Unhealthy, (await RunAsync(["--url", "ftp://x/"], new Hashtable())).Code);
        Assert.Equal(HealthCheckCommand.Unhealthy, (await RunAsync(["--timeout", "-1"], new Hashtable())).Code);
        var (code, _, error) = await RunAsync([], new Hashtable { ["ARC_SERVER_PORT"] = "not-a-port" });
        Assert.Equal(HealthCheckCommand.Unhealthy, code);
        Assert.Contains("ARC_SERVER_PORT", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", 8000, "http://127.0.0.1:8000/health")]
    [InlineData("0.0.0.0", 8123, "http://127.0.0.1:8123/health")]
    [InlineData("localhost", 8000, "http://127.0.0.1:8000/health")]
    [InlineData("10.1.2.3", 9000, "http://10.1.2.3:9000/health")]
    [InlineData("::", 8000, "http://[::1]:8000/health")]
    [InlineData("::1", 8000, "http://[::1]:8000/health")]
    public void TheDefaultUrlFollowsTheListener(string host, int port, string expected)
    {
        Assert.Equal(expected, HealthCheckCommand.DefaultUrl(new ArcConfig { Host = host, Port = port }));
    }

    [Fact]
    public void PortZeroNeedsAnExplicitUrl()
    {
        Assert.Throws<ConfigException>(() => HealthCheckCommand.DefaultUrl(new ArcConfig { Port = 0 }));
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(string[] args, IDictionary environment)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await HealthCheckCommand.RunAsync(args, configPath: null, environment, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
