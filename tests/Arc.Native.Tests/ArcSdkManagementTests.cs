using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>
/// The requests Arc's Python SDK sends from its management clients (arc-client-python <c>management/retention.py</c>,
/// <c>continuous_query.py</c>, <c>delete.py</c>, and <c>client.py</c>'s health and ready), replayed with their methods, paths, query strings and JSON bodies
/// (nulls included, as the SDK builds them), and every answer checked the way the SDK reads it: a 2xx status (its HTTP
/// layer raises on any other), a JSON body (<c>response.json()</c> on every call, deletes too), <c>success</c> not false,
/// and the object it hands to its pydantic model (<c>models/*.py</c>) carrying the model's required fields with the
/// model's JSON types (integers where the model says <c>int</c>, strings, booleans, lists, nulls only where the model
/// allows <c>None</c>). The SDK's 404 and 400 paths are checked too.
/// </summary>
public sealed class ArcSdkManagementTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(c => c.DeleteEnabled = true);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task EveryRetentionClientCallParsesIntoTheSdksModels()
    {
        var old = DateTime.UtcNow.AddDays(-200);
        await WriteAsync("sdkret", $"temp,room=a v=1 {ToNs(old)}\ntemp,room=b v=2 {ToNs(old.AddMinutes(1))}\n");
        await WriteAsync("sdkret", $"temp,room=a v=3 {ToNs(DateTime.UtcNow.AddMinutes(-1))}\n");
        await _server.Server.Engine.FlushAsync();

        // create(name, database, retention_days, measurement=None, buffer_days=7, is_active=True): every key, None as null.
        var created = await SendAsync(HttpMethod.Post, "/api/v1/retention",
            """{"name": "temp-90d", "database": "sdkret", "retention_days": 90, "measurement": null, "buffer_days": 7, "is_active": true}""");
        var policy = Model(created, "policy", RetentionPolicy);
        var id = policy.GetProperty("id").GetInt64();
        Assert.Equal(("temp-90d", "sdkret", 90), (policy.GetProperty("name").GetString(), policy.GetProperty("database").GetString(),
            policy.GetProperty("retention_days").GetInt32()));

        // list(): data["policies"], each a RetentionPolicy.
        var listed = await SendAsync(HttpMethod.Get, "/api/v1/retention");
        Assert.Equal([id], listed.GetProperty("policies").EnumerateArray().Select(p => AssertModel(p, RetentionPolicy).GetProperty("id").GetInt64()));

        // get(id), update(id, ...only what changes): data.get("policy", data).
        Model(await SendAsync(HttpMethod.Get, $"/api/v1/retention/{id}"), "policy", RetentionPolicy);
        var updated = Model(await SendAsync(HttpMethod.Put, $"/api/v1/retention/{id}", """{"retention_days": 100, "measurement": "temp"}"""),
            "policy", RetentionPolicy);
        Assert.Equal((100, "temp"), (updated.GetProperty("retention_days").GetInt32(), updated.GetProperty("measurement").GetString()));

        // execute(id, dry_run=True, confirm=False), then for real: ExecuteRetentionResponse(**data).
        var dry = AssertModel(await SendAsync(HttpMethod.Post, $"/api/v1/retention/{id}/execute", """{"dry_run": true, "confirm": false}"""),
            ExecuteRetentionResponse);
        Assert.True(dry.GetProperty("dry_run").GetBoolean());
        Assert.Equal(["temp"], dry.GetProperty("affected_measurements").EnumerateArray().Select(m => m.GetString()));
        var run = AssertModel(await SendAsync(HttpMethod.Post, $"/api/v1/retention/{id}/execute", """{"dry_run": false, "confirm": true}"""),
            ExecuteRetentionResponse);
        Assert.Equal((id, 2L, false), (run.GetProperty("policy_id").GetInt64(), run.GetProperty("deleted_count").GetInt64(), run.GetProperty("dry_run").GetBoolean()));
        Assert.Equal([["1"]], await _server.RowsAsync("SELECT count(*) FROM temp", "sdkret"));

        // get_executions(id, limit=50): data["executions"], each a RetentionExecution.
        var executions = (await SendAsync(HttpMethod.Get, $"/api/v1/retention/{id}/executions?limit=50")).GetProperty("executions").EnumerateArray().ToList();
        var execution = AssertModel(Assert.Single(executions), RetentionExecution);
        Assert.Equal((id, "completed", 2L), (execution.GetProperty("policy_id").GetInt64(), execution.GetProperty("status").GetString(),
            execution.GetProperty("deleted_count").GetInt64()));

        // The SDK's error paths: a confirmless run is a 4xx naming the problem; an unknown id is 404 ("not found").
        var (refusedStatus, refused) = await TrySendAsync(HttpMethod.Post, $"/api/v1/retention/{id}/execute", """{"dry_run": false, "confirm": false}""");
        Assert.Equal(HttpStatusCode.BadRequest, refusedStatus);
        Assert.Contains("confirm", refused.GetProperty("error").GetString(), StringComparison.Ordinal);

        // delete(id): response.json() on the answer, success not false; afterwards get(id) is 404.
        await SendAsync(HttpMethod.Delete, $"/api/v1/retention/{id}");
        var (missing, _) = await TrySendAsync(HttpMethod.Get, $"/api/v1/retention/{id}");
        Assert.Equal(HttpStatusCode.NotFound, missing);
    }

    [Fact]
    public async Task EveryContinuousQueryClientCallParsesIntoTheSdksModels()
    {
        var hour = new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        await WriteAsync("sdkcq", $"cpu,host=a usage=10 {ToNs(hour)}\ncpu,host=a usage=20 {ToNs(hour.AddSeconds(30))}\ncpu,host=b usage=30 {ToNs(hour.AddMinutes(1))}\n");

        // create(...): every key the SDK builds, the unset optional ones as null.
        var created = await SendAsync(HttpMethod.Post, "/api/v1/continuous_queries", """
            {"name": "cpu_1m", "database": "sdkcq", "source_measurement": "cpu", "destination_measurement": "cpu_1m",
             "query": "SELECT time_bucket(INTERVAL '1 minute', time) AS time, host, avg(usage) AS usage_avg FROM cpu WHERE time >= {start_time} AND time < {end_time} GROUP BY 1, 2",
             "interval": "1h", "description": null, "retention_days": null, "delete_source_after_days": null, "is_active": true}
            """);
        var query = Model(created, "query", ContinuousQuery);
        var id = query.GetProperty("id").GetInt64();

        // list(database=..., is_active=True): params database and is_active=true; data["queries"].
        var listed = await SendAsync(HttpMethod.Get, "/api/v1/continuous_queries?database=sdkcq&is_active=true");
        Assert.Equal([id], listed.GetProperty("queries").EnumerateArray().Select(q => AssertModel(q, ContinuousQuery).GetProperty("id").GetInt64()));
        Assert.Empty((await SendAsync(HttpMethod.Get, "/api/v1/continuous_queries?is_active=false")).GetProperty("queries").EnumerateArray());

        // get(id), update(id, description=...): data.get("query", data).
        Model(await SendAsync(HttpMethod.Get, $"/api/v1/continuous_queries/{id}"), "query", ContinuousQuery);
        var updated = Model(await SendAsync(HttpMethod.Put, $"/api/v1/continuous_queries/{id}", """{"description": "per minute", "retention_days": 30}"""),
            "query", ContinuousQuery);
        Assert.Equal(("per minute", 30), (updated.GetProperty("description").GetString(), updated.GetProperty("retention_days").GetInt32()));

        // execute(id, start_time=datetime, end_time=datetime, dry_run): isoformat() of an aware datetime ("+00:00").
        var window = """{"dry_run": %DRY%, "start_time": "2025-01-01T00:00:00+00:00", "end_time": "2025-01-01T01:00:00+00:00"}""";
        var dry = AssertModel(await SendAsync(HttpMethod.Post, $"/api/v1/continuous_queries/{id}/execute", window.Replace("%DRY%", "true", StringComparison.Ordinal)),
            ExecuteCqResponse);
        Assert.Equal((true, 0L), (dry.GetProperty("dry_run").GetBoolean(), dry.GetProperty("records_written").GetInt64()));
        var run = AssertModel(await SendAsync(HttpMethod.Post, $"/api/v1/continuous_queries/{id}/execute", window.Replace("%DRY%", "false", StringComparison.Ordinal)),
            ExecuteCqResponse);
        Assert.Equal((id, "cpu_1m", 2L), (run.GetProperty("query_id").GetInt64(), run.GetProperty("destination_measurement").GetString(),
            run.GetProperty("records_written").GetInt64()));

        // get_executions(id, limit=50): data["executions"], each a CQExecution.
        var executions = (await SendAsync(HttpMethod.Get, $"/api/v1/continuous_queries/{id}/executions?limit=50")).GetProperty("executions").EnumerateArray().ToList();
        var execution = AssertModel(Assert.Single(executions), CqExecution);
        Assert.Equal((id, run.GetProperty("execution_id").GetString()), (execution.GetProperty("query_id").GetInt64(), execution.GetProperty("execution_id").GetString()));

        // delete(id): a JSON answer; afterwards get(id) is 404.
        await SendAsync(HttpMethod.Delete, $"/api/v1/continuous_queries/{id}");
        Assert.Equal(HttpStatusCode.NotFound, (await TrySendAsync(HttpMethod.Get, $"/api/v1/continuous_queries/{id}")).Status);
    }

    [Fact]
    public async Task EveryDeleteClientCallParsesIntoTheSdksModels()
    {
        await WriteAsync("sdkdel", "mem,host=a used=1 1000000000\nmem,host=b used=2 2000000000\n");
        await _server.Server.Engine.FlushAsync();

        // delete(database, measurement, where, dry_run=True, confirm=False), then for real: DeleteResponse(**data).
        var dry = AssertModel(await SendAsync(HttpMethod.Post, "/api/v1/delete",
            """{"database": "sdkdel", "measurement": "mem", "where": "host = 'a'", "dry_run": true, "confirm": false}"""), DeleteResponse);
        Assert.Equal((true, 1L), (dry.GetProperty("dry_run").GetBoolean(), dry.GetProperty("deleted_count").GetInt64()));
        // Without confirm a real delete is Arc's 400, whose "error" the SDK's HTTP layer puts in its exception.
        var (unconfirmed, refusal) = await TrySendAsync(HttpMethod.Post, "/api/v1/delete",
            """{"database": "sdkdel", "measurement": "mem", "where": "host = 'a'", "dry_run": false, "confirm": false}""");
        Assert.Equal(HttpStatusCode.BadRequest, unconfirmed);
        Assert.StartsWith("Confirmation required", refusal.GetProperty("error").GetString(), StringComparison.Ordinal);
        var done = AssertModel(await SendAsync(HttpMethod.Post, "/api/v1/delete",
            """{"database": "sdkdel", "measurement": "mem", "where": "host = 'a'", "dry_run": false, "confirm": true}"""), DeleteResponse);
        Assert.Equal((false, 1L), (done.GetProperty("dry_run").GetBoolean(), done.GetProperty("deleted_count").GetInt64()));
        Assert.Equal([["b"]], await _server.RowsAsync("SELECT host FROM mem", "sdkdel"));

        // get_config(): DeleteConfigResponse(**data).
        var config = AssertModel(await SendAsync(HttpMethod.Get, "/api/v1/delete/config"), DeleteConfigResponse);
        Assert.True(config.GetProperty("enabled").GetBoolean());
    }

    [Fact]
    public async Task HealthAndReadyAnswerAsTheClientReadsThem()
    {
        // health(): HealthResponse.model_validate(response.json()); ready(): status 200.
        AssertModel(await SendAsync(HttpMethod.Get, "/health"), HealthResponse);
        Assert.Equal(HttpStatusCode.OK, (await TrySendAsync(HttpMethod.Get, "/ready")).Status);
    }

    // The SDK's pydantic models (arc-client-python src/arc_client/models/*.py): name, JSON type, required (no default),
    // nullable (the annotation allows None).
    private static readonly Field[] HealthResponse =
    [
        new("status", Kind.Str, Required: true), new("version", Kind.Str, Nullable: true), new("uptime", Kind.Str, Nullable: true),
    ];

    private static readonly Field[] RetentionPolicy =
    [
        new("id", Kind.Int, Required: true), new("name", Kind.Str, Required: true), new("database", Kind.Str, Required: true),
        new("measurement", Kind.Str, Nullable: true), new("retention_days", Kind.Int, Required: true), new("buffer_days", Kind.Int),
        new("is_active", Kind.Bool), new("last_execution_time", Kind.Str, Nullable: true), new("last_execution_status", Kind.Str, Nullable: true),
        new("last_deleted_count", Kind.Int, Nullable: true), new("created_at", Kind.Str, Nullable: true), new("updated_at", Kind.Str, Nullable: true),
    ];

    private static readonly Field[] ExecuteRetentionResponse =
    [
        new("policy_id", Kind.Int, Required: true), new("policy_name", Kind.Str, Required: true), new("deleted_count", Kind.Int),
        new("files_deleted", Kind.Int), new("execution_time_ms", Kind.Float), new("dry_run", Kind.Bool), new("cutoff_date", Kind.Str, Nullable: true),
        new("affected_measurements", Kind.StrList), new("error", Kind.Str, Nullable: true),
    ];

    private static readonly Field[] RetentionExecution =
    [
        new("id", Kind.Int, Required: true), new("policy_id", Kind.Int, Required: true), new("execution_time", Kind.Str, Required: true),
        new("status", Kind.Str, Required: true), new("deleted_count", Kind.Int), new("cutoff_date", Kind.Str, Nullable: true),
        new("execution_duration_ms", Kind.Float), new("error_message", Kind.Str, Nullable: true),
    ];

    private static readonly Field[] ContinuousQuery =
    [
        new("id", Kind.Int, Required: true), new("name", Kind.Str, Required: true), new("description", Kind.Str, Nullable: true),
        new("database", Kind.Str, Required: true), new("source_measurement", Kind.Str, Required: true),
        new("destination_measurement", Kind.Str, Required: true), new("query", Kind.Str, Required: true), new("interval", Kind.Str, Required: true),
        new("retention_days", Kind.Int, Nullable: true), new("delete_source_after_days", Kind.Int, Nullable: true), new("is_active", Kind.Bool),
        new("last_execution_time", Kind.Str, Nullable: true), new("last_execution_status", Kind.Str, Nullable: true),
        new("last_processed_time", Kind.Str, Nullable: true), new("last_records_written", Kind.Int, Nullable: true),
        new("created_at", Kind.Str, Nullable: true), new("updated_at", Kind.Str, Nullable: true),
    ];

    private static readonly Field[] ExecuteCqResponse =
    [
        new("query_id", Kind.Int, Required: true), new("query_name", Kind.Str, Required: true), new("execution_id", Kind.Str, Required: true),
        new("status", Kind.Str, Required: true), new("start_time", Kind.Str, Required: true), new("end_time", Kind.Str, Required: true),
        new("records_read", Kind.Int, Nullable: true), new("records_written", Kind.Int), new("execution_time_seconds", Kind.Float),
        new("destination_measurement", Kind.Str, Required: true), new("dry_run", Kind.Bool), new("executed_at", Kind.Str, Nullable: true),
        new("executed_query", Kind.Str, Nullable: true), new("error", Kind.Str, Nullable: true),
    ];

    private static readonly Field[] CqExecution =
    [
        new("id", Kind.Int, Required: true), new("query_id", Kind.Int, Required: true), new("execution_id", Kind.Str, Required: true),
        new("execution_time", Kind.Str, Required: true), new("status", Kind.Str, Required: true), new("start_time", Kind.Str, Required: true),
        new("end_time", Kind.Str, Required: true), new("records_read", Kind.Int, Nullable: true), new("records_written", Kind.Int),
        new("execution_duration_seconds", Kind.Float), new("error_message", Kind.Str, Nullable: true),
    ];

    private static readonly Field[] DeleteResponse =
    [
        new("success", Kind.Bool, Required: true), new("deleted_count", Kind.Int), new("affected_files", Kind.Int), new("rewritten_files", Kind.Int),
        new("execution_time_ms", Kind.Float), new("dry_run", Kind.Bool), new("files_processed", Kind.StrList), new("error", Kind.Str, Nullable: true),
    ];

    private static readonly Field[] DeleteConfigResponse =
    [
        new("enabled", Kind.Bool, Required: true), new("confirmation_threshold", Kind.Int), new("max_rows_per_delete", Kind.Int),
        new("implementation", Kind.Str), new("performance_impact", Kind.StrMap),
    ];

    private enum Kind
    {
        Int,
        Float,
        Str,
        Bool,
        StrList,
        StrMap,
    }

    private sealed record Field(string Name, Kind Kind, bool Required = false, bool Nullable = false);

    /// <summary>What the SDK hands its model for create/get/update: <c>data.get(key, data)</c>.</summary>
    private static JsonElement Model(JsonElement data, string key, Field[] model) =>
        AssertModel(data.TryGetProperty(key, out var inner) ? inner : data, model);

    /// <summary>Would pydantic build the model from this object (strictly: no coercion of strings to numbers or the like)?</summary>
    private static JsonElement AssertModel(JsonElement body, Field[] model)
    {
        Assert.Equal(JsonValueKind.Object, body.ValueKind);
        foreach (var field in model)
        {
            if (!body.TryGetProperty(field.Name, out var value))
            {
                Assert.False(field.Required, $"missing required field {field.Name} in {body.GetRawText()}");
                continue;
            }

            if (value.ValueKind == JsonValueKind.Null)
            {
                Assert.True(field.Nullable, $"{field.Name} is null, which the model does not allow");
                continue;
            }

            var fits = field.Kind switch
            {
                Kind.Int => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
                Kind.Float => value.ValueKind == JsonValueKind.Number,
                Kind.Str => value.ValueKind == JsonValueKind.String,
                Kind.Bool => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
                Kind.StrList => value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String),
                Kind.StrMap => value.ValueKind == JsonValueKind.Object && value.EnumerateObject().All(p => p.Value.ValueKind == JsonValueKind.String),
                _ => false,
            };
            Assert.True(fits, $"{field.Name} should be {field.Kind}, is {value.GetRawText()}");
        }

        return body;
    }

    /// <summary>
    /// A request as the SDK's HTTP layer sends it, answered as it must be for the SDK to go on: 2xx, a JSON body, and
    /// <c>success</c> not false.
    /// </summary>
    private async Task<JsonElement> SendAsync(HttpMethod method, string path, string? json = null)
    {
        var (status, body) = await TrySendAsync(method, path, json);
        Assert.True((int)status is >= 200 and < 300, $"{method} {path}: {(int)status} {body.GetRawText()}");
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("success", out var success))
        {
            Assert.Equal(JsonValueKind.True, success.ValueKind);
        }

        return body;
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> TrySendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.UserAgent.ParseAdd("arc-client-python/0.1.0");
        request.Headers.Add("x-arc-database", "default"); // build_headers: the client's database, "default" unless set
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await _server.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task WriteAsync(string database, string lines)
    {
        using var response = await _server.WriteAsync($"/write?db={database}", lines);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private static long ToNs(DateTime time) => (time - DateTime.UnixEpoch).Ticks * 100;
}
