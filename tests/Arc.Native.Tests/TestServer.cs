using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Arc.Engine.DuckDb;
using Arc.Native.Configuration;

namespace Arc.Native.Tests;

/// <summary>A real arc-native server on 127.0.0.1:0 over a fresh data directory, plus an HttpClient pointed at it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    /// <summary>The admin token every test server installs; <see cref="Client"/> sends it.</summary>
    public const string AdminToken = "arc_test-admin-token-0123456789abcdefghijklmnopqrstuv";

    private TestServer(ArcServer server, ArcConfig config, string root)
    {
        Server = server;
        Config = config;
        Root = root;
        Client = NewClient(AdminToken);
    }

    /// <summary>A client for this server that sends <paramref name="token"/> (or nothing) as a Bearer token.</summary>
    public HttpClient NewClient(string? token)
    {
        var client = new HttpClient { BaseAddress = new Uri(Server.Addresses.First()), Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public ArcServer Server { get; }

    public ArcConfig Config { get; }

    public string Root { get; }

    public string DataPath => Config.Engine.DataPath;

    public HttpClient Client { get; }

    public static async Task<TestServer> StartAsync(Action<ArcConfig>? configure = null, string? root = null,
        Action<Microsoft.Extensions.Logging.ILoggingBuilder>? logging = null)
    {
        root ??= Path.Combine(Path.GetTempPath(), "arc-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var config = new ArcConfig
        {
            Host = "127.0.0.1",
            Port = 0,
            LogLevel = "warn",
            AuthDbPath = Path.Combine(root, "auth", "arc.db"),
            BootstrapToken = AdminToken,
        };
        config.Engine = config.Engine with { DataPath = Path.Combine(root, "data"), MaxBufferAge = TimeSpan.FromMinutes(10) };
        configure?.Invoke(config);
        var server = await ArcServer.CreateAsync(config, logging);
        await server.StartAsync();
        return new TestServer(server, config, root);
    }

    /// <summary>Stops the server (which flushes everything) and starts a new one on the same data.</summary>
    public async Task<TestServer> RestartAsync(Action<ArcConfig>? configure = null)
    {
        Client.Dispose();
        await Server.DisposeAsync();
        var data = DataPath;
        return await StartAsync(c =>
        {
            c.Engine = c.Engine with { DataPath = data };
            configure?.Invoke(c);
        }, Root);
    }

    public Task<HttpResponseMessage> WriteAsync(string path, string body, string? contentEncoding = null, string? database = null)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        return SendAsync(path, content, contentEncoding, database);
    }

    public Task<HttpResponseMessage> SendAsync(string path, HttpContent content, string? contentEncoding = null, string? database = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (contentEncoding is not null)
        {
            content.Headers.ContentEncoding.Add(contentEncoding);
        }

        if (database is not null)
        {
            request.Headers.Add("x-arc-database", database);
        }

        return Client.SendAsync(request);
    }

    public async Task<(int Status, JsonElement Body)> QueryAsync(string sql, string? database = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/query")
        {
            Content = new StringContent(SqlBody(sql), Encoding.UTF8,
                new MediaTypeHeaderValue("application/json")),
        };
        if (database is not null)
        {
            request.Headers.Add("x-arc-database", database);
        }

        using var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>
    /// Sends until the server refuses with 503 (backpressure) and returns that answer, with its Retry-After checked to be
    /// one second; every answer before it must be 204. Fails after <paramref name="attempts"/> accepted requests.
    /// </summary>
    public static async Task<HttpResponseMessage> SendUntilRefusedAsync(Func<Task<HttpResponseMessage>> send, int attempts)
    {
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            var response = await send();
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
                return response;
            }

            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            response.Dispose();
        }

        throw new Xunit.Sdk.XunitException($"{attempts} requests were accepted; none was refused with 503");
    }

    /// <summary><c>{"sql": "..."}</c>, escaped by Utf8JsonWriter (the tests run without reflection-based JSON, as the server does).</summary>
    public static string SqlBody(string sql)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("sql", sql);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>A JSON request body.</summary>
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Reads and disposes an answer that must have the <paramref name="expected"/> status (its body is the failure message).</summary>
    public static async Task<JsonElement> BodyAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {text}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }
    }

    /// <summary>Creates a token through the API as the admin and returns its secret.</summary>
    public async Task<string> CreateTokenAsync(string name, string[] permissions, string[]? databases = null)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("name", name);
            WriteArray(writer, "permissions", permissions);
            if (databases is not null)
            {
                WriteArray(writer, "databases", databases);
            }

            writer.WriteEndObject();
        }

        var created = await BodyAsync(await Client.PostAsync("/api/v1/auth/tokens", Json(Encoding.UTF8.GetString(buffer.WrittenSpan))), HttpStatusCode.Created);
        return created.GetProperty("token").GetString()!;

        static void WriteArray(Utf8JsonWriter writer, string property, string[] items)
        {
            writer.WriteStartArray(property);
            foreach (var item in items)
            {
                writer.WriteStringValue(item);
            }

            writer.WriteEndArray();
        }
    }

    /// <summary>Runs a query that must succeed and returns its rows as JSON text per cell.</summary>
    public async Task<List<string[]>> RowsAsync(string sql, string? database = null)
    {
        var (status, body) = await QueryAsync(sql, database);
        Assert.True(status == 200, $"query failed ({status}): {body}");
        return body.GetProperty("data").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()).ToArray())
            .ToList();
    }

    /// <summary>Reads Parquet files with a separate DuckDB (not the server's): the files stand on their own.</summary>
    public static List<string?[]> ReadParquet(string sql)
    {
        using var database = DuckDbDatabase.Open(null, []);
        using var connection = database.Connect();
        return connection.QueryStrings(sql);
    }

    public string[] ParquetFiles() =>
        Directory.Exists(DataPath)
            ? Directory.GetFiles(DataPath, "*.parquet", SearchOption.AllDirectories).Where(f => !f.Contains("/.tmp/", StringComparison.Ordinal)).ToArray()
            : [];

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the temp directory is not part of what the test checks.
        }
    }
}
