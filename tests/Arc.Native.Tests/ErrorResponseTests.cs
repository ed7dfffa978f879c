using System.Net;
using System.Text;
using System.Text.Json;
using Arc.Engine.Errors;
using Arc.Native.Http;

namespace Arc.Native.Tests;

/// <summary>
/// An engine error gets the same status and JSON body on every query route: the host maps the engine's
/// <see cref="ErrorReason"/> in one table (<see cref="ErrorResponses"/>).
/// </summary>
public sealed class ErrorResponseTests : IAsyncLifetime
{
    private static readonly string[] Routes = ["/api/v1/query", "/api/v1/query/arrow", "/api/v1/query/msgpack", "/api/v1/query/stream", "/api/v1/query/estimate"];
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(c => c.Engine = c.Engine with { MaxSqlLength = 2048 });
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=alpha", "m v=1 1700000000000000000\n")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=beta", "m v=2 1700000000000000000\n")).StatusCode);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public void EveryReasonHasAnErrorStatus()
    {
        foreach (var reason in Enum.GetValues<ErrorReason>())
        {
            var (status, retryAfter) = ErrorResponses.Of(reason);
            Assert.InRange(status, 400, 599);
            Assert.Equal(status == 503, retryAfter > 0);
        }
    }

    [Theory]
    [InlineData("SELECT nope FROM m", "alpha", 400, "nope")]                              // DuckDB's binder
    [InlineData("DELETE FROM m", "alpha", 400, "DELETE")]                                // not a SELECT
    [InlineData("SELECT * FROM beta.m", "alpha", 403, "beta")]                           // outside the token's scope
    [InlineData("SELECT 1 AS x /* pad */", "alpha", 413, "query.max_sql_length")]        // padded past the limit below
    public async Task TheSameEngineErrorHasTheSameAnswerOnEveryQueryRoute(string sql, string database, int status, string mentions)
    {
        if (status == 413)
        {
            sql = sql.Replace("pad", new string('x', 4096), StringComparison.Ordinal);
        }

        using var scoped = _server.NewClient(await ScopedTokenAsync());
        foreach (var route in Routes)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, route)
            {
                Content = new StringContent(TestServer.SqlBody(sql), Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("x-arc-database", database);
            using var response = await scoped.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode == status, $"{route}: {(int)response.StatusCode} {body}");
            using var json = JsonDocument.Parse(body);
            Assert.False(json.RootElement.GetProperty("success").GetBoolean());
            Assert.Contains(mentions, json.RootElement.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
        }
    }

    /// <summary>A read token limited to <c>alpha</c>.</summary>
    private async Task<string> ScopedTokenAsync()
    {
        using var content = new StringContent($"{{\"name\":\"scoped-{Guid.NewGuid():N}\",\"permissions\":[\"read\"],\"databases\":[\"alpha\"]}}",
            Encoding.UTF8, "application/json");
        using var response = await _server.Client.PostAsync("/api/v1/auth/tokens", content);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("token").GetString()!;
    }
}
