using System.Net;
using System.Text.Json;
using static Arc.Native.Tests.QueryOutputHelpers;

namespace Arc.Native.Tests;

public sealed class EstimateAndMeasurementTests(QueryOutputFixture fixture) : IClassFixture<QueryOutputFixture>
{
    private const string Estimate = "/api/v1/query/estimate";
    private readonly TestServer _server = fixture.Server;

    private async Task<(int Status, JsonElement Body)> EstimateAsync(string sql, string? database = "metrics")
    {
        var (status, body, _) = await PostAsync(_server, Estimate, sql, database);
        return (status, JsonDocument.Parse(body).RootElement.Clone());
    }

    private long FileBytes(string database, string measurement) =>
        Directory.GetFiles(Path.Combine(_server.DataPath, database, measurement), "*.parquet", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    [Fact]
    public async Task EstimateReportsRowsFilesAndBytesOfTheReferencedMeasurements()
    {
        var (status, body) = await EstimateAsync("SELECT * FROM cpu");
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("success").GetBoolean());
        Assert.Equal(10, body.GetProperty("estimated_rows").GetInt64());
        Assert.Equal("none", body.GetProperty("warning_level").GetString());
        Assert.Equal(1, body.GetProperty("files").GetInt64());
        Assert.Equal(FileBytes("metrics", "cpu"), body.GetProperty("bytes").GetInt64());
        var measurement = Assert.Single(body.GetProperty("measurements").EnumerateArray());
        Assert.Equal("metrics", measurement.GetProperty("database").GetString());
        Assert.Equal("cpu", measurement.GetProperty("measurement").GetString());

        (_, body) = await EstimateAsync("SELECT count(*) FROM cpu");
        Assert.Equal(1, body.GetProperty("estimated_rows").GetInt64());
        (_, body) = await EstimateAsync("SELECT * FROM cpu ORDER BY time DESC LIMIT 3");
        Assert.Equal(3, body.GetProperty("estimated_rows").GetInt64());
        (_, body) = await EstimateAsync("SELECT * FROM range(1000000)", null);
        Assert.Equal(1000000, body.GetProperty("estimated_rows").GetInt64());
        Assert.Equal("medium", body.GetProperty("warning_level").GetString());
        Assert.Equal(0, body.GetProperty("files").GetInt64());
    }

    [Fact]
    public async Task EstimateResolvesNamesLikeTheQueryDoes()
    {
        // Qualified names, joins across databases, and a CTE that shadows a measurement's name.
        var (status, body) = await EstimateAsync("""
            WITH mem AS (SELECT 1 AS used)
            SELECT * FROM cpu c JOIN other.cpu o USING (host) CROSS JOIN mem WHERE c.host IN (SELECT host FROM metrics.mem)
            """);
        Assert.Equal(200, status);
        Assert.Equal(["metrics.cpu", "other.cpu", "metrics.mem"],
            body.GetProperty("measurements").EnumerateArray().Select(m => m.GetProperty("database").GetString() + "." + m.GetProperty("measurement").GetString()));
        Assert.Equal(FileBytes("metrics", "cpu") + FileBytes("other", "cpu") + FileBytes("metrics", "mem"), body.GetProperty("bytes").GetInt64());
        Assert.Equal(3, body.GetProperty("files").GetInt64());
    }

    [Fact]
    public async Task EstimateDoesNotRunTheQuery()
    {
        const string sql = "SELECT error('ran: ' || host) FROM cpu";
        Assert.Equal(400, (await _server.QueryAsync(sql, "metrics")).Status);
        var (status, body) = await EstimateAsync(sql);
        Assert.Equal(200, status);
        Assert.Equal(10, body.GetProperty("estimated_rows").GetInt64());
    }

    [Theory]
    [InlineData("SELECT * FROM nope", "nope")]
    [InlineData("SELEC 1", "syntax error")]
    [InlineData("DROP VIEW metrics.cpu", "only read-only queries")]
    [InlineData("EXPLAIN SELECT 1", "only SELECT queries can be estimated")]
    [InlineData("SELECT 1; SELECT 2", "one statement per query")]
    public async Task EstimateErrors(string sql, string message)
    {
        var (status, body) = await EstimateAsync(sql);
        Assert.Equal(400, status);
        Assert.Contains(message, body.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal([["10"]], await _server.RowsAsync("SELECT count(*) FROM metrics.cpu"));
    }

    private async Task<(int Status, JsonElement Body)> GetAsync(string url)
    {
        using var response = await _server.Client.GetAsync(url);
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static List<string> Column(JsonElement body, int index) =>
        body.GetProperty("data").EnumerateArray().Select(r => r[index].ValueKind == JsonValueKind.String ? r[index].GetString()! : r[index].GetRawText()).ToList();

    [Fact]
    public async Task MeasurementEndpointDefaultsToNewestFirst()
    {
        var (status, body) = await GetAsync("/api/v1/query/cpu?database=metrics");
        Assert.Equal(200, status);
        Assert.Equal(["time", "host", "region", "usage", "count", "ok", "note"], body.GetProperty("columns").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(Enumerable.Range(0, 10).Reverse().Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), Column(body, 4));
        Assert.Equal(10, body.GetProperty("row_count").GetInt64());
    }

    [Theory]
    [InlineData("limit=3", "9,8,7")]
    [InlineData("limit=3&offset=2", "7,6,5")]
    [InlineData("limit=0", "")]
    [InlineData("order_by=count%20ASC&limit=2", "0,1")]
    [InlineData("order_by=host%20desc,%20count%20asc&limit=4", "2,5,8,1")]
    [InlineData("order_by=COUNT", "0,1,2,3,4,5,6,7,8,9")]
    [InlineData("order_by=%22usage%22%20DESC&limit=1", "9")]
    [InlineData("where=host%20%3D%20'h1'&order_by=time%20ASC", "1,4,7")]
    [InlineData("where=usage%20%3E%204.5%20AND%20NOT%20ok", "9,7,5")]
    [InlineData("where=note%20LIKE%20'n,%20%25'%20AND%20count%20IN%20(1,%202)", "2,1")]
    [InlineData("where=time%20%3E%3D%20'2023-11-14T22:13:28Z'::TIMESTAMP_NS", "9,8")]
    [InlineData("where=host%20%3D%20'h1'%20--%20a%20trailing%20comment", "7,4,1")]
    [InlineData("where=lower(host)%20%3D%20'h2'&limit=1", "8")]
    public async Task MeasurementEndpointOptions(string query, string counts)
    {
        var (status, body) = await GetAsync("/api/v1/query/cpu?database=metrics&" + query);
        Assert.True(status == 200, body.ToString());
        Assert.Equal(counts, string.Join(",", Column(body, 4)));
    }

    [Theory]
    [InlineData("where=1%3D1%20UNION%20SELECT%20*%20FROM%20other.cpu", "single boolean expression")]
    [InlineData("where=1%3D1%20ORDER%20BY%20host", "single boolean expression")]
    [InlineData("where=1%3D1%20LIMIT%201", "single boolean expression")]
    [InlineData("where=1%3D1%20GROUP%20BY%20host", "single boolean expression")]
    [InlineData("where=true)%20OR%20(true", "syntax error")]
    [InlineData("where=1%3D1;%20DROP%20VIEW%20metrics.cpu", "invalid where")]
    [InlineData("where=host%20IN%20(SELECT%20host%20FROM%20other.cpu)", "subquery")]
    [InlineData("where=EXISTS%20(SELECT%201)", "subquery")]
    [InlineData("where=host%20%3D%20$1", "parameter")]
    [InlineData("where=host%20%3D%20'unterminated", "invalid where")]
    [InlineData("where=count(*)%20%3E%201", "*")]
    [InlineData("where=nope%20%3D%201", "nope")]
    [InlineData("order_by=nope", "no column 'nope'")]
    [InlineData("order_by=time%20SIDEWAYS", "ASC or DESC")]
    [InlineData("order_by=time;%20DROP%20VIEW%20x", "invalid order_by")]
    [InlineData("order_by=time%20DESC%20NULLS%20FIRST", "invalid order_by")]
    [InlineData("limit=-1", "invalid limit")]
    [InlineData("limit=1000001", "invalid limit")]
    [InlineData("limit=ten", "invalid limit")]
    [InlineData("offset=-5", "invalid offset")]
    public async Task MeasurementEndpointRejectsAnythingButValidatedParts(string query, string message)
    {
        var (status, body) = await GetAsync("/api/v1/query/cpu?database=metrics&" + query);
        Assert.Equal(400, status);
        Assert.Contains(message, body.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal([["10"]], await _server.RowsAsync("SELECT count(*) FROM metrics.cpu"));
    }

    [Fact]
    public async Task MeasurementEndpointNames()
    {
        Assert.Equal(404, (await GetAsync("/api/v1/query/nope?database=metrics")).Status);
        Assert.Equal(404, (await GetAsync("/api/v1/query/cpu?database=unknown")).Status);
        Assert.Equal(400, (await GetAsync("/api/v1/query/cpu?database=main")).Status);
        Assert.Equal(400, (await GetAsync("/api/v1/query/cpu?database=a%22b")).Status);
        Assert.Equal(400, (await GetAsync("/api/v1/query/1cpu?database=metrics")).Status);
        var (status, body) = await GetAsync("/api/v1/query/CPU?database=other");
        Assert.Equal(200, status);
        Assert.Equal(["x"], Column(body, 1));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/query/mem?order_by=host");
        request.Headers.Add("x-arc-database", "metrics");
        using var response = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"row_count\":2", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MeasurementsAreListed()
    {
        var (status, body) = await GetAsync("/api/v1/measurements");
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("success").GetBoolean());
        Assert.Equal(3, body.GetProperty("count").GetInt32());
        var all = body.GetProperty("measurements").EnumerateArray().ToList();
        Assert.Equal(["metrics.cpu", "metrics.mem", "other.cpu"], all.Select(m => m.GetProperty("database").GetString() + "." + m.GetProperty("measurement").GetString()));
        Assert.All(all, m => Assert.Equal(1, m.GetProperty("file_count").GetInt32()));
        Assert.Equal(FileBytes("metrics", "cpu"), all[0].GetProperty("bytes").GetInt64());
        Assert.Equal(Path.Combine(_server.DataPath, "metrics", "cpu"), all[0].GetProperty("storage_path").GetString());

        (_, body) = await GetAsync("/api/v1/measurements?database=other");
        Assert.Equal(["cpu"], body.GetProperty("measurements").EnumerateArray().Select(m => m.GetProperty("measurement").GetString()));
        (_, body) = await GetAsync("/api/v1/measurements?database=nothing");
        Assert.Equal(0, body.GetProperty("count").GetInt32());
    }
}
