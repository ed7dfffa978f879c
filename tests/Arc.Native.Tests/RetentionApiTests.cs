using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using static Arc.Native.Tests.TestServer;

namespace Arc.Native.Tests;

/// <summary>
/// Arc's retention API with the Python SDK's request shapes (<c>arc_client.management.retention</c>): CRUD and its 400s,
/// dry runs that list without removing, Arc's confirmation rule, the execution history, permissions and database scopes,
/// and a confirmed run that removes exactly the files whose rows are all older than the cutoff. The engine runs on a fake
/// clock, so the cutoff (now − retention_days − buffer_days) falls where the test puts it.
/// </summary>
public sealed class RetentionApiTests : IAsyncLifetime
{
    // 2025-03-01T12:30Z: a 30 + 1 day policy cuts at 2025-01-29T12:30Z.
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 3, 1, 12, 30, 0, TimeSpan.Zero));
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(c => c.Engine = c.Engine with { Time = _clock });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task PoliciesAreCreatedListedReadUpdatedAndDeletedInArcsShapes()
    {
        var client = _server.Client;
        var created = await BodyAsync(await client.PostAsync("/api/v1/retention", Json(
            """{"name":"cpu-30d","database":"metrics","retention_days":30,"measurement":"cpu","buffer_days":7,"is_active":true}""")), HttpStatusCode.Created);
        var id = created.GetProperty("id").GetInt64();
        Assert.Equal("cpu-30d", created.GetProperty("name").GetString());
        Assert.Equal("metrics", created.GetProperty("database").GetString());
        Assert.Equal("cpu", created.GetProperty("measurement").GetString());
        Assert.Equal(30, created.GetProperty("retention_days").GetInt32());
        Assert.Equal(7, created.GetProperty("buffer_days").GetInt32());
        Assert.True(created.GetProperty("is_active").GetBoolean());
        Assert.Equal(JsonValueKind.Null, created.GetProperty("last_execution_time").ValueKind);
        Assert.Equal("2025-03-01T12:30:00Z", created.GetProperty("created_at").GetString());

        // The SDK's create with its defaults (measurement None → null, buffer_days 7, is_active True).
        var whole = await BodyAsync(await client.PostAsync("/api/v1/retention", Json(
            """{"name":"all-90d","database":"metrics","retention_days":90,"measurement":null,"buffer_days":7,"is_active":true}""")), HttpStatusCode.Created);
        Assert.Equal(JsonValueKind.Null, whole.GetProperty("measurement").ValueKind);

        var list = await BodyAsync(await client.GetAsync("/api/v1/retention"), HttpStatusCode.OK);
        Assert.Equal(2, list.GetProperty("count").GetInt32());
        Assert.Equal(["all-90d", "cpu-30d"], list.GetProperty("policies").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        Assert.Equal("cpu-30d", (await BodyAsync(await client.GetAsync($"/api/v1/retention/{id}"), HttpStatusCode.OK)).GetProperty("name").GetString());

        // The SDK's update sends only the fields given: the others stay.
        _clock.Advance(TimeSpan.FromMinutes(1));
        var updated = await BodyAsync(await client.PutAsync($"/api/v1/retention/{id}", Json("""{"retention_days":60}""")), HttpStatusCode.OK);
        Assert.Equal(60, updated.GetProperty("retention_days").GetInt32());
        Assert.Equal(7, updated.GetProperty("buffer_days").GetInt32());
        Assert.Equal("cpu", updated.GetProperty("measurement").GetString());
        Assert.Equal("cpu-30d", updated.GetProperty("name").GetString());
        Assert.Equal("2025-03-01T12:31:00Z", updated.GetProperty("updated_at").GetString());
        var paused = await BodyAsync(await client.PutAsync($"/api/v1/retention/{id}", Json("""{"is_active":false,"measurement":""}""")), HttpStatusCode.OK);
        Assert.False(paused.GetProperty("is_active").GetBoolean());
        Assert.Equal(JsonValueKind.Null, paused.GetProperty("measurement").ValueKind);

        var deleted = await BodyAsync(await client.DeleteAsync($"/api/v1/retention/{id}"), HttpStatusCode.OK);
        Assert.Equal("Retention policy deleted successfully", deleted.GetProperty("message").GetString());
        await BodyAsync(await client.GetAsync($"/api/v1/retention/{id}"), HttpStatusCode.NotFound);
        await BodyAsync(await client.DeleteAsync($"/api/v1/retention/{id}"), HttpStatusCode.NotFound);
        await BodyAsync(await client.PutAsync($"/api/v1/retention/{id}", Json("""{"retention_days":10}""")), HttpStatusCode.NotFound);

        // The policies survive a restart.
        await using var restarted = await _server.RestartAsync(c => c.Engine = c.Engine with { Time = _clock });
        var after = await BodyAsync(await restarted.Client.GetAsync("/api/v1/retention"), HttpStatusCode.OK);
        Assert.Equal(["all-90d"], after.GetProperty("policies").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
    }

    [Theory]
    [InlineData("""{"database":"metrics","retention_days":30}""", "name is required")]
    [InlineData("""{"name":"p","retention_days":30}""", "database is required")]
    [InlineData("""{"name":"p","database":"metrics"}""", "retention_days must be greater than 0")]
    [InlineData("""{"name":"p","database":"metrics","retention_days":0}""", "retention_days must be greater than 0")]
    [InlineData("""{"name":"p","database":"metrics","retention_days":7,"buffer_days":7}""", "retention_days must be greater than buffer_days")]
    [InlineData("""{"name":"p","database":"metrics","retention_days":30,"buffer_days":-1}""", "buffer_days must not be negative")]
    [InlineData("""{"name":"p","database":"metrics","retention_days":99999}""", "at most 36500")]
    [InlineData("""{"name":"p","database":"../etc","retention_days":30}""", "database name")]
    [InlineData("""{"name":"p","database":"metrics","measurement":"a/b","retention_days":30}""", "invalid measurement name")]
    [InlineData("""{"name":"p","database":"metrics","retention_days":"thirty"}""", "Invalid request body")]
    [InlineData("not json", "Invalid request body")]
    [InlineData("", "a JSON object is required")]
    public async Task ABadPolicyIsA400NamingTheProblem(string body, string error)
    {
        var answer = await BodyAsync(await _server.Client.PostAsync("/api/v1/retention", Json(body)), HttpStatusCode.BadRequest);
        Assert.Contains(error, answer.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NamesAreUniqueIdsAreCheckedAndBodiesAreBounded()
    {
        var client = _server.Client;
        await BodyAsync(await client.PostAsync("/api/v1/retention", Json("""{"name":"p","database":"metrics","retention_days":30}""")), HttpStatusCode.Created);
        Assert.Contains("already exists", (await BodyAsync(await client.PostAsync("/api/v1/retention",
            Json("""{"name":"p","database":"other","retention_days":30}""")), HttpStatusCode.BadRequest)).GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("Invalid policy ID", (await BodyAsync(await client.GetAsync("/api/v1/retention/abc"), HttpStatusCode.BadRequest))
            .GetProperty("error").GetString());
        await BodyAsync(await client.GetAsync("/api/v1/retention/999"), HttpStatusCode.NotFound);
        await BodyAsync(await client.PostAsync("/api/v1/retention/999/execute", Json("""{"dry_run":true}""")), HttpStatusCode.NotFound);
        await BodyAsync(await client.GetAsync("/api/v1/retention/999/executions"), HttpStatusCode.NotFound);
        var huge = "{\"name\":\"" + new string('x', 70_000) + "\",\"database\":\"metrics\",\"retention_days\":30}";
        await BodyAsync(await client.PostAsync("/api/v1/retention", Json(huge)), HttpStatusCode.RequestEntityTooLarge);
        var longName = "{\"name\":\"" + new string('x', 300) + "\",\"database\":\"metrics\",\"retention_days\":30}";
        Assert.Contains("longer than", (await BodyAsync(await client.PostAsync("/api/v1/retention", Json(longName)), HttpStatusCode.BadRequest))
            .GetProperty("error").GetString(), StringComparison.Ordinal);
        await BodyAsync(await client.GetAsync("/api/v1/retention/1/executions?limit=0"), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task ADryRunListsTheExpiredFilesAndAConfirmedRunRemovesExactlyThem()
    {
        var client = _server.Client;
        await WriteAsync("cpu,host=old v=1 " + Nanos(2025, 1, 1, 5, 10),      // expired: its hour ended long before the cutoff
                         "cpu,host=edge v=2 " + Nanos(2025, 1, 29, 12, 10),   // its hour holds the cutoff (12:30): the file straddles it,
                         "cpu,host=late v=5 " + Nanos(2025, 1, 29, 12, 40),   // so it is rewritten without this hour's rows before 12:30
                         "cpu,host=new v=3 " + Nanos(2025, 2, 28, 10, 0),     // kept
                         "mem,host=old v=4 " + Nanos(2025, 1, 2, 0, 0));      // expired, but another measurement than the policy's
        Assert.Equal("5", await CountAsync("SELECT (SELECT count(*) FROM metrics.cpu) + (SELECT count(*) FROM metrics.mem)"));
        var filesBefore = _server.ParquetFiles();
        Assert.Equal(4, filesBefore.Length);

        var policy = await BodyAsync(await client.PostAsync("/api/v1/retention", Json(
            """{"name":"cpu-30d","database":"metrics","retention_days":30,"measurement":"cpu","buffer_days":1,"is_active":true}""")), HttpStatusCode.Created);
        var id = policy.GetProperty("id").GetInt64();

        var dry = await BodyAsync(await client.PostAsync($"/api/v1/retention/{id}/execute", Json("""{"dry_run":true,"confirm":false}""")), HttpStatusCode.OK);
        Assert.True(dry.GetProperty("dry_run").GetBoolean());
        Assert.Equal(id, dry.GetProperty("policy_id").GetInt64());
        Assert.Equal("cpu-30d", dry.GetProperty("policy_name").GetString());
        Assert.Equal("2025-01-29T12:30:00Z", dry.GetProperty("cutoff_date").GetString());
        Assert.Equal(1, dry.GetProperty("files_deleted").GetInt32());
        Assert.Equal(2, dry.GetProperty("deleted_count").GetInt64()); // the expired file's row and the straddling file's older one
        Assert.Equal(1, dry.GetProperty("files_partially_expired").GetInt32());
        Assert.Equal(["cpu"], dry.GetProperty("affected_measurements").EnumerateArray().Select(m => m.GetString()));
        var listed = Assert.Single(dry.GetProperty("files").EnumerateArray()).GetString()!;
        Assert.StartsWith("metrics/cpu/2025/01/01/05/", listed, StringComparison.Ordinal);
        Assert.True(dry.GetProperty("bytes_deleted").GetInt64() > 0);
        Assert.Equal(filesBefore, _server.ParquetFiles());
        Assert.Equal("4", await CountAsync("SELECT count(*) FROM metrics.cpu"));
        Assert.Empty((await BodyAsync(await client.GetAsync($"/api/v1/retention/{id}/executions"), HttpStatusCode.OK)).GetProperty("executions").EnumerateArray());

        // Arc's rule: a run that removes needs confirm (the SDK's default is dry_run=True, confirm=False).
        Assert.Equal("Confirmation required for retention policy execution. Set confirm=true", (await BodyAsync(
            await client.PostAsync($"/api/v1/retention/{id}/execute", Json("""{"dry_run":false,"confirm":false}""")), HttpStatusCode.BadRequest))
            .GetProperty("error").GetString());
        await BodyAsync(await client.PostAsync($"/api/v1/retention/{id}/execute", Json("")), HttpStatusCode.BadRequest);
        Assert.Equal(filesBefore, _server.ParquetFiles());

        var run = await BodyAsync(await client.PostAsync($"/api/v1/retention/{id}/execute", Json("""{"dry_run":false,"confirm":true}""")), HttpStatusCode.OK);
        Assert.False(run.GetProperty("dry_run").GetBoolean());
        Assert.Equal(1, run.GetProperty("files_deleted").GetInt32());
        Assert.Equal(2, run.GetProperty("deleted_count").GetInt64());
        Assert.Equal(listed, Assert.Single(run.GetProperty("files").EnumerateArray()).GetString());
        Assert.DoesNotContain(_server.ParquetFiles(), f => f.Replace('\\', '/').EndsWith(listed, StringComparison.Ordinal));
        Assert.Equal(3, _server.ParquetFiles().Length);
        Assert.Equal(["late", "new"], (await _server.RowsAsync("SELECT host FROM metrics.cpu ORDER BY host")).Select(r => r[0]));
        Assert.Equal("1", await CountAsync("SELECT count(*) FROM metrics.mem"));

        _clock.Advance(TimeSpan.FromSeconds(5));
        var again = await BodyAsync(await client.PostAsync($"/api/v1/retention/{id}/execute", Json("""{"dry_run":false,"confirm":true}""")), HttpStatusCode.OK);
        Assert.Equal(0, again.GetProperty("files_deleted").GetInt32());

        var history = await BodyAsync(await client.GetAsync($"/api/v1/retention/{id}/executions?limit=50"), HttpStatusCode.OK);
        Assert.Equal(id, history.GetProperty("policy_id").GetInt64());
        var runs = history.GetProperty("executions").EnumerateArray().ToList();
        Assert.Equal(2, runs.Count);
        Assert.Equal(0, runs[0].GetProperty("files_deleted").GetInt32()); // newest first
        Assert.Equal("completed", runs[1].GetProperty("status").GetString());
        Assert.Equal("manual", runs[1].GetProperty("trigger").GetString());
        Assert.Equal(2, runs[1].GetProperty("deleted_count").GetInt64());
        Assert.Equal(1, runs[1].GetProperty("files_deleted").GetInt32());
        Assert.True(runs[1].GetProperty("bytes_deleted").GetInt64() > 0);
        Assert.Equal("2025-03-01T12:30:00Z", runs[1].GetProperty("execution_time").GetString());
        Assert.Equal("2025-03-01T12:30:00Z", runs[1].GetProperty("finished_at").GetString());
        Assert.Equal("2025-01-29T12:30:00Z", runs[1].GetProperty("cutoff_date").GetString());
        Assert.Equal(JsonValueKind.Null, runs[1].GetProperty("error_message").ValueKind);
        Assert.Single((await BodyAsync(await client.GetAsync($"/api/v1/retention/{id}/executions?limit=1"), HttpStatusCode.OK))
            .GetProperty("executions").EnumerateArray());
        var read = await BodyAsync(await client.GetAsync($"/api/v1/retention/{id}"), HttpStatusCode.OK);
        Assert.Equal("completed", read.GetProperty("last_execution_status").GetString());
        Assert.Equal(0, read.GetProperty("last_deleted_count").GetInt64());

        // A whole-database policy takes every measurement's expired files; an inactive one does not run.
        var all = await BodyAsync(await client.PostAsync("/api/v1/retention", Json(
            """{"name":"all","database":"metrics","retention_days":30,"buffer_days":1,"is_active":false}""")), HttpStatusCode.Created);
        var allId = all.GetProperty("id").GetInt64();
        Assert.Equal("Retention policy is not active", (await BodyAsync(await client.PostAsync($"/api/v1/retention/{allId}/execute",
            Json("""{"confirm":true}""")), HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        await BodyAsync(await client.PutAsync($"/api/v1/retention/{allId}", Json("""{"is_active":true}""")), HttpStatusCode.OK);
        var wholeRun = await BodyAsync(await client.PostAsync($"/api/v1/retention/{allId}/execute", Json("""{"confirm":true}""")), HttpStatusCode.OK);
        Assert.Equal(["cpu", "mem"], wholeRun.GetProperty("affected_measurements").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(1, wholeRun.GetProperty("files_deleted").GetInt32());
        Assert.Equal("0", await CountAsync("SELECT count(*) FROM metrics.mem"));
        Assert.Equal(2, _server.ParquetFiles().Length);
    }

    [Fact]
    public async Task ReadingNeedsReadChangingNeedsAdminRunningNeedsDeleteAndScopesHold()
    {
        var client = _server.Client;
        var metrics = (await BodyAsync(await client.PostAsync("/api/v1/retention", Json(
            """{"name":"m","database":"metrics","retention_days":30}""")), HttpStatusCode.Created)).GetProperty("id").GetInt64();
        await BodyAsync(await client.PostAsync("/api/v1/retention", Json("""{"name":"o","database":"other","retention_days":30}""")), HttpStatusCode.Created);

        using var reader = _server.NewClient(await _server.CreateTokenAsync("reader", ["read"]));
        Assert.Equal(2, (await BodyAsync(await reader.GetAsync("/api/v1/retention"), HttpStatusCode.OK)).GetProperty("count").GetInt32());
        await BodyAsync(await reader.GetAsync($"/api/v1/retention/{metrics}/executions"), HttpStatusCode.OK);
        await BodyAsync(await reader.PostAsync("/api/v1/retention", Json("""{"name":"x","database":"metrics","retention_days":30}""")), HttpStatusCode.Forbidden);
        await BodyAsync(await reader.PostAsync($"/api/v1/retention/{metrics}/execute", Json("""{"dry_run":true}""")), HttpStatusCode.Forbidden);

        using var deleter = _server.NewClient(await _server.CreateTokenAsync("deleter", ["read", "delete"]));
        await BodyAsync(await deleter.PostAsync($"/api/v1/retention/{metrics}/execute", Json("""{"dry_run":false,"confirm":true}""")), HttpStatusCode.OK);
        await BodyAsync(await deleter.PutAsync($"/api/v1/retention/{metrics}", Json("""{"retention_days":40}""")), HttpStatusCode.Forbidden);
        await BodyAsync(await deleter.DeleteAsync($"/api/v1/retention/{metrics}"), HttpStatusCode.Forbidden);

        using var scoped = _server.NewClient(await _server.CreateTokenAsync("scoped", ["read", "delete", "admin"], ["metrics"]));
        var seen = await BodyAsync(await scoped.GetAsync("/api/v1/retention"), HttpStatusCode.OK);
        Assert.Equal(["m"], seen.GetProperty("policies").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        await BodyAsync(await scoped.GetAsync($"/api/v1/retention/{metrics + 1}"), HttpStatusCode.Forbidden);
        await BodyAsync(await scoped.PostAsync($"/api/v1/retention/{metrics + 1}/execute", Json("""{"confirm":true}""")), HttpStatusCode.Forbidden);
        await BodyAsync(await scoped.PostAsync("/api/v1/retention", Json("""{"name":"y","database":"other","retention_days":30}""")), HttpStatusCode.Forbidden);
        await BodyAsync(await scoped.PutAsync($"/api/v1/retention/{metrics}", Json("""{"database":"other"}""")), HttpStatusCode.Forbidden);
        await BodyAsync(await scoped.PutAsync($"/api/v1/retention/{metrics}", Json("""{"retention_days":45}""")), HttpStatusCode.OK);
    }

    private async Task WriteAsync(params string[] lines)
    {
        using var response = await _server.WriteAsync("/write?db=metrics&precision=ns", string.Join('\n', lines) + "\n");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await _server.Server.Engine.CheckpointAsync(); // in Parquet, and out of the write-ahead log
    }

    private async Task<string?> CountAsync(string sql) => (await _server.RowsAsync(sql))[0][0];

    private static long Nanos(int year, int month, int day, int hour, int minute) =>
        (new DateTimeOffset(year, month, day, hour, minute, 0, TimeSpan.Zero) - DateTimeOffset.UnixEpoch).Ticks * 100;
}
