using System.Globalization;
using System.Net;
using System.Text.Json;
using static Arc.Native.Tests.TestServer;

namespace Arc.Native.Tests;

/// <summary>
/// <c>POST /api/v1/delete</c> with the request shapes of Arc's Python SDK (<c>DeleteClient.delete</c>): dry runs, Arc's
/// confirmation rules, the disabled answer, the <c>where</c> checks on DuckDB's parse tree, permissions, and rows deleted
/// from files, buffers and the write-ahead log, read back through SQL and from the Parquet files with DuckDB.
/// </summary>
public sealed class DeleteApiTests
{
    private const long T0 = 1_700_000_000_000_000_000;
    private const long Hour = 3_600_000_000_000;

    [Fact]
    public async Task ADeleteRemovesMatchingRowsFromFilesBuffersAndTheLogAndNothingElse()
    {
        await using var server = await TestServer.StartAsync(c => c.DeleteEnabled = true);
        await WriteAsync(server.Client, Lines(0, 200));
        await server.Server.Engine.FlushAsync(); // in files
        await WriteAsync(server.Client, Lines(200, 100)); // buffered, and in the write-ahead log

        var dry = await BodyAsync(await DeleteAsync(server.Client, "host = 'h1'", dryRun: true, confirm: false), HttpStatusCode.OK);
        Assert.True(dry.GetProperty("success").GetBoolean());
        Assert.True(dry.GetProperty("dry_run").GetBoolean());
        Assert.Equal(100, dry.GetProperty("deleted_count").GetInt64());
        Assert.Equal(0, dry.GetProperty("rewritten_files").GetInt32());
        Assert.Equal(dry.GetProperty("affected_files").GetInt32(), dry.GetProperty("files_processed").GetArrayLength());
        Assert.Equal([["300"]], await server.RowsAsync("SELECT count(*) FROM cpu", "db"));

        var done = await BodyAsync(await DeleteAsync(server.Client, "host = 'h1'", dryRun: false, confirm: true), HttpStatusCode.OK);
        Assert.True(done.GetProperty("success").GetBoolean());
        Assert.False(done.GetProperty("dry_run").GetBoolean());
        Assert.Equal(100, done.GetProperty("deleted_count").GetInt64());
        Assert.True(done.GetProperty("rewritten_files").GetInt32() >= 4, done.ToString()); // one hour partition each at least
        Assert.Equal([["200", "200", "0"]], await server.RowsAsync("SELECT count(*), count(DISTINCT seq), count(*) FILTER (WHERE host = 'h1') FROM cpu", "db"));

        // A time predicate (compared as TIMESTAMP_NS, like queries) and one over a column only some rows have.
        var early = await BodyAsync(await DeleteAsync(server.Client, "time < '2023-11-14T22:13:20.000009Z' AND seq < 10", dryRun: false, confirm: true),
            HttpStatusCode.OK);
        Assert.Equal(2, early.GetProperty("deleted_count").GetInt64()); // seq 0 and 8 (4 was an h1 row)
        Assert.Equal(5, (await BodyAsync(await DeleteAsync(server.Client, "seq < 10", dryRun: false, confirm: true), HttpStatusCode.OK))
            .GetProperty("deleted_count").GetInt64());
        await WriteAsync(server.Client, "cpu,host=h9 seq=1000i,extra=5i " + (T0 + 5).ToString(CultureInfo.InvariantCulture) + "\n");
        var extra = await BodyAsync(await DeleteAsync(server.Client, "extra = 5", dryRun: false, confirm: true), HttpStatusCode.OK);
        Assert.Equal(1, extra.GetProperty("deleted_count").GetInt64());
        var survivors = await server.RowsAsync("SELECT count(*), count(DISTINCT seq), min(seq) FROM cpu", "db");
        Assert.Equal([["193", "193", "11"]], survivors); // seq 10 was an h1 row

        // The files alone, read by another DuckDB, say the same; a restart replays nothing the delete removed from the log.
        var glob = Path.Combine(server.DataPath, "db", "cpu", "**", "*.parquet");
        Assert.Equal("193", TestServer.ReadParquet($"SELECT count(*) FROM read_parquet('{glob}', union_by_name = true)")[0][0]);
        Assert.Equal("0", TestServer.ReadParquet($"SELECT count(*) FROM read_parquet('{glob}', union_by_name = true) WHERE host = 'h1'")[0][0]);
        await using var restarted = await server.RestartAsync(c => c.DeleteEnabled = true);
        Assert.Equal(survivors, await restarted.RowsAsync("SELECT count(*), count(DISTINCT seq), min(seq) FROM cpu", "db"));
        Assert.Empty(Directory.GetFiles(Path.Combine(restarted.DataPath, ".deletes")));
    }

    [Fact]
    public async Task ConfirmationRulesLimitsConfigAndTheDisabledAnswerAreArcs()
    {
        await using (var disabled = await TestServer.StartAsync())
        {
            var refused = await BodyAsync(await DeleteAsync(disabled.Client, "host = 'h1'", dryRun: true, confirm: false), HttpStatusCode.Forbidden);
            Assert.False(refused.GetProperty("success").GetBoolean());
            Assert.Equal("Delete operations are disabled. Set delete.enabled=true in arc.toml to enable.", refused.GetProperty("error").GetString());
            Assert.False((await BodyAsync(await disabled.Client.GetAsync("/api/v1/delete/config"), HttpStatusCode.OK)).GetProperty("enabled").GetBoolean());
        }

        await using var server = await TestServer.StartAsync(c =>
        {
            c.DeleteEnabled = true;
            c.DeleteConfirmationThreshold = 5;
            c.DeleteMaxRows = 50;
        });
        var client = server.Client;
        await WriteAsync(client, Lines(0, 100));
        var config = await BodyAsync(await client.GetAsync("/api/v1/delete/config"), HttpStatusCode.OK);
        Assert.True(config.GetProperty("enabled").GetBoolean());
        Assert.Equal(5, config.GetProperty("confirmation_threshold").GetInt64());
        Assert.Equal(50, config.GetProperty("max_rows_per_delete").GetInt64());
        Assert.Equal("rewrite-based", config.GetProperty("implementation").GetString());
        Assert.Equal("expensive (file rewrites)", config.GetProperty("performance_impact").GetProperty("deletes").GetString());

        Assert.Contains("WHERE clause is required", await ErrorAsync(client, "", true, false), StringComparison.Ordinal);
        Assert.Contains("Full table delete detected", await ErrorAsync(client, "1=1", true, false), StringComparison.Ordinal);
        Assert.Contains("Full table delete detected", await ErrorAsync(client, "true AND (2 > 1)", false, false), StringComparison.Ordinal);
        Assert.Contains("Confirmation required", await ErrorAsync(client, "host = 'h1'", false, false), StringComparison.Ordinal);
        Assert.Contains("Delete would affect 33 rows (threshold: 5)", await ErrorAsync(client, "host = 'h1'", true, false), StringComparison.Ordinal);
        Assert.Contains("exceeding maximum of 50", await ErrorAsync(client, "seq >= 0", false, true), StringComparison.Ordinal);
        Assert.Contains("exceeding maximum of 50", await ErrorAsync(client, "1=1", false, true), StringComparison.Ordinal);
        await BodyAsync(await client.PostAsync("/api/v1/delete", Json("{\"measurement\":\"cpu\",\"where\":\"seq = 1\"}")), HttpStatusCode.BadRequest);
        await BodyAsync(await client.PostAsync("/api/v1/delete", Json("not json")), HttpStatusCode.BadRequest);
        await BodyAsync(await client.PostAsync("/api/v1/delete", Json("{\"database\":\"db\",\"measurement\":\"nope\",\"where\":\"seq = 1\",\"confirm\":true}")),
            HttpStatusCode.NotFound);
        Assert.Equal([["100"]], await server.RowsAsync("SELECT count(*) FROM cpu", "db"));

        var confirmedDryRun = await BodyAsync(await DeleteAsync(client, "host = 'h1'", dryRun: true, confirm: true), HttpStatusCode.OK);
        Assert.Equal(33, confirmedDryRun.GetProperty("deleted_count").GetInt64());
        Assert.Equal(33, (await BodyAsync(await DeleteAsync(client, "host = 'h1'", dryRun: false, confirm: true), HttpStatusCode.OK))
            .GetProperty("deleted_count").GetInt64());
        Assert.Equal([["67"]], await server.RowsAsync("SELECT count(*) FROM cpu", "db"));
    }

    [Fact]
    public async Task WhereIsAnExpressionOverTheMeasurementsColumnsCheckedOnDuckDbsParseTree()
    {
        await using var server = await TestServer.StartAsync(c => c.DeleteEnabled = true);
        var client = server.Client;
        await WriteAsync(client, Lines(0, 30));
        await WriteAsync(client, "other,host=h1 v=1i 1\n");
        foreach (var (where, expected) in new[]
                 {
                     ("nosuch = 1", "nosuch"), // DuckDB's binder: the measurement has no such column
                     ("host = ", "syntax error"),
                     ("host IN (SELECT host FROM db.other)", "subquery"),
                     ("EXISTS (SELECT * FROM read_csv('/etc/passwd'))", "subquery"),
                     ("seq IN (SELECT v FROM other)", "subquery"),
                     ("other.v = 1", "other"),
                     ("random() < 0.5", "random"),
                     ("current_setting('temp_directory') = 'x'", "current_setting"),
                     ("host = 'h1'; DROP TABLE db.cpu", "invalid where"),
                     ("host = 'h1' UNION SELECT * FROM db.other", "single boolean expression"),
                     ("host = 'h1' ORDER BY seq", "single boolean expression"),
                 })
        {
            Assert.Contains(expected, await ErrorAsync(client, where, true, true), StringComparison.OrdinalIgnoreCase);
        }

        foreach (var (permissions, databases) in new[] { (new[] { "read", "write" }, (string[]?)null), (["delete"], ["elsewhere"]) })
        {
            using var limited = server.NewClient(await server.CreateTokenAsync("t" + permissions.Length + databases?.Length, permissions, databases));
            await BodyAsync(await DeleteAsync(limited, "host = 'h1'", dryRun: false, confirm: true), HttpStatusCode.Forbidden);
        }

        Assert.Equal([["30"]], await server.RowsAsync("SELECT count(*) FROM cpu", "db"));
        using var deleter = server.NewClient(await server.CreateTokenAsync("deleter", ["delete"], ["db"]));
        Assert.Equal(10, (await BodyAsync(await DeleteAsync(deleter, "host = 'h1' OR seq < 0", dryRun: false, confirm: true),
            HttpStatusCode.OK)).GetProperty("deleted_count").GetInt64());
        Assert.Equal([["20"]], await server.RowsAsync("SELECT count(*) FROM cpu", "db"));
    }

    internal static string Lines(int first, int count) =>
        string.Concat(Enumerable.Range(first, count).Select(i =>
            $"cpu,host=h{i % 3} seq={i}i {(T0 + (i % 4 * Hour) + i).ToString(CultureInfo.InvariantCulture)}\n"));

    internal static async Task WriteAsync(HttpClient client, string lines)
    {
        using var response = await client.PostAsync("/write?db=db", new StringContent(lines));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    /// <summary>The SDK's request: <c>{database, measurement, where, dry_run, confirm}</c>.</summary>
    internal static Task<HttpResponseMessage> DeleteAsync(HttpClient client, string where, bool dryRun, bool confirm, string measurement = "cpu") =>
        client.PostAsync("/api/v1/delete", Json(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["database"] = "db",
            ["measurement"] = measurement,
            ["where"] = where,
            ["dry_run"] = dryRun,
            ["confirm"] = confirm,
        }, DeleteTestJson.Default.DictionaryStringObject)));

    private static async Task<string> ErrorAsync(HttpClient client, string where, bool dryRun, bool confirm)
    {
        var body = await BodyAsync(await DeleteAsync(client, where, dryRun, confirm), HttpStatusCode.BadRequest);
        Assert.False(body.GetProperty("success").GetBoolean());
        return body.GetProperty("error").GetString()!;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(bool))]
internal sealed partial class DeleteTestJson : System.Text.Json.Serialization.JsonSerializerContext;
