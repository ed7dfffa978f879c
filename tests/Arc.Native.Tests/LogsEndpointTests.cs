using System.Net;
using System.Text.Json;
using Arc.Engine.Auth;

namespace Arc.Native.Tests;

/// <summary>
/// Arc's <c>GET /api/v1/logs</c>: the server's recent log entries, newest first, filtered by level, for admins only (Arc's
/// advisory GHSA-m3qr was this route open to anyone), and never with a token in them.
/// </summary>
public sealed class LogsEndpointTests
{
    [Fact]
    public async Task AnAdminReadsTheRecentEntriesFilteredByLevel()
    {
        await using var server = await TestServer.StartAsync(c => c.LogLevel = "info");

        var all = await Logs(server, "?limit=1000");
        Assert.Equal(all.GetProperty("logs").GetArrayLength(), all.GetProperty("count").GetInt32());
        Assert.Equal((1000, 60, ""), (all.GetProperty("limit").GetInt32(), all.GetProperty("since_minutes").GetInt32(),
            all.GetProperty("level_filter").GetString()));
        var bootstrap = Assert.Single(all.GetProperty("logs").EnumerateArray(),
            e => e.GetProperty("message").GetString() == "Installed the bootstrap admin token from the configuration");
        Assert.Equal("info", bootstrap.GetProperty("level").GetString());
        Assert.NotEmpty(bootstrap.GetProperty("category").GetString()!); // the host's logger: the application's name
        bootstrap.GetProperty("timestamp").GetDateTime();
        Assert.DoesNotContain(TestServer.AdminToken, all.GetRawText(), StringComparison.Ordinal);

        var warnings = await Logs(server, "?level=warn");
        Assert.All(warnings.GetProperty("logs").EnumerateArray(), e => Assert.Contains(e.GetProperty("level").GetString(), new[] { "warn", "error" }));
        Assert.Equal(1, (await Logs(server, "?limit=1")).GetProperty("count").GetInt32());

        using var bad = await server.Client.GetAsync("/api/v1/logs?level=loud");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task OnlyAnAdminMayReadThem()
    {
        await using var server = await TestServer.StartAsync();
        var (_, secret) = server.Server.Engine.Tokens!.Create("reader", null, Permission.Read | Permission.Write | Permission.Delete, null, null);
        using var reader = server.NewClient(secret);
        using var anonymous = server.NewClient(null);

        Assert.Equal(HttpStatusCode.Forbidden, (await reader.GetAsync("/api/v1/logs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/logs")).StatusCode);
    }

    private static async Task<JsonElement> Logs(TestServer server, string query)
    {
        using var response = await server.Client.GetAsync("/api/v1/logs" + query);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
