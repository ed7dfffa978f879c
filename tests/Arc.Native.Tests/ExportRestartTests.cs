using System.Globalization;
using Npgsql;
using static Arc.Native.Tests.ExportTestData;

namespace Arc.Native.Tests;

/// <summary>
/// SIGKILL in the middle of export jobs: after a restart the jobs resume from their persisted high-water marks and the
/// targets end up with every row exactly once (PostgreSQL by upsert, HTTP JSON by the stable batch id).
/// </summary>
[Collection(ExportTargetsCollection.Name)]
public sealed class ExportRestartTests(ExportTargetServers targets)
{
    [Fact]
    public async Task KillingTheServerMidJobLeavesNoGapAndNoDuplicateAtTheTargets()
    {
        var root = Path.Combine(Path.GetTempPath(), "arc-export-restart-" + Guid.NewGuid().ToString("N"));
        var environment = new Dictionary<string, string>
        {
            ["ARC_STORAGE_LOCAL_PATH"] = Path.Combine(root, "data"),
            ["ARC_EXPORT_DB_PATH"] = Path.Combine(root, "meta", "export.db"),
            ["ARC_EXPORT_RETRY_BACKOFF_MS"] = "50",
        };
        var points = Points(16_000);
        await using var receiver = new JsonReceiver();
        receiver.HoldAfter(8);

        // The PostgreSQL table exists already (the job uses it as it is) and every insert into it sleeps 40 ms, so the
        // job is certainly in the middle when the server is killed.
        await using (var connection = new NpgsqlConnection(targets.PostgresConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("""
                CREATE TABLE arc_restart ("time" timestamptz NOT NULL, host text NOT NULL DEFAULT '', region text NOT NULL DEFAULT '',
                    "count" bigint, note text, ok boolean, "unsigned" numeric(20,0), usage double precision, PRIMARY KEY (host, region, "time"));
                CREATE FUNCTION arc_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.04); RETURN NULL; END $$;
                CREATE TRIGGER arc_slow BEFORE INSERT ON arc_restart FOR EACH STATEMENT EXECUTE FUNCTION arc_slow();
                """, connection);
            await create.ExecuteNonQueryAsync();
        }

        string pgJob, jsonJob;
        var server = await ServerProcess.StartAsync(environment);
        try
        {
            for (var i = 0; i < points.Count; i += 4000)
            {
                await WriteAsync(server.Client, "restart", "metrics", points.Skip(i).Take(4000));
            }

            pgJob = await CreateJobAsync(server.Client, w =>
            {
                Source(w, "pg-restart", "restart", "metrics", 160);
                w.WriteStartObject("target");
                w.WriteString("type", "postgres");
                w.WriteString("connection_string", targets.PostgresConnectionString);
                w.WriteString("table", "arc_restart");
                w.WriteEndObject();
            });
            jsonJob = await CreateJobAsync(server.Client, w =>
            {
                Source(w, "json-restart", "restart", "metrics", 500);
                w.WriteStartObject("target");
                w.WriteString("type", "http_json");
                w.WriteString("url", receiver.Url + "/restart");
                w.WriteBoolean("gzip", true);
                w.WriteEndObject();
            });

            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var pg = await GetJobAsync(server.Client, pgJob);
                var json = await GetJobAsync(server.Client, jsonJob);
                if (pg.GetProperty("rows_sent").GetInt64() >= 800 && json.GetProperty("rows_sent").GetInt64() >= 8 * 500)
                {
                    Assert.Equal("running", pg.GetProperty("status").GetString());
                    Assert.Equal("running", json.GetProperty("status").GetString());
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, $"jobs made no progress: {pg} {json}");
                await Task.Delay(20);
            }

            server.Kill();
        }
        finally
        {
            await server.DisposeAsync();
        }

        Assert.InRange(await PostgresCountAsync(), 1, points.Count - 1);
        receiver.Release();

        server = await ServerProcess.StartAsync(environment);
        try
        {
            // One-shot jobs that had not finished resume on their own at startup, from their marks.
            var pg = await WaitForJobAsync(server.Client, pgJob, "completed", "failed");
            var json = await WaitForJobAsync(server.Client, jsonJob, "completed", "failed");
            Assert.True(pg.GetProperty("status").GetString() == "completed", pg.ToString());
            Assert.True(json.GetProperty("status").GetString() == "completed", json.ToString());
            Assert.Equal(points[^1].TimeNs, pg.GetProperty("high_water_mark").GetProperty("time_ns").GetInt64());
        }
        finally
        {
            await server.DisposeAsync();
        }

        // PostgreSQL: exactly the written rows (a batch re-sent after the kill was upserted, not duplicated).
        var expected = points.Select(p => $"{p.TimeNs / 1000}|{p.Host}|{p.Region ?? ""}|{R(p.Usage)}|{p.Count}|{p.Unsigned}|{p.Ok}|{p.Note ?? "null"}")
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, await PostgresRowsAsync());

        // HTTP JSON: every row; the batch in flight at the kill may arrive twice, with the same batch id both times.
        var batches = receiver.Accepted("/restart");
        var distinct = batches.GroupBy(b => b.IdempotencyKey).Select(g =>
        {
            Assert.Single(g.Select(b => b.Body.GetProperty("rows").GetRawText()).Distinct());
            return g.First();
        }).ToList();
        var rows = distinct.SelectMany(b => b.Body.GetProperty("rows").EnumerateArray())
            .Select(r => $"{r.GetProperty("time_ns").GetInt64()}|{r.GetProperty("host").GetString()}").ToList();
        Assert.Equal(points.Count, rows.Count);
        Assert.Equal(points.Select(p => $"{p.TimeNs}|{p.Host}").Order(StringComparer.Ordinal), rows.Order(StringComparer.Ordinal));

        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    private async Task<long> PostgresCountAsync()
    {
        await using var connection = new NpgsqlConnection(targets.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM arc_restart", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<List<string>> PostgresRowsAsync()
    {
        await using var connection = new NpgsqlConnection(targets.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT (extract(epoch FROM \"time\") * 1000000)::bigint, host, region, usage, \"count\", \"unsigned\"::text, ok, note FROM arc_restart", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join('|', reader.GetInt64(0), reader.GetString(1), reader.GetString(2), R(reader.GetDouble(3)), reader.GetInt64(4),
                reader.GetString(5), reader.GetBoolean(6).ToString(CultureInfo.InvariantCulture), reader.IsDBNull(7) ? "null" : reader.GetString(7)));
        }

        rows.Sort(StringComparer.Ordinal);
        return rows;
    }
}
