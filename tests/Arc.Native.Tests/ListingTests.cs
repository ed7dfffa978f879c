using System.Globalization;
using System.Text;
using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using static Arc.Native.Tests.QueryOutputHelpers;

namespace Arc.Native.Tests;

/// <summary>
/// SHOW TABLES and SHOW DATABASES are answered from the catalog (no DuckDB statement): the same rows and types in every
/// output format, empty listings with their columns, and the estimate endpoint.
/// </summary>
public sealed class ListingTests(QueryOutputFixture fixture) : IClassFixture<QueryOutputFixture>
{
    private readonly TestServer _server = fixture.Server;

    private string[] Row(string database, string measurement)
    {
        var files = Directory.GetFiles(Path.Combine(_server.DataPath, database, measurement), "*.parquet", SearchOption.AllDirectories);
        var megabytes = Math.Round(files.Sum(f => new FileInfo(f).Length) / (1024.0 * 1024.0), 6);
        return [database, measurement, Path.Combine(_server.DataPath, database, measurement), files.Length.ToString(CultureInfo.InvariantCulture),
            megabytes.ToString(CultureInfo.InvariantCulture)];
    }

    [Fact]
    public async Task ShowTablesIsTheSameListingInEveryFormat()
    {
        string[][] expected = [Row("metrics", "cpu"), Row("metrics", "mem")];
        Assert.Equal("1", expected[0][3]);

        var (status, json) = await _server.QueryAsync("SHOW TABLES FROM metrics");
        Assert.Equal(200, status);
        Assert.Equal(["database", "table_name", "storage_path", "file_count", "total_size_mb"], json.GetProperty("columns").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(2, json.GetProperty("row_count").GetInt64());
        Assert.Equal(expected, json.GetProperty("data").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()).ToArray()));
        Assert.Equal(JsonValueKind.Number, json.GetProperty("data")[0][3].ValueKind);

        var (_, csv, _) = await PostAsync(_server, "/api/v1/query/stream", "SHOW MEASUREMENTS IN metrics;");
        Assert.Equal("database,table_name,storage_path,file_count,total_size_mb\r\n" + string.Concat(expected.Select(r => string.Join(',', r) + "\r\n")),
            Encoding.UTF8.GetString(csv));

        var (_, msgpack, _) = await PostAsync(_server, "/api/v1/query/msgpack", "show tables", "metrics");
        var document = DecodeMsgPack(msgpack);
        Assert.Equal(["utf8", "utf8", "utf8", "int64", "float64"], List(Get(document, "types")).Cast<string>());
        var columns = List(Get(document, "data")).Select(List).ToList();
        Assert.Equal(expected.Select(r => r[1]), columns[1].Cast<string>());
        Assert.Equal([1L, 1L], columns[3].Cast<long>());
        Assert.Equal(expected.Select(r => double.Parse(r[4], CultureInfo.InvariantCulture)), columns[4].Cast<double>());

        var (_, arrow, _) = await PostAsync(_server, "/api/v1/query/arrow", "SHOW TABLES FROM metrics");
        using var reader = new ArrowStreamReader(new MemoryStream(arrow));
        using var batch = await reader.ReadNextRecordBatchAsync();
        Assert.Equal([ArrowTypeId.String, ArrowTypeId.String, ArrowTypeId.String, ArrowTypeId.Int64, ArrowTypeId.Double],
            reader.Schema.FieldsList.Select(f => f.DataType.TypeId));
        Assert.Equal(2, batch.Length);
        Assert.Equal(expected.Select(r => r[2]), Enumerable.Range(0, 2).Select(i => ((StringArray)batch.Column(2)).GetString(i)));
        Assert.Equal([1L, 1L], ((Int64Array)batch.Column(3)).Values.ToArray());
        Assert.Null(await reader.ReadNextRecordBatchAsync());
    }

    [Fact]
    public async Task EmptyListingsKeepTheirColumns()
    {
        var (status, json) = await _server.QueryAsync("SHOW TABLES FROM nothing_here");
        Assert.Equal(200, status);
        Assert.Equal(5, json.GetProperty("columns").GetArrayLength());
        Assert.Equal(0, json.GetProperty("row_count").GetInt64());

        var (_, csv, _) = await PostAsync(_server, "/api/v1/query/stream", "SHOW TABLES FROM nothing_here");
        Assert.Equal("database,table_name,storage_path,file_count,total_size_mb\r\n", Encoding.UTF8.GetString(csv));

        var (_, arrow, _) = await PostAsync(_server, "/api/v1/query/arrow", "SHOW TABLES FROM nothing_here");
        using var reader = new ArrowStreamReader(new MemoryStream(arrow));
        Assert.Null(await reader.ReadNextRecordBatchAsync());
        Assert.Equal(5, reader.Schema.FieldsList.Count);

        var (_, msgpack, _) = await PostAsync(_server, "/api/v1/query/msgpack", "SHOW TABLES FROM nothing_here");
        Assert.Equal(0L, Get(DecodeMsgPack(msgpack), "row_count"));
    }

    [Fact]
    public async Task ShowDatabasesInEveryFormat()
    {
        Assert.Equal([["metrics"], ["other"]], await _server.RowsAsync("SHOW DATABASES"));
        var (_, csv, _) = await PostAsync(_server, "/api/v1/query/stream", "SHOW DATABASES");
        Assert.Equal("database\r\nmetrics\r\nother\r\n", Encoding.UTF8.GetString(csv));
        var (_, msgpack, _) = await PostAsync(_server, "/api/v1/query/msgpack", "SHOW DATABASES");
        Assert.Equal(["metrics", "other"], List(List(Get(DecodeMsgPack(msgpack), "data"))[0]).Cast<string>());
        var (_, arrow, _) = await PostAsync(_server, "/api/v1/query/arrow", "SHOW DATABASES");
        using var reader = new ArrowStreamReader(new MemoryStream(arrow));
        using var batch = await reader.ReadNextRecordBatchAsync();
        Assert.Equal(["metrics", "other"], Enumerable.Range(0, 2).Select(i => ((StringArray)batch.Column(0)).GetString(i)));
    }

    [Fact]
    public async Task EstimateOfAListingCountsItsRowsAndReadsNoFiles()
    {
        var (status, body, _) = await PostAsync(_server, "/api/v1/query/estimate", "SHOW TABLES", "metrics");
        Assert.Equal(200, status);
        var estimate = JsonDocument.Parse(body).RootElement;
        Assert.Equal(2, estimate.GetProperty("estimated_rows").GetInt64());
        Assert.Equal(0, estimate.GetProperty("files").GetInt64());
        Assert.Empty(estimate.GetProperty("measurements").EnumerateArray());
        (_, body, _) = await PostAsync(_server, "/api/v1/query/estimate", "SHOW DATABASES");
        Assert.Equal(2, JsonDocument.Parse(body).RootElement.GetProperty("estimated_rows").GetInt64());
    }
}
