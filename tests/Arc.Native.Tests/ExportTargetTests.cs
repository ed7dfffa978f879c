using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Npgsql;
using static Arc.Native.Tests.ExportTestData;

namespace Arc.Native.Tests;

/// <summary>
/// Export jobs against real servers on loopback (see <see cref="ExportTargetServers"/>): each test writes points to
/// arc-native (part flushed to Parquet, part still buffered), exports them, reads them back from the target and compares
/// them row by row with what was written.
/// </summary>
[Collection(ExportTargetsCollection.Name)]
public sealed class ExportTargetTests(ExportTargetServers targets) : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>Writes half of the points, flushes them to Parquet, and writes the rest (left in the buffer).</summary>
    private async Task WriteSplitAsync(string database, string measurement, List<ExportPoint> points, bool withStrings = true)
    {
        await WriteAsync(_server.Client, database, measurement, points.Take(points.Count / 2), withStrings);
        await _server.Server.Engine.FlushAsync();
        await WriteAsync(_server.Client, database, measurement, points.Skip(points.Count / 2), withStrings);
    }

    [Fact]
    public async Task InfluxDb1xReceivesEveryRowExactlyWithNanosecondsAndRejectsBadCredentialsPermanently()
    {
        var points = Points(2000, nanos: true);
        await WriteSplitAsync("exp1", "cpu", points);
        await targets.InfluxQueryAsync("CREATE DATABASE arc_export");

        // Wrong password: InfluxDB answers 401, a permanent error shown on the job (no retries, paused until resumed).
        var bad = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "influx-bad-auth", "exp1", "cpu", 300);
            Target(w, "influx1x", ("url", targets.InfluxUrl), ("database", "arc_export"), ("username", ExportTargetServers.InfluxUser),
                ("password", "wrong"));
        });
        var failed = await WaitForJobAsync(_server.Client, bad, "failed");
        Assert.True(failed.GetProperty("error_permanent").GetBoolean());
        Assert.Contains("401", failed.GetProperty("last_error").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, failed.GetProperty("rows_sent").GetInt64());

        var good = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "influx", "exp1", "cpu", 300);
            Target(w, "influx1x", ("url", targets.InfluxUrl), ("database", "arc_export"), ("username", ExportTargetServers.InfluxUser),
                ("password", ExportTargetServers.InfluxPassword));
        });
        var filtered = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "influx-h1", "exp1", "cpu", 77, filter: "host = 'h1' AND usage > 10");
            Target(w, "influx1x", ("url", targets.InfluxUrl), ("database", "arc_export"), ("username", ExportTargetServers.InfluxUser),
                ("password", ExportTargetServers.InfluxPassword), ("measurement", "cpu_h1"));
        });
        var done = await WaitForJobAsync(_server.Client, good, "completed", "failed");
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        Assert.Equal(points.Count, done.GetProperty("rows_sent").GetInt64());
        Assert.Equal(7, done.GetProperty("batches_sent").GetInt64());
        Assert.Equal(points[^1].TimeNs, done.GetProperty("high_water_mark").GetProperty("time_ns").GetInt64());
        Assert.True(done.GetProperty("target").GetProperty("password_set").GetBoolean());
        Assert.DoesNotContain(ExportTargetServers.InfluxPassword, done.ToString(), StringComparison.Ordinal);
        await WaitForJobAsync(_server.Client, filtered, "completed");

        Assert.Equal(Rows(points), await InfluxRowsAsync("cpu"));
        Assert.Equal(Rows(points.Where(p => p.Host == "h1" && p.Usage > 10)), await InfluxRowsAsync("cpu_h1"));
    }

    private async Task<List<string>> InfluxRowsAsync(string measurement)
    {
        var json = JsonDocument.Parse(await targets.InfluxQueryAsync($"SELECT * FROM \"{measurement}\"", "arc_export")).RootElement;
        var series = json.GetProperty("results")[0].GetProperty("series")[0];
        var columns = series.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!).ToList();
        string Cell(JsonElement row, string name) => row[columns.IndexOf(name)] is { ValueKind: JsonValueKind.String } s ? s.GetString()! : row[columns.IndexOf(name)].GetRawText();
        return series.GetProperty("values").EnumerateArray()
            .Select(row => string.Join('|', Cell(row, "time"), Cell(row, "host"), Cell(row, "region"), R(row[columns.IndexOf("usage")].GetDouble()),
                Cell(row, "count"), Cell(row, "unsigned"), Cell(row, "ok"), Cell(row, "note")))
            .Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task InfluxDb2xWriteApiOfVictoriaMetricsReceivesEveryRowExactly()
    {
        var points = Points(2000, withStrings: false);
        await WriteSplitAsync("exp2", "mem", points, withStrings: false);
        var id = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "victoria", "exp2", "mem", 250);
            Target(w, "influx2x", ("url", targets.VictoriaUrl), ("org", "arc"), ("bucket", "exports"), ("token", "vm-token-secret"));
        });
        var done = await WaitForJobAsync(_server.Client, id, "completed", "failed");
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        Assert.True(done.GetProperty("target").GetProperty("token_set").GetBoolean());
        Assert.DoesNotContain("vm-token-secret", done.ToString(), StringComparison.Ordinal);

        // VictoriaMetrics stores one series per field, named {measurement}_{field}, at millisecond precision.
        var expected = points.SelectMany(p => new[]
        {
            ("usage", R(p.Usage)), ("count", R(p.Count)), ("unsigned", R(p.Unsigned)), ("ok", p.Ok ? "1" : "0"),
        }.Select(f => $"mem_{f.Item1}|{p.Host}|{p.Region ?? "-"}|{p.TimeNs / 1_000_000}|{f.Item2}")).Order(StringComparer.Ordinal).ToList();

        using (await targets.Http.GetAsync(targets.VictoriaUrl + "/internal/force_flush"))
        {
        }

        using var response = await targets.Http.PostAsync(targets.VictoriaUrl + "/api/v1/export",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["match[]"] = "{__name__=~\"mem_.*\"}", ["start"] = "0" }));
        var actual = new List<string>();
        foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var series = JsonDocument.Parse(line).RootElement;
            var metric = series.GetProperty("metric");
            var labels = metric.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
            Assert.True(labels.All(l => l is "__name__" or "host" or "region"), $"unexpected labels: {metric}");
            var name = metric.GetProperty("__name__").GetString();
            var host = metric.GetProperty("host").GetString();
            var region = metric.TryGetProperty("region", out var r) ? r.GetString() : "-";
            var values = series.GetProperty("values").EnumerateArray().ToList();
            var times = series.GetProperty("timestamps").EnumerateArray().ToList();
            actual.AddRange(values.Select((v, i) => $"{name}|{host}|{region}|{times[i].GetInt64()}|{R(v.GetDouble())}"));
        }

        actual.Sort(StringComparer.Ordinal);
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public async Task PostgresTableIsCreatedUpsertedExtendedAndRowExact()
    {
        var points = Points(2000);
        await WriteSplitAsync("exp3", "pgcpu", points);
        var id = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "postgres", "exp3", "pgcpu", 333);
            Target(w, "timescale", ("connection_string", targets.PostgresConnectionString), ("table", "arc_pgcpu"));
        });
        var done = await WaitForJobAsync(_server.Client, id, "completed", "failed");
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var shown = done.GetProperty("target").GetProperty("connection_string").GetString()!;
        Assert.DoesNotContain("Password", shown, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(ExportTargetServers.PostgresPassword, done.ToString(), StringComparison.Ordinal);
        Assert.Equal(ExpectedPg(points, withDc: false), await PostgresRowsAsync("arc_pgcpu", withDc: false));

        // New rows bring a new tag and a new field: the table gains the columns (and the key the tag), and a second run of
        // the completed one-shot job sends only what is new (plus at most the rows at the mark's time, upserted). Key columns: tags by name.
        var more = Points(100, start: 2000).Select(p => p with { TimeNs = p.TimeNs }).ToList();
        var text = new StringBuilder(LineProtocol("pgcpu", more));
        text.Append(CultureInfo.InvariantCulture, $"pgcpu,host=h9,dc=fra extra=42i,usage=1.5 {more[^1].TimeNs + 1000}\n");
        using (var write = await _server.Client.PostAsync("/write?db=exp3", new StringContent(text.ToString())))
        {
            Assert.Equal(HttpStatusCode.NoContent, write.StatusCode);
        }

        using (var run = await _server.Client.PostAsync($"/api/v1/jobs/{id}/run", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, run.StatusCode);
        }

        // The run is marked running before the 202: no wait needed to see its own completion.
        done = await WaitForJobAsync(_server.Client, id, "completed", "failed");
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var all = points.Concat(more).ToList();
        var expected = ExpectedPg(all, withDc: true);
        expected.Add($"{(more[^1].TimeNs + 1000) / 1000}|h9||1.5|null|null|null|null|fra|42");
        expected.Sort(StringComparer.Ordinal);
        Assert.Equal(expected, await PostgresRowsAsync("arc_pgcpu", withDc: true));

        await using var connection = new NpgsqlConnection(targets.PostgresConnectionString);
        await connection.OpenAsync();
        await using var key = new NpgsqlCommand(
            "SELECT string_agg(a.attname, ',' ORDER BY array_position(c.conkey, a.attnum)) FROM pg_constraint c " +
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) WHERE c.conrelid = 'arc_pgcpu'::regclass AND c.contype = 'p'",
            connection);
        Assert.Equal("dc,host,region,time", (string)(await key.ExecuteScalarAsync())!);
    }

    private static List<string> ExpectedPg(IEnumerable<ExportPoint> points, bool withDc) => points
        .Select(p => $"{p.TimeNs / 1000}|{p.Host}|{p.Region ?? ""}|{R(p.Usage)}|{p.Count}|{p.Unsigned}|{(p.Ok ? "True" : "False")}|{p.Note ?? "null"}" +
                     (withDc ? "||null" : ""))
        .Order(StringComparer.Ordinal).ToList();

    private async Task<List<string>> PostgresRowsAsync(string table, bool withDc)
    {
        await using var connection = new NpgsqlConnection(targets.PostgresConnectionString);
        await connection.OpenAsync();
        var sql = "SELECT (extract(epoch FROM \"time\") * 1000000)::bigint, host, region, usage, \"count\", \"unsigned\"::text, ok, note" +
                  (withDc ? ", dc, extra" : "") + $" FROM {table}";
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            var cells = new List<string>();
            for (var i = 0; i < reader.FieldCount; i++)
            {
                cells.Add(reader.IsDBNull(i) ? "null" : reader.GetValue(i) switch
                {
                    double d => R(d),
                    IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                    var v => v.ToString()!,
                });
            }

            rows.Add(string.Join('|', cells));
        }

        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    [Fact]
    public async Task HttpJsonPostsBatchesWithHeadersRetriesTransientFailuresAndStopsOnPermanentOnes()
    {
        var points = Points(500);
        await WriteSplitAsync("exp4", "events", points);
        await using var receiver = new JsonReceiver();
        receiver.FailNext("/flaky", 2, HttpStatusCode.ServiceUnavailable);
        var id = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "json", "exp4", "events", 120);
            Target(w, "http_json", ("url", receiver.Url + "/flaky"));
        });
        var done = await WaitForJobAsync(_server.Client, id, "completed", "failed");
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        Assert.Contains("503", done.GetProperty("last_error").GetString(), StringComparison.Ordinal); // retried, then succeeded
        Assert.Equal(["Authorization", "X-Tenant"], done.GetProperty("target").GetProperty("header_names").EnumerateArray().Select(h => h.GetString()));
        Assert.DoesNotContain("json-secret", done.ToString(), StringComparison.Ordinal);

        var batches = receiver.Accepted("/flaky");
        Assert.Equal(5, batches.Count);
        Assert.All(batches, b =>
        {
            Assert.Equal("Bearer json-secret", b.Authorization);
            Assert.Equal("acme", b.Tenant);
            Assert.Equal(b.Body.GetProperty("batch_id").GetString(), b.IdempotencyKey);
            Assert.Equal(id, b.Body.GetProperty("job_id").GetString());
        });
        var actual = batches.SelectMany(b => b.Body.GetProperty("rows").EnumerateArray()).Select(row => string.Join('|',
                row.GetProperty("time_ns").GetInt64(), row.GetProperty("time").GetString(), row.GetProperty("host").GetString(),
                row.TryGetProperty("region", out var region) ? region.GetString() : "null", R(row.GetProperty("usage").GetDouble()),
                row.GetProperty("count").GetInt64(), row.GetProperty("unsigned").GetUInt64(), row.GetProperty("ok").GetBoolean(),
                row.TryGetProperty("note", out var note) ? note.GetString() : "null"))
            .Order(StringComparer.Ordinal).ToList();
        var expected = points.Select(p => string.Join('|', p.TimeNs,
                DateTime.UnixEpoch.AddTicks(p.TimeNs / 100).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture),
                p.Host, p.Region ?? "null", R(p.Usage), p.Count, p.Unsigned, p.Ok, p.Note ?? "null"))
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, actual);

        // A 4xx is permanent: the job fails at once (no retries) and says why; /jobs is the same API.
        receiver.FailNext("/reject", int.MaxValue, HttpStatusCode.UnprocessableEntity);
        var rejected = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "json-reject", "exp4", "events", 120);
            Target(w, "http_json", ("url", receiver.Url + "/reject"));
        }, "/jobs");
        var failed = await WaitForJobAsync(_server.Client, rejected, "failed");
        Assert.True(failed.GetProperty("error_permanent").GetBoolean());
        Assert.Contains("422", failed.GetProperty("last_error").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, receiver.Attempts("/reject"));
        Assert.Equal(0, failed.GetProperty("rows_sent").GetInt64());
    }
}
