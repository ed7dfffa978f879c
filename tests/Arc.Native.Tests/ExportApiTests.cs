using System.Net;
using System.Text;
using System.Text.Json;
using static Arc.Native.Tests.ExportTestData;

namespace Arc.Native.Tests;

/// <summary>The jobs and storage connections API without external servers: validation, lifecycle, secrets, persistence.</summary>
public sealed class ExportApiTests : IAsyncLifetime
{
    private const string S3Key = "AKIA-export-test-key-id";
    private const string S3Secret = "s3-secret-do-not-leak-0123456789";
    private const string JobPassword = "job-password-do-not-leak";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task StorageConnectionsKeepCredentialsEncryptedAndWriteOnly()
    {
        var (status, created) = await PostJsonAsync(_server.Client, "/api/v1/connections/storage", w =>
        {
            w.WriteString("name", "archive");
            w.WriteString("type", "s3");
            w.WriteString("bucket", "arc-archive");
            w.WriteString("region", "eu-west-1");
            w.WriteString("endpoint", "http://127.0.0.1:9000");
            w.WriteBoolean("path_style", true);
            w.WriteString("access_key_id", S3Key);
            w.WriteString("secret_access_key", S3Secret);
        });
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.True(created.GetProperty("secret_access_key_set").GetBoolean());
        Assert.True(created.GetProperty("access_key_id_set").GetBoolean());
        Assert.Equal(HttpStatusCode.Created, (await PostJsonAsync(_server.Client, "/connections/storage", w =>
        {
            w.WriteString("name", "local-backup");
            w.WriteString("type", "local");
            w.WriteString("path", "/var/backups/arc");
        })).Status);

        Assert.Equal(HttpStatusCode.Conflict, (await PostJsonAsync(_server.Client, "/api/v1/connections/storage", w =>
        {
            w.WriteString("name", "archive");
            w.WriteString("type", "local");
            w.WriteString("path", "/tmp/x");
        })).Status);
        foreach (var invalid in new Action<Utf8JsonWriter>[]
                 {
                     w => w.WriteString("type", "local"),
                     w => { w.WriteString("name", "x"); w.WriteString("type", "ftp"); },
                     w => { w.WriteString("name", "rel"); w.WriteString("type", "local"); w.WriteString("path", "relative/dir"); },
                     w => { w.WriteString("name", "half"); w.WriteString("type", "s3"); w.WriteString("bucket", "abc"); w.WriteString("access_key_id", "k"); },
                 })
        {
            var (badStatus, body) = await PostJsonAsync(_server.Client, "/api/v1/connections/storage", invalid);
            Assert.True(badStatus == HttpStatusCode.BadRequest, body.ToString());
        }

        var list = await GetTextAsync("/api/v1/connections/storage");
        Assert.Contains("arc-archive", list, StringComparison.Ordinal);
        Assert.Contains("/var/backups/arc", list, StringComparison.Ordinal);
        Assert.DoesNotContain(S3Secret, list, StringComparison.Ordinal);
        Assert.DoesNotContain(S3Key, list, StringComparison.Ordinal);
        var one = await GetTextAsync("/connections/storage/archive");
        Assert.DoesNotContain(S3Secret, one, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Client.GetAsync("/api/v1/connections/storage/nope")).StatusCode);

        // A job with a password, to check job secrets on disk too.
        var job = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "sealed", "db", "m", 10);
            w.WriteString("schedule", "0 0 1 1 *");
            w.WriteStartObject("target");
            w.WriteString("type", "influx1x");
            w.WriteString("url", "http://127.0.0.1:9/");
            w.WriteString("database", "x");
            w.WriteString("username", "u");
            w.WriteString("password", JobPassword);
            w.WriteEndObject();
        });

        // Across a restart the connections and the job are still there, and neither secret is in the store's files.
        _server = await _server.RestartAsync();
        var exportDb = Path.Combine(_server.Root, "auth", "export.db");
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(exportDb)!, "export.db*"))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            foreach (var secret in new[] { S3Secret, S3Key, JobPassword })
            {
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0, $"{secret} found in {file}");
            }
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(exportDb + ".key"));
        }

        Assert.True(JsonDocument.Parse(await GetTextAsync("/api/v1/connections/storage/archive")).RootElement.GetProperty("secret_access_key_set").GetBoolean());
        var reloaded = await GetJobAsync(_server.Client, job);
        Assert.True(reloaded.GetProperty("target").GetProperty("password_set").GetBoolean());
        Assert.Equal("scheduled", reloaded.GetProperty("status").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await _server.Client.DeleteAsync("/api/v1/connections/storage/archive")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Client.GetAsync("/api/v1/connections/storage/archive")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Client.DeleteAsync("/api/v1/connections/storage/archive")).StatusCode);
    }

    [Fact]
    public async Task JobsAreValidatedAndCanBePausedResumedAndDeleted()
    {
        var invalid = new (string Expect, Action<Utf8JsonWriter> Body)[]
        {
            ("name", w => Target(w, "http_json")),
            ("source", w => { w.WriteString("name", "x"); Target(w, "http_json"); }),
            ("measurement", w => { Source(w, "x", "db", "bad name", 10); Target(w, "http_json"); }),
            ("database", w => { Source(w, "x", "system", "m", 10); Target(w, "http_json"); }),
            ("filter", w => { Source(w, "x", "db", "m", 10, filter: "1; DROP TABLE t"); Target(w, "http_json"); }),
            ("filter", w => { Source(w, "x", "db", "m", 10, filter: "v IN (SELECT 1)"); Target(w, "http_json"); }),
            ("schedule", w => { Source(w, "x", "db", "m", 10); w.WriteString("schedule", "every minute"); Target(w, "http_json"); }),
            ("batch_size", w => { Source(w, "x", "db", "m", 0); Target(w, "http_json"); }),
            ("batch_size", w => { Source(w, "x", "db", "m", int.MaxValue); Target(w, "http_json"); }),
            ("batch_size", w => { Source(w, "x", "db", "m", long.MaxValue); Target(w, "http_json"); }),
            ("min_age_seconds", w => { Source(w, "x", "db", "m", 10, minAgeSeconds: int.MaxValue); Target(w, "http_json"); }),
            ("min_age_seconds", w => { Source(w, "x", "db", "m", 10, minAgeSeconds: long.MaxValue); Target(w, "http_json"); }),
            ("min_age_seconds", w => { Source(w, "x", "db", "m", 10, minAgeSeconds: -1); Target(w, "http_json"); }),
            ("target.type", w => { Source(w, "x", "db", "m", 10); Target(w, "kafka"); }),
            ("target.url", w => { Source(w, "x", "db", "m", 10); Target(w, "influx1x", url: "ftp://x", database: "d"); }),
            ("target.database", w => { Source(w, "x", "db", "m", 10); Target(w, "influx1x"); }),
            ("target.bucket", w => { Source(w, "x", "db", "m", 10); Target(w, "influx2x"); }),
            ("connection_string", w => { Source(w, "x", "db", "m", 10); Target(w, "timescale", url: null); }),
        };
        foreach (var (expect, body) in invalid)
        {
            var (status, error) = await PostJsonAsync(_server.Client, "/api/v1/jobs", body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{expect}: {(int)status} {error}");
            Assert.Contains(expect, error.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        using (var notJson = await _server.Client.PostAsync("/api/v1/jobs", new StringContent("{nope", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        }

        // A yearly job on a closed port: scheduled, never run during the test.
        var id = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "yearly", "db", "m", 10);
            w.WriteString("schedule", "0 0 1 1 *");
            Target(w, "http_json");
        });
        var job = await GetJobAsync(_server.Client, id);
        Assert.Equal("scheduled", job.GetProperty("status").GetString());
        Assert.True(job.GetProperty("next_run").GetDateTime() > DateTime.UtcNow);
        Assert.Equal(JsonValueKind.Null, job.GetProperty("high_water_mark").ValueKind);

        var paused = await PostAsync($"/api/v1/jobs/{id}/pause");
        Assert.Equal("paused", paused.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, paused.GetProperty("next_run").ValueKind);
        Assert.Equal("scheduled", (await PostAsync($"/jobs/{id}/resume")).GetProperty("status").GetString());
        Assert.Contains(id, await GetTextAsync("/jobs"), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.NoContent, (await _server.Client.DeleteAsync($"/api/v1/jobs/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Client.GetAsync($"/api/v1/jobs/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Client.PostAsync($"/api/v1/jobs/{id}/run", null)).StatusCode);
    }

    [Fact]
    public async Task AOneShotJobOnAMeasurementWithoutDataCompletesWithNothingSentAndLaterRunsSendOnlyOldEnoughRows()
    {
        await using var receiver = new JsonReceiver();
        var id = await CreateJobAsync(_server.Client, w =>
        {
            w.WriteString("name", "horizon");
            w.WriteStartObject("source");
            w.WriteString("database", "fresh");
            w.WriteString("measurement", "m");
            w.WriteEndObject();
            w.WriteNumber("min_age_seconds", 3600);
            Target(w, "http_json", url: receiver.Url + "/h");
        });
        var done = await WaitForJobAsync(_server.Client, id, "completed");
        Assert.Equal(0, done.GetProperty("rows_sent").GetInt64());

        // One row an hour and a half old, one from now: only the first is older than min_age_seconds.
        var old = (DateTime.UtcNow.AddMinutes(-90) - DateTime.UnixEpoch).Ticks * 100;
        var now = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        using (var write = await _server.Client.PostAsync("/write?db=fresh", new StringContent($"m,host=a v=1 {old}\nm,host=a v=2 {now}\n")))
        {
            Assert.Equal(HttpStatusCode.NoContent, write.StatusCode);
        }

        await PostAsync($"/api/v1/jobs/{id}/run", HttpStatusCode.Accepted);
        // The run is marked running before the 202: no wait needed to see its own completion.
        done = await WaitForJobAsync(_server.Client, id, "completed");
        Assert.Equal(1, done.GetProperty("rows_sent").GetInt64());
        Assert.Equal(old, done.GetProperty("high_water_mark").GetProperty("time_ns").GetInt64());
        Assert.Single(receiver.Accepted("/h"));
    }

    private static void Target(Utf8JsonWriter w, string type, string? url = "http://127.0.0.1:9/", string? database = null)
    {
        w.WriteStartObject("target");
        w.WriteString("type", type);
        if (url is not null)
        {
            w.WriteString("url", url);
        }

        if (database is not null)
        {
            w.WriteString("database", database);
        }

        w.WriteEndObject();
    }

    private async Task<string> GetTextAsync(string path)
    {
        using var response = await _server.Client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {text}");
        return text;
    }

    private async Task<JsonElement> PostAsync(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await _server.Client.PostAsync(path, null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
