using System.Globalization;
using System.Net;
using static Arc.Native.Tests.ExportTestData;

namespace Arc.Native.Tests;

/// <summary>
/// Export jobs with a <c>parquet</c> target write into a storage connection (here a local directory; the S3 case is in
/// <see cref="ObjectStorageTests"/>): the files are read back by a separate DuckDB and compared row by row.
/// </summary>
public sealed class ExportParquetTests : IAsyncLifetime
{
    private readonly string _archive = Path.Combine(Path.GetTempPath(), "arc-archive-" + Guid.NewGuid().ToString("N"));
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        if (Directory.Exists(_archive))
        {
            Directory.Delete(_archive, recursive: true);
        }
    }

    [Fact]
    public async Task AParquetTargetWritesTheArcLayoutIntoALocalConnectionRowExactly()
    {
        var points = Points(2000, nanos: true);
        await WriteAsync(_server.Client, "expq", "cpu", points.Take(1000));
        await _server.Server.Engine.FlushAsync();
        await WriteAsync(_server.Client, "expq", "cpu", points.Skip(1000));

        // The connection must exist when the job is created, and a job needs one.
        var (status, body) = await PostJsonAsync(_server.Client, "/api/v1/jobs", w =>
        {
            Source(w, "no-connection", "expq", "cpu", 300);
            Target(w, "parquet", ("connection", "archive"));
        });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("no storage connection named 'archive'", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        (status, body) = await PostJsonAsync(_server.Client, "/api/v1/jobs", w =>
        {
            Source(w, "no-connection", "expq", "cpu", 300);
            Target(w, "parquet");
        });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("target.connection is required", body.GetProperty("error").GetString(), StringComparison.Ordinal);

        (status, body) = await PostJsonAsync(_server.Client, "/api/v1/connections/storage", w =>
        {
            w.WriteString("name", "archive");
            w.WriteString("type", "local");
            w.WriteString("path", _archive);
        });
        Assert.True(status == HttpStatusCode.Created, body.ToString());
        var id = await CreateJobAsync(_server.Client, w =>
        {
            Source(w, "archive-cpu", "expq", "cpu", 300);
            Target(w, "parquet", ("connection", "archive"));
        });
        var done = await WaitForJobAsync(_server.Client, id, "completed", "failed");
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        Assert.Equal(points.Count, done.GetProperty("rows_sent").GetInt64());
        Assert.Equal(7, done.GetProperty("batches_sent").GetInt64());
        Assert.Equal("archive", done.GetProperty("target").GetProperty("connection").GetString());

        // One file per batch, in the hour partition of its first row, named by the job; nothing left under a temporary name.
        var files = Directory.GetFiles(_archive, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(_archive, f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(7, files.Count);
        Assert.All(files, f => Assert.Matches($@"^expq/cpu/2023/11/14/22/export_{id}_[0-9a-f]{{24}}\.parquet$", f));

        var glob = Path.Combine(_archive, "expq", "cpu", "*", "*", "*", "*", "*.parquet");
        Assert.Equal(Rows(points), ReadBack(glob));
        var tags = TestServer.ReadParquet($"SELECT DISTINCT decode(value) FROM parquet_kv_metadata('{glob}') WHERE decode(key) = 'arc_tags'");
        Assert.Equal("[\"host\",\"region\"]", Assert.Single(tags)[0]);

        // A connection in use cannot be deleted.
        using (var delete = await _server.Client.DeleteAsync("/api/v1/connections/storage/archive"))
        {
            Assert.Equal(HttpStatusCode.Conflict, delete.StatusCode);
            Assert.Contains(id, await delete.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (await _server.Client.DeleteAsync($"/api/v1/jobs/{id}"))
        {
        }

        using (var delete = await _server.Client.DeleteAsync("/api/v1/connections/storage/archive"))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }
    }

    /// <summary>The exported files' rows in the form of <see cref="ExportTestData.Rows"/>, read by a DuckDB of their own.</summary>
    internal static List<string> ReadBack(string glob) => TestServer
        .ReadParquet($"SELECT epoch_ns(time), host, region, usage, count, unsigned, ok, note FROM read_parquet('{glob}')")
        .Select(r => string.Join('|', r[0], r[1], r[2] ?? "null", R(double.Parse(r[3]!, CultureInfo.InvariantCulture)), r[4], r[5], r[6], r[7] ?? "null"))
        .Order(StringComparer.Ordinal).ToList();
}
