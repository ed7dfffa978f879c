using System.Net;
using System.Text;
using System.Text.Json;
using Arc.Engine.DuckDb;
using Arc.Native.Configuration;

namespace Arc.Native.Tests;

/// <summary>
/// The requests Arc's Python SDK sends from <c>client.auth</c> (arc-client-python <c>auth/manager.py</c>), replayed with
/// its bodies and methods, and every answer checked against the SDK's models (<c>models/auth.py</c>): field names and JSON
/// types (an integer <c>id</c>, <c>success</c> on every answer, <c>new_token</c> on rotation), and the statuses its error
/// handling expects. Also the bootstrap token taken as given, and a token store from before integer ids.
/// </summary>
public sealed class ArcSdkAuthTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task EveryAuthClientCallParsesIntoTheSdksModels()
    {
        // create_token(name, description, expires_in="7d"): no permissions means read and write, as Arc.
        var (status, created) = await Send(HttpMethod.Post, "/api/v1/auth/tokens", """{"name": "sdk", "description": "from the SDK", "expires_in": "7d"}""");
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.True(created.GetProperty("success").GetBoolean());
        Assert.Equal(JsonValueKind.String, created.GetProperty("message").ValueKind);
        var secret = created.GetProperty("token").GetString()!;
        using var sdk = _server.NewClient(secret);
        Assert.Equal(HttpStatusCode.NoContent, (await sdk.PostAsync("/write?db=sdk", new StringContent("m v=1\n"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await sdk.GetAsync("/api/v1/auth/tokens")).StatusCode);

        // list_tokens: {success, tokens: [TokenInfo], count}.
        var (_, list) = await Send(HttpMethod.Get, "/api/v1/auth/tokens");
        Assert.True(list.GetProperty("success").GetBoolean());
        var tokens = list.GetProperty("tokens").EnumerateArray().ToList();
        Assert.Equal(tokens.Count, list.GetProperty("count").GetInt32());
        foreach (var token in tokens)
        {
            AssertTokenInfo(token);
        }

        var id = tokens.Single(t => t.GetProperty("name").GetString() == "sdk").GetProperty("id").GetInt64();

        // get_token(id): data["token"] is a TokenInfo.
        var (_, got) = await Send(HttpMethod.Get, $"/api/v1/auth/tokens/{id}");
        var info = got.GetProperty("token");
        AssertTokenInfo(info);
        Assert.Equal("from the SDK", info.GetProperty("description").GetString());
        Assert.Equal(["read", "write"], info.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));
        Assert.InRange(info.GetProperty("expires_at").GetDateTime(), DateTime.UtcNow.AddDays(7).AddMinutes(-1), DateTime.UtcNow.AddDays(7));

        // update_token: PATCH with what changes.
        var (patched, updated) = await Send(HttpMethod.Patch, $"/api/v1/auth/tokens/{id}",
            """{"name": "sdk2", "description": "changed", "permissions": ["read"], "expires_in": "1h30m"}""");
        Assert.Equal(HttpStatusCode.OK, patched);
        Assert.True(updated.GetProperty("success").GetBoolean());
        info = (await Send(HttpMethod.Get, $"/api/v1/auth/tokens/{id}")).Body.GetProperty("token");
        Assert.Equal(("sdk2", "changed"), (info.GetProperty("name").GetString(), info.GetProperty("description").GetString()));
        Assert.InRange(info.GetProperty("expires_at").GetDateTime(), DateTime.UtcNow.AddMinutes(89), DateTime.UtcNow.AddMinutes(90));
        Assert.Equal(HttpStatusCode.Forbidden, (await sdk.PostAsync("/write?db=sdk", new StringContent("m v=2\n"))).StatusCode);

        // rotate_token: new_token works, the old one does not.
        var (_, rotated) = await Send(HttpMethod.Post, $"/api/v1/auth/tokens/{id}/rotate");
        Assert.True(rotated.GetProperty("success").GetBoolean());
        using var fresh = _server.NewClient(rotated.GetProperty("new_token").GetString());
        Assert.Equal(HttpStatusCode.OK, (await fresh.GetAsync("/api/v1/auth/verify")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await sdk.GetAsync("/api/v1/auth/verify")).StatusCode);

        // verify: {valid, token_info, permissions}.
        var verified = JsonDocument.Parse(await (await fresh.GetAsync("/api/v1/auth/verify")).Content.ReadAsStringAsync()).RootElement;
        Assert.True(verified.GetProperty("valid").GetBoolean());
        AssertTokenInfo(verified.GetProperty("token_info"));
        Assert.Equal(["read"], verified.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));
        using var anonymous = _server.NewClient(null);
        using var noToken = await anonymous.GetAsync("/api/v1/auth/verify");
        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
        Assert.Equal("""{"valid":false,"error":"No token provided"}""", await noToken.Content.ReadAsStringAsync());

        // revoke_token then delete_token: {success, message}; afterwards 404 {success: false, error: "Token not found"}.
        var (revoked, revokedBody) = await Send(HttpMethod.Post, $"/api/v1/auth/tokens/{id}/revoke");
        Assert.Equal((HttpStatusCode.OK, true), (revoked, revokedBody.GetProperty("success").GetBoolean()));
        Assert.Equal(HttpStatusCode.Unauthorized, (await fresh.GetAsync("/api/v1/auth/verify")).StatusCode);
        Assert.False((await Send(HttpMethod.Get, $"/api/v1/auth/tokens/{id}")).Body.GetProperty("token").GetProperty("enabled").GetBoolean());
        var (deleted, deletedBody) = await Send(HttpMethod.Delete, $"/api/v1/auth/tokens/{id}");
        Assert.Equal((HttpStatusCode.OK, true), (deleted, deletedBody.GetProperty("success").GetBoolean()));
        var (missing, missingBody) = await Send(HttpMethod.Get, $"/api/v1/auth/tokens/{id}");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("""{"success":false,"error":"Token not found"}""", missingBody.GetRawText());
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Post, $"/api/v1/auth/tokens/{id}/rotate")).Status);
    }

    [Theory]
    [InlineData("""{"name": ""}""", "Token name is required")]
    [InlineData("""{"name": "x", "permissions": ["fly"]}""", "Invalid permission in [fly]. Valid permissions are: read, write, delete, admin")]
    [InlineData("""{"name": "x", "expires_in": "7x"}""", "Invalid expires_in '7x': use a duration like '24h', '90m' or '7d', at most 100 years")]
    [InlineData("""{"name": "x", "expires_in": "-1h"}""", "Invalid expires_in '-1h': use a duration like '24h', '90m' or '7d', at most 100 years")]
    [InlineData("""{"name": "x", "expires_in": "36501d"}""", "Invalid expires_in '36501d': use a duration like '24h', '90m' or '7d', at most 100 years")]
    [InlineData("""{"name": "x", "expires_in": "1h", "expires_in_seconds": 60}""", "give expires_in or expires_in_seconds, not both")]
    public async Task ABadTokenRequestIsArcs400NamingTheField(string body, string error)
    {
        var (status, answer) = await Send(HttpMethod.Post, "/api/v1/auth/tokens", body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.False(answer.GetProperty("success").GetBoolean());
        Assert.Equal(error, answer.GetProperty("error").GetString());
    }

    [Fact]
    public async Task ATokenIdThatIsNoIntegerIsArcs400()
    {
        var (status, answer) = await Send(HttpMethod.Get, "/api/v1/auth/tokens/abc");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Invalid token ID", answer.GetProperty("error").GetString());
    }

    [Fact]
    public async Task TheBootstrapTokenIsTakenAsGivenAndAShortOneStopsStartup()
    {
        await using (var migrated = await TestServer.StartAsync(c => c.BootstrapToken = "token-from-an-arc-deployment"))
        {
            using var client = migrated.NewClient("token-from-an-arc-deployment");
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/auth/tokens")).StatusCode);
        }

        var error = await Assert.ThrowsAsync<ConfigException>(() => TestServer.StartAsync(c => c.BootstrapToken = "short"));
        Assert.Equal("auth.bootstrap_token (ARC_AUTH_BOOTSTRAP_TOKEN): must have 16 to 256 characters (it has 5); a long random value is best",
            error.Message);
    }

    [Fact]
    public async Task AStoreWithHexIdsIsRenumberedInCreationOrderAndItsTokensKeepWorking()
    {
        var (_, created) = await Send(HttpMethod.Post, "/api/v1/auth/tokens", """{"name": "older", "permissions": ["read"]}""");
        var reader = created.GetProperty("token").GetString()!;
        await _server.Server.DisposeAsync();

        // The tokens table as the version before integer ids kept it: hex ids, no description, no sequence.
        using (var database = DuckDbDatabase.Open(_server.Config.AuthDbPath, []))
        using (var connection = database.Connect())
        {
            connection.Execute("""
                CREATE TABLE tokens_old (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, hash VARCHAR NOT NULL UNIQUE, permissions INTEGER NOT NULL,
                    databases VARCHAR, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP, revoked_at TIMESTAMP);
                INSERT INTO tokens_old SELECT printf('%016x', 1000 - id), name, hash, permissions, databases, created_at, expires_at, revoked_at FROM tokens;
                DROP TABLE tokens;
                DROP SEQUENCE token_ids;
                ALTER TABLE tokens_old RENAME TO tokens;
                """);
        }

        var before = _server;
        before.Client.Dispose();
        _server = await TestServer.StartAsync(c => c.Engine = c.Engine with { DataPath = before.DataPath }, before.Root);
        var tokens = (await Send(HttpMethod.Get, "/api/v1/auth/tokens")).Body.GetProperty("tokens").EnumerateArray()
            .Select(t => (t.GetProperty("id").GetInt64(), t.GetProperty("name").GetString())).ToList();
        Assert.Equal([(1L, "bootstrap"), (2L, "older")], tokens);
        using var client = _server.NewClient(reader);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/auth/verify")).StatusCode);
        var (_, next) = await Send(HttpMethod.Post, "/api/v1/auth/tokens", """{"name": "newer"}""");
        Assert.Equal(3, next.GetProperty("info").GetProperty("id").GetInt64());
    }

    /// <summary>The SDK's <c>TokenInfo</c>: an integer id, strings, a list of permission words, ISO times, a boolean.</summary>
    private static void AssertTokenInfo(JsonElement token)
    {
        Assert.Equal(JsonValueKind.Number, token.GetProperty("id").ValueKind);
        Assert.True(token.GetProperty("id").TryGetInt64(out _));
        Assert.Equal(JsonValueKind.String, token.GetProperty("name").ValueKind);
        Assert.Contains(token.GetProperty("description").ValueKind, new[] { JsonValueKind.String, JsonValueKind.Null });
        Assert.All(token.GetProperty("permissions").EnumerateArray(), p => Assert.Contains(p.GetString(), new[] { "read", "write", "delete", "admin" }));
        token.GetProperty("created_at").GetDateTime();
        Assert.Contains(token.GetProperty("enabled").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });
        if (token.GetProperty("expires_at").ValueKind != JsonValueKind.Null)
        {
            token.GetProperty("expires_at").GetDateTime();
        }
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Send(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await _server.Client.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }
}
