using System.Net;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>The API description at <c>/openapi.json</c>: an OpenAPI 3 document naming the routes the server maps.</summary>
public sealed class OpenApiTests
{
    [Fact]
    public async Task OpenApiJsonDescribesTheMappedRoutes()
    {
        await using var server = await TestServer.StartAsync();
        using var response = await server.Client.GetAsync("/openapi.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.StartsWith("3.", document.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.Equal("arc-native", document.GetProperty("info").GetProperty("title").GetString());
        var paths = document.GetProperty("paths");
        foreach (var (path, method) in new[]
                 {
                     ("/write", "post"), ("/api/v2/write", "post"), ("/api/v1/write/msgpack", "post"), ("/api/v1/query", "post"),
                     ("/api/v1/query/arrow", "post"), ("/api/v1/compaction/trigger", "post"), ("/api/v1/jobs", "post"),
                     ("/api/v1/connections/storage", "get"), ("/metrics", "get"), ("/health", "get"),
                     ("/api/v1/write/line-protocol/flush", "post"), ("/api/v1/auth/tokens/{id}", "patch"),
                     ("/", "get"), ("/console/{file}", "get"), ("/api/v1/databases/{name}/measurements/{measurement}/columns", "get"),
                     ("/api/v1/delete", "post"), ("/api/v1/delete/config", "get"),
                     ("/api/v1/retention", "post"), ("/api/v1/retention/{id}/execute", "post"),
                     ("/api/v1/continuous_queries", "post"), ("/api/v1/continuous_queries/{id}/execute", "post"),
                     ("/api/v1/metrics", "get"), ("/api/v1/metrics/memory", "get"), ("/api/v1/metrics/query-pool", "get"),
                     ("/api/v1/metrics/endpoints", "get"), ("/api/v1/metrics/timeseries/{type}", "get"),
                     ("/api/v1/import/lp", "post"), ("/api/v1/import/csv", "post"), ("/api/v1/import/parquet", "post"),
                     ("/api/v1/import/stats", "get"),
                 })
        {
            Assert.True(paths.TryGetProperty(path, out var item), $"{path} is not in the document");
            Assert.True(item.TryGetProperty(method, out _), $"{method.ToUpperInvariant()} {path} is not in the document");
        }

        using var anonymous = server.NewClient(null);
        using var refused = await anonymous.GetAsync("/openapi.json");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}
