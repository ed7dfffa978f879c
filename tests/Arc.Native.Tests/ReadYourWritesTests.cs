using System.Net;

namespace Arc.Native.Tests;

public sealed class ReadYourWritesTests
{
    [Fact]
    public async Task AcknowledgedPointsAreQueryableBeforeAnyFlush()
    {
        await using var server = await TestServer.StartAsync(); // buffers flush after 10 minutes in tests
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=ryw", "m,host=a v=1 1700000000000000000\n")).StatusCode);
        Assert.Empty(server.ParquetFiles());
        Assert.Equal([["a", "1"]], await server.RowsAsync("SELECT host, v FROM m", "ryw"));

        // A new column while still buffered, then a flush, then more buffered rows: one view over both.
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=ryw", "m,host=b v=2,w=\"x\" 1700000001000000000\n")).StatusCode);
        Assert.Equal([["a", "1", "null"], ["b", "2", "x"]], await server.RowsAsync("SELECT host, v, w FROM m ORDER BY time", "ryw"));
        await server.Server.Engine.FlushAsync();
        Assert.Single(server.ParquetFiles());
        Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=ryw", "m,host=c v=3 1700000002000000000\n")).StatusCode);
        Assert.Equal([["a", "1", "null"], ["b", "2", "x"], ["c", "3", "null"]], await server.RowsAsync("SELECT host, v, w FROM m ORDER BY time", "ryw"));

        var tables = await server.RowsAsync("SHOW TABLES", "ryw");
        Assert.Equal("m", Assert.Single(tables)[1]);
        Assert.Equal([["ryw"]], await server.RowsAsync("SHOW DATABASES"));
    }

    [Fact]
    public async Task QueriesDuringFlushesSeeEveryAcknowledgedRowExactlyOnce()
    {
        // Tiny buffers flushed constantly, so queries keep landing between a flush's file and its buffer.
        await using var server = await TestServer.StartAsync(c => c.Engine = c.Engine with
        {
            MaxBufferRows = 7,
            MaxBufferAge = TimeSpan.FromMilliseconds(5),
            FlushWorkers = 2,
        });
        using var done = new CancellationTokenSource();
        long acknowledged = 0;
        var checks = 0;
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 400; i++)
            {
                var body = $"x,k=a seq={i * 2}i {1700000000000000000L + (i * 2)}\nx,k=b seq={(i * 2) + 1}i {1700000000000000000L + (i * 2) + 1 + (i % 3 * 3_600_000_000_000L)}\n";
                using var response = await server.WriteAsync("/write?db=flow", body);
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
                Interlocked.Exchange(ref acknowledged, (i + 1) * 2);
                while (i % 10 == 9 && Volatile.Read(ref checks) < (i + 1) / 10)
                {
                    await Task.Delay(1); // writes outpace queries on a busy machine: keep them interleaved
                }
            }

            await done.CancelAsync();
        });

        while (!done.IsCancellationRequested)
        {
            var before = Interlocked.Read(ref acknowledged);
            var (status, body) = await server.QueryAsync("SELECT count(*), count(DISTINCT seq) FROM x", "flow");
            if (status == 400 && before == 0)
            {
                continue; // nothing written yet: the measurement does not exist
            }

            Assert.True(status == 200, body.ToString());
            var row = body.GetProperty("data")[0];
            var (count, distinct) = (row[0].GetInt64(), row[1].GetInt64());
            Assert.Equal(distinct, count);          // never twice
            Assert.True(count >= before, $"saw {count} rows after {before} were acknowledged"); // never missing
            Interlocked.Increment(ref checks);
        }

        await writer;
        Assert.True(checks >= 40, $"only {checks} queries overlapped the writes");
        Assert.Equal([["800", "800"]], await server.RowsAsync("SELECT count(*), count(DISTINCT seq) FROM x", "flow"));
        Assert.True(server.ParquetFiles().Length > 10);
    }
}
