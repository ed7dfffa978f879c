using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

public sealed class JsonLogOpsTests
{
    [Fact]
    public async Task JsonLogsAreOneObjectPerLineWithTheRequestIdAndNoSecret()
    {
        var root = Path.Combine(Path.GetTempPath(), "arc-jsonlog-" + Guid.NewGuid().ToString("N"));
        const string wrong = "arc_wrong-token-for-the-log-test-0123456789abcdef";
        try
        {
            await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
            {
                ["ARC_STORAGE_LOCAL_PATH"] = Path.Combine(root, "data", "arc"),
                ["ARC_LOG_FORMAT"] = "json",
                ["ARC_LOG_REQUESTS"] = "true",
                ["ARC_LOG_LEVEL"] = "info",
            });
            using var anonymous = new HttpClient { BaseAddress = server.Client.BaseAddress };
            using (var write = await anonymous.PostAsync($"/write?db=j&u=x&p={TestServer.AdminToken}", new StringContent("m v=1\n")))
            {
                Assert.Equal(HttpStatusCode.NoContent, write.StatusCode);
            }

            using var query = new HttpRequestMessage(HttpMethod.Post, "/api/v1/query")
            {
                Content = new StringContent(TestServer.SqlBody("SELECT count(*) FROM m"), Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
                Headers = { { "x-request-id", "json-log-test" }, { "x-arc-database", "j" } },
            };
            using (var response = await server.Client.SendAsync(query))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            using var denied = new HttpRequestMessage(HttpMethod.Get, "/api/v1/measurements") { Headers = { { "x-api-key", wrong } } };
            using (var response = await anonymous.SendAsync(denied))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            }

            Assert.Equal(0, await server.StopAsync());
            var lines = server.Output.Where(l => l.Length > 0).ToList();
            var entries = lines.Select(line =>
            {
                try
                {
                    return JsonDocument.Parse(line).RootElement.Clone();
                }
                catch (JsonException)
                {
                    throw new Xunit.Sdk.XunitException($"not a JSON log line: {line}");
                }
            }).ToList();
            Assert.All(entries, e => Assert.True(e.TryGetProperty("Timestamp", out _) && e.TryGetProperty("LogLevel", out _) && e.TryGetProperty("Category", out _)));
            var request = Assert.Single(entries, e => e.TryGetProperty("Scopes", out var scopes) && scopes.EnumerateArray()
                .Any(s => s.TryGetProperty("RequestId", out var id) && id.GetString() == "json-log-test"));
            Assert.Equal(200, request.GetProperty("State").GetProperty("Status").GetInt32());
            Assert.Equal("/api/v1/query", request.GetProperty("State").GetProperty("Path").GetString());
            Assert.Contains(entries, e => e.GetProperty("Message").GetString()!.StartsWith("arc-native ", StringComparison.Ordinal));
            Assert.Contains(entries, e => e.GetProperty("Message").GetString()!.StartsWith("POST /write 204 ", StringComparison.Ordinal)); // ?p= is not logged
            var all = string.Join('\n', lines);
            Assert.DoesNotContain(TestServer.AdminToken, all, StringComparison.Ordinal);
            Assert.DoesNotContain(wrong, all, StringComparison.Ordinal);
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }
}
