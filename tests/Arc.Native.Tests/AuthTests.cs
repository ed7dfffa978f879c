using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Arc.Engine.Auth;
using Arc.Native.Auth;
using Arc.Native.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Native.Tests;

public sealed class AuthTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow); // the engine's clock: token expiry goes by it
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(c =>
        {
            c.AuthCacheTtl = TimeSpan.Zero;
            c.Engine = c.Engine with { Time = _clock };
        });
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=alpha", "cpu,host=a v=1 1700000000000000000\n")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=beta", "cpu,host=b v=2 1700000000000000000\n")).StatusCode);
        await _server.Server.Engine.FlushAsync();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task EveryRouteButThePublicOnesNeedsATokenWithItsPermission()
    {
        var tokens = new Dictionary<Permission, string>
        {
            [Permission.Read] = await CreateToken("r", ["write", "delete"]),       // lacks read
            [Permission.Write] = await CreateToken("w", ["read", "delete"]),       // lacks write
            [Permission.Delete] = await CreateToken("d", ["read", "write"]),        // lacks delete
            [Permission.Admin] = await CreateToken("a", ["read", "write", "delete"]), // lacks admin
        };
        var checkedRoutes = 0;
        foreach (var endpoint in _server.Server.Endpoints.OfType<RouteEndpoint>())
        {
            var path = "/" + string.Join('/', endpoint.RoutePattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part =>
                part is Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal ? literal.Content : "x"))));
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            var isPublic = endpoint.Metadata.GetMetadata<PublicEndpoint>() is not null;
            var required = endpoint.Metadata.GetMetadata<RequiresPermission>()?.Permission ?? Permission.Admin;
            foreach (var method in methods)
            {
                using var anonymous = _server.NewClient(null);
                using var response = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
                if (isPublic)
                {
                    Assert.NotEqual(HttpStatusCode.Forbidden, response.StatusCode);
                    continue;
                }

                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} without a token: {(int)response.StatusCode}");
                using var lacking = _server.NewClient(tokens[required]);
                using var forbidden = await lacking.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
                Assert.True(forbidden.StatusCode == HttpStatusCode.Forbidden, $"{method} {path} without '{required}': {(int)forbidden.StatusCode}");
                checkedRoutes++;
            }
        }

        Assert.True(checkedRoutes >= 15, $"only {checkedRoutes} protected routes found");
    }

    [Fact]
    public async Task TokensAreAcceptedInEveryFormClientsUse()
    {
        var token = await CreateToken("clients", ["read", "write"]);
        using var anonymous = _server.NewClient(null);
        // python-influxdb: ?u=&p= and Basic; InfluxDB 2.x clients: Authorization: Token; x-api-key.
        Assert.Equal(HttpStatusCode.NoContent, (await anonymous.PostAsync($"/write?db=alpha&u=me&p={token}", new StringContent("m v=1\n"))).StatusCode);
        var basic = new HttpRequestMessage(HttpMethod.Post, "/write?db=alpha") { Content = new StringContent("m v=2\n") };
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"me:{token}")));
        Assert.Equal(HttpStatusCode.NoContent, (await anonymous.SendAsync(basic)).StatusCode);
        var v2 = new HttpRequestMessage(HttpMethod.Post, "/api/v2/write?org=o&bucket=alpha") { Content = new StringContent("m v=3\n") };
        v2.Headers.Authorization = new AuthenticationHeaderValue("Token", token);
        Assert.Equal(HttpStatusCode.NoContent, (await anonymous.SendAsync(v2)).StatusCode);
        var apiKey = new HttpRequestMessage(HttpMethod.Post, "/write?db=alpha") { Content = new StringContent("m v=4\n") };
        apiKey.Headers.Add("x-api-key", token);
        Assert.Equal(HttpStatusCode.NoContent, (await anonymous.SendAsync(apiKey)).StatusCode);
        var bare = new HttpRequestMessage(HttpMethod.Post, "/write?db=alpha") { Content = new StringContent("m v=6\n") };
        Assert.True(bare.Headers.TryAddWithoutValidation("Authorization", token)); // Arc's clients may send the token alone
        Assert.Equal(HttpStatusCode.NoContent, (await anonymous.SendAsync(bare)).StatusCode);
        var wrong = new HttpRequestMessage(HttpMethod.Post, "/write?db=alpha") { Content = new StringContent("m v=7\n") };
        Assert.True(wrong.Headers.TryAddWithoutValidation("Authorization", "arc_wrong"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(wrong)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/write?db=alpha&u=me&p=arc_wrong", new StringContent("m v=5\n"))).StatusCode);

        using var verify = await anonymous.GetAsync($"/api/v1/auth/verify?p={token}");
        var body = JsonDocument.Parse(await verify.Content.ReadAsStringAsync()).RootElement;
        Assert.True(body.GetProperty("valid").GetBoolean());
        Assert.Equal(["read", "write"], body.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/auth/verify")).StatusCode);
    }

    [Fact]
    public async Task RotateRevokeAndExpiry()
    {
        var (id, token) = await CreateTokenWithId("life", ["read"], null);
        using var client = _server.NewClient(token);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/v1/query", Sql("SELECT 1"))).StatusCode);

        using var rotated = await _server.Client.PostAsync($"/api/v1/auth/tokens/{id}/rotate", null);
        var fresh = JsonDocument.Parse(await rotated.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsync("/api/v1/query", Sql("SELECT 1"))).StatusCode);
        using var renewed = _server.NewClient(fresh);
        Assert.Equal(HttpStatusCode.OK, (await renewed.PostAsync("/api/v1/query", Sql("SELECT 1"))).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await _server.Client.DeleteAsync($"/api/v1/auth/tokens/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await renewed.PostAsync("/api/v1/query", Sql("SELECT 1"))).StatusCode);

        var (_, shortLived) = await CreateTokenWithId("short", ["read"], 1);
        using var expiring = _server.NewClient(shortLived);
        Assert.Equal(HttpStatusCode.OK, (await expiring.PostAsync("/api/v1/query", Sql("SELECT 1"))).StatusCode);
        _clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(HttpStatusCode.OK, (await expiring.PostAsync("/api/v1/query", Sql("SELECT 1"))).StatusCode);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(HttpStatusCode.Unauthorized, (await expiring.PostAsync("/api/v1/query", Sql("SELECT 1"))).StatusCode);

        var list = JsonDocument.Parse(await (await _server.Client.GetAsync("/api/v1/auth/tokens")).Content.ReadAsStringAsync()).RootElement;
        Assert.DoesNotContain("arc_", list.ToString(), StringComparison.Ordinal); // secrets are never listed
        Assert.Contains(list.EnumerateArray(), t => t.GetProperty("id").GetString() == id && !t.GetProperty("active").GetBoolean());
    }

    [Fact]
    public async Task TokenCreationIsValidatedAndRateLimited()
    {
        using var bad = await _server.Client.PostAsync("/api/v1/auth/tokens",
            new StringContent("{\"name\":\"x\",\"permissions\":[\"fly\"]}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 12; i++)
        {
            using var response = await _server.Client.PostAsync("/api/v1/auth/tokens",
                new StringContent($"{{\"name\":\"t{i}\",\"permissions\":[\"read\"]}}", Encoding.UTF8, "application/json"));
            statuses.Add(response.StatusCode);
        }

        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        Assert.True(statuses.Count(s => s == HttpStatusCode.Created) <= 10);
    }

    [Theory]
    [InlineData("9223372036854775807")]
    [InlineData("3153600001")]
    [InlineData("0")]
    [InlineData("-9223372036854775808")]
    public async Task AnExpiryOutOfRangeIsRefusedNamingTheField(string seconds)
    {
        using var response = await _server.Client.PostAsync("/api/v1/auth/tokens",
            new StringContent($"{{\"name\":\"x\",\"permissions\":[\"read\"],\"expires_in_seconds\":{seconds}}}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("expires_in_seconds must be from 1 to 3153600000 (100 years); leave it out for a token that does not expire",
            JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("9223372036854775808")] // beyond a 64-bit integer
    [InlineData("1e300")]
    [InlineData("1.5")]
    public async Task AnExpiryThatIsNoIntegerIsABadRequest(string seconds)
    {
        using var response = await _server.Client.PostAsync("/api/v1/auth/tokens",
            new StringContent($"{{\"name\":\"x\",\"permissions\":[\"read\"],\"expires_in_seconds\":{seconds}}}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task TheLongestExpiryIsAccepted()
    {
        var (id, _) = await CreateTokenWithId("century", ["read"], AuthEndpoints.MaxExpiresInSeconds);

        var token = JsonDocument.Parse(await (await _server.Client.GetAsync($"/api/v1/auth/tokens/{id}")).Content.ReadAsStringAsync()).RootElement;
        var expires = token.GetProperty("expires_at").GetDateTime();
        var expected = DateTime.UtcNow.AddSeconds(AuthEndpoints.MaxExpiresInSeconds);
        Assert.InRange(expires, expected.AddMinutes(-1), expected);
        Assert.True(token.GetProperty("active").GetBoolean());
    }

    [Fact]
    public async Task AScopedTokenCannotReachAnotherDatabaseByAnySqlRoute()
    {
        var token = await CreateToken("alpha-only", ["read", "write"], ["alpha"]);
        using var client = _server.NewClient(token);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/write?db=alpha", new StringContent("cpu,host=a v=3\n"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync("/write?db=beta", new StringContent("cpu,host=a v=3\n"))).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await Query(client, "SELECT count(*) FROM cpu", "alpha")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Query(client, "WITH t AS (SELECT * FROM alpha.cpu) SELECT count(*) FROM t", "alpha")).Status);
        var dataPath = _server.DataPath;
        string[] escapes =
        [
            "SELECT * FROM beta.cpu",
            "SELECT * FROM memory.beta.cpu",
            "SELECT * FROM cpu WHERE v IN (SELECT v FROM beta.cpu)",
            "WITH t AS (SELECT * FROM beta.cpu) SELECT * FROM t",
            "SELECT * FROM alpha.cpu UNION ALL SELECT * FROM beta.cpu",
            "DESCRIBE beta.cpu",
            $"SELECT * FROM read_parquet('{dataPath}/beta/cpu/*/*/*/*/*.parquet')",
            $"SELECT * FROM '{dataPath}/beta/cpu/2023/11/14/22/x.parquet'",
            "SELECT * FROM glob('/etc/*')",
            "SHOW TABLES FROM beta",
        ];
        foreach (var sql in escapes)
        {
            var (status, body) = await Query(client, sql, "alpha");
            Assert.True(status == HttpStatusCode.Forbidden, $"{sql}: {(int)status} {body}");
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await Query(client, "SELECT count(*) FROM cpu", "beta")).Status);
        var (_, databases) = await Query(client, "SHOW DATABASES", "alpha");
        Assert.Contains("alpha", databases, StringComparison.Ordinal);
        Assert.DoesNotContain("beta", databases, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADatabaseScopeTakesTheCatalogsNameAndIsComparedIgnoringCase()
    {
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=gamma", "cpu,host=g v=1 1700000000000000000\n")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _server.WriteAsync("/write?db=delta", "cpu,host=d v=1 1700000000000000000\n")).StatusCode);

        // GAMMA is the existing gamma; Epsilon does not exist yet and is kept as given.
        var (id, token) = await CreateTokenWithId("gamma", ["read", "write"], null, ["GAMMA", "Epsilon"]);
        var listed = JsonDocument.Parse(await (await _server.Client.GetAsync("/api/v1/auth/tokens")).Content.ReadAsStringAsync()).RootElement
            .EnumerateArray().Single(t => t.GetProperty("id").GetString() == id);
        Assert.Equal(["gamma", "Epsilon"], listed.GetProperty("databases").EnumerateArray().Select(d => d.GetString()));

        using var client = _server.NewClient(token);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/write?db=gamma", new StringContent("cpu,host=t v=2 1700000001000000000\n"))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/write?db=epsilon", new StringContent("cpu,host=t v=3\n"))).StatusCode);
        foreach (var (sql, database) in new[] { ("SELECT count(*) FROM cpu", "gamma"), ("SELECT count(*) FROM GAMMA.cpu", "gamma"),
                     ("SELECT count(*) FROM cpu", "GAMMA"), ("SELECT count(*) FROM cpu", "epsilon") })
        {
            var (status, body) = await Query(client, sql, database);
            Assert.True(status == HttpStatusCode.OK, $"{sql} in {database}: {(int)status} {body}");
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync("/write?db=delta", new StringContent("cpu,host=t v=4\n"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Query(client, "SELECT count(*) FROM cpu", "delta")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Query(client, "SELECT count(*) FROM delta.cpu", "gamma")).Status);
        var measurements = await (await client.GetAsync("/api/v1/measurements")).Content.ReadAsStringAsync();
        Assert.Contains("\"gamma\"", measurements, StringComparison.Ordinal);
        Assert.DoesNotContain("\"delta\"", measurements, StringComparison.Ordinal);

        using var duplicate = await _server.Client.PostAsync("/api/v1/auth/tokens",
            new StringContent("{\"name\":\"d\",\"permissions\":[\"read\"],\"databases\":[\"gamma\",\"GAMMA\"]}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, duplicate.StatusCode);
        Assert.Contains("database 'GAMMA' is listed twice in databases", await duplicate.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SELECT * FROM read_text('/etc/passwd')")]
    [InlineData("SELECT * FROM read_csv('/etc/passwd')")]
    [InlineData("SELECT * FROM read_blob('/etc/hostname')")]
    [InlineData("SELECT * FROM '/etc/passwd'")]
    [InlineData("SELECT * FROM glob('/etc/*')")]
    [InlineData("SELECT * FROM read_parquet('/tmp/*.parquet')")]
    [InlineData("SET enable_external_access = true")]
    [InlineData("SET allowed_directories = ['/']")]
    [InlineData("PRAGMA enable_external_access")]
    [InlineData("ATTACH '/tmp/other.db' AS o")]
    [InlineData("COPY (SELECT 1) TO '/tmp/leak.csv'")]
    [InlineData("INSTALL httpfs")]
    [InlineData("LOAD httpfs")]
    [InlineData("CREATE TABLE t AS SELECT 1")]
    [InlineData("EXPORT DATABASE '/tmp/dump'")]
    public async Task UserSqlCannotReachServerFilesOrSettings(string sql)
    {
        var (status, body) = await Query(_server.Client, sql, "alpha");
        Assert.True(status == HttpStatusCode.BadRequest, $"{sql}: {(int)status} {body}");
        Assert.DoesNotContain("root:", body, StringComparison.Ordinal);
        Assert.False(File.Exists("/tmp/leak.csv"));
    }

    private static StringContent Sql(string sql) => new(TestServer.SqlBody(sql), Encoding.UTF8, "application/json");

    private static async Task<(HttpStatusCode Status, string Body)> Query(HttpClient client, string sql, string database)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/query") { Content = Sql(sql) };
        request.Headers.Add("x-arc-database", database);
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<string> CreateToken(string name, string[] permissions, string[]? databases = null) =>
        (await CreateTokenWithId(name, permissions, null, databases)).Secret;

    private async Task<(string Id, string Secret)> CreateTokenWithId(string name, string[] permissions, long? expiresIn, string[]? databases = null)
    {
        var json = new StringBuilder($"{{\"name\":\"{name}\",\"permissions\":[{string.Join(',', permissions.Select(p => $"\"{p}\""))}]");
        if (databases is not null)
        {
            json.Append($",\"databases\":[{string.Join(',', databases.Select(d => $"\"{d}\""))}]");
        }

        if (expiresIn is not null)
        {
            json.Append($",\"expires_in_seconds\":{expiresIn}");
        }

        json.Append('}');
        using var response = await _server.Client.PostAsync("/api/v1/auth/tokens", new StringContent(json.ToString(), Encoding.UTF8, "application/json"));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return (body.GetProperty("info").GetProperty("id").GetString()!, body.GetProperty("token").GetString()!);
    }
}
