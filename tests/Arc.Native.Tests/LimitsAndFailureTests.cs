using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

public sealed class LimitsAndFailureTests
{
    [Fact]
    public async Task EveryClientControlledSizeHasALimitWithAClearError()
    {
        await using var server = await TestServer.StartAsync(c =>
        {
            c.Engine = c.Engine with
            {
                Writes = c.Engine.Writes with { MaxLineLength = 120, MaxTagsPerLine = 2, MaxFieldsPerLine = 3 },
                MaxColumnsPerMeasurement = 5,
                MaxMeasurementsPerRequest = 2,
                MaxNameBytes = 10,
            };
        });
        var body = new StringBuilder()
            .Append("ok,a=1,b=2 f1=1,f2=2,f3=3 1700000000000000000\n")                 // 1: at every limit
            .Append("long v=\"").Append('x', 200).Append("\" 1700000000000000000\n")     // 2: line too long
            .Append("ok,a=1,b=2,c=3 f1=1 1700000000000000000\n")                        // 3: 3 tags
            .Append("ok f1=1,f2=2,f3=3,f4=4 1700000000000000000\n")                      // 4: 4 fields
            .Append("ok,a=1 f1=1,f2=2,f9=9 1700000000000000000\n")                       // 5: a 6th column
            .Append("ok averyveryverylongname=1 1700000000000000000\n")                  // 6: name > 10 bytes
            .Append("second v=1 1700000000000000000\n")                                  // 7: 2nd measurement
            .Append("third v=1 1700000000000000000\n")                                   // 8: 3rd measurement
            .ToString();
        using var response = await server.WriteAsync("/write?db=limits", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var errors = json.RootElement.GetProperty("errors").EnumerateArray()
            .ToDictionary(e => e.GetProperty("line").GetInt64(), e => e.GetProperty("message").GetString()!);
        Assert.Equal([2L, 3, 4, 5, 6, 8], errors.Keys.Order());
        Assert.Contains("120", errors[2], StringComparison.Ordinal);
        Assert.Contains("tags", errors[3], StringComparison.Ordinal);
        Assert.Contains("fields", errors[4], StringComparison.Ordinal);
        Assert.Contains("limit 5", errors[5], StringComparison.Ordinal);
        Assert.Contains("longer than 10 bytes", errors[6], StringComparison.Ordinal);
        Assert.Contains("more than 2 measurements", errors[8], StringComparison.Ordinal);
        Assert.Equal(2, json.RootElement.GetProperty("accepted").GetInt64());
        Assert.Equal([["1", "2", "3"]], await server.RowsAsync("SELECT f1, f2, f3 FROM ok", "limits"));
    }

    [Fact]
    public async Task WritesGet503WithRetryAfterWhenBuffersUseUpTheMemoryBudget()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { MaxBufferMemory = 2L << 20 });
        var line = new StringBuilder();
        for (var i = 0; i < 4000; i++)
        {
            line.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"mem,host=h{i % 10} a={i},b={i},c={i},d={i},e={i},f={i},g={i},h={i} {1700000000000000000L + i}\n");
        }

        var body = line.ToString();
        var refused = await TestServer.SendUntilRefusedAsync(() => server.WriteAsync("/write?db=bp", body), attempts: 50);
        Assert.Contains("ingest.max_memory", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        refused.Dispose();
        Assert.True(server.Server.Engine.BufferedBytes >= 2L << 20);

        // Once the buffers are flushed the same write goes through.
        await server.Server.Engine.FlushAsync();
        Assert.True(server.Server.Engine.BufferedBytes < 2L << 20);
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=bp", line.ToString())).StatusCode);
    }

    [Fact]
    public async Task UnwritableStorageKeepsRowsQueryableAndRecoversByItself()
    {
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { MaxBufferAge = TimeSpan.FromMilliseconds(50) });
        // A file where the year directory of the partition should go: every flush of this measurement fails.
        var blocker = Path.Combine(server.DataPath, "broken", "m", "2023");
        Directory.CreateDirectory(Path.GetDirectoryName(blocker)!);
        await File.WriteAllTextAsync(blocker, "in the way");

        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=broken", "m v=7 1700000000000000000\n")).StatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (server.Server.Engine.FlushFailures == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.True(server.Server.Engine.FlushFailures > 0);
        Assert.Equal([["7"]], await server.RowsAsync("SELECT v FROM m", "broken")); // still served from memory
        using (var ready = await server.Client.GetAsync("/ready"))
        {
            var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(1, body.GetProperty("buffered_rows").GetInt64());
            Assert.True(body.GetProperty("flush_failures").GetInt64() > 0);
        }

        File.Delete(blocker);
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (server.Server.Engine.FlushedRows == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Single(server.ParquetFiles());
        Assert.Equal([["7"]], await server.RowsAsync("SELECT v FROM m", "broken"));
    }
}
