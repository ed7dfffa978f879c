using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>
/// Checks a running server's file manifest against the disk: a query without a time filter needs exactly the measurement's
/// Parquet files (the arc_query_files_total counter moves by the number it opens, arc_query_files_hot_total by those whose
/// rows the hot tier holds in memory), and SHOW TABLES counts the same.
/// </summary>
public static class ManifestAssertions
{
    public static async Task MatchesDiskAsync(HttpClient client, string dataPath, string database, string measurement)
    {
        var directory = Path.Combine(dataPath, database, measurement);
        var onDisk = Directory.Exists(directory) ? Directory.GetFiles(directory, "*.parquet", SearchOption.AllDirectories).Length : 0;
        var before = await FilesListedAsync(client);
        var (status, body) = await QueryAsync(client, $"SELECT count(*) FROM \"{database}\".\"{measurement}\"");
        Assert.True(status == HttpStatusCode.OK, body);
        var needed = await FilesListedAsync(client) - before;
        Assert.True(needed == onDisk, $"{database}.{measurement}: the query needed {needed} files (opened or in memory), the disk has {onDisk}");

        (status, body) = await QueryAsync(client, $"SHOW TABLES FROM \"{database}\"");
        Assert.True(status == HttpStatusCode.OK, body);
        var row = JsonDocument.Parse(body).RootElement.GetProperty("data").EnumerateArray()
            .Single(r => r[1].GetString() == measurement);
        Assert.Equal(onDisk, row[3].GetInt64());
    }

    private static async Task<long> FilesListedAsync(HttpClient client)
    {
        var text = await client.GetStringAsync("/metrics");
        var families = PrometheusOpsParser.Parse(text);
        return (long)families["arc_query_files_total"].Samples.Single().Value + (long)families["arc_query_files_hot_total"].Samples.Single().Value;
    }

    private static async Task<(HttpStatusCode, string)> QueryAsync(HttpClient client, string sql)
    {
        using var response = await client.PostAsync("/api/v1/query", new StringContent(TestServer.SqlBody(sql), Encoding.UTF8, "application/json"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
