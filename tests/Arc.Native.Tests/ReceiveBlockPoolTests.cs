using System.Net;
using System.Text;
using System.Text.Json;
using Arc.Native.Http;

namespace Arc.Native.Tests;

/// <summary>
/// Kestrel's blocks (<see cref="ReceiveBlockPool"/>): 64 KiB, reused, at most <see cref="ReceiveBlockPool.MaxRetained"/>
/// kept by all the pools of a factory; and the server's Kestrel reading requests and writing responses through them (a
/// body of many blocks stored whole, an answer of many blocks read whole, the blocks reported by both metrics routes).
/// </summary>
public sealed class ReceiveBlockPoolTests
{
    [Fact]
    public void BlocksAre64KiBAndComeBackForReuse()
    {
        using var pool = new ReceiveBlockPool();
        Assert.Equal(ReceiveBlockPool.BlockSize, pool.MaxBufferSize);
        var first = pool.Rent(2048);
        Assert.Equal(64 * 1024, first.Memory.Length);
        Assert.Equal(ReceiveBlockPool.BlockSize, pool.Rent().Memory.Length); // -1: the block size
        Assert.Equal(2, pool.Rented);
        first.Dispose();
        Assert.Equal((1, 1), (pool.Rented, pool.Retained));
        var again = pool.Rent(ReceiveBlockPool.BlockSize);
        Assert.Same(first, again);
        Assert.Equal((2, 0), (pool.Rented, pool.Retained));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(ReceiveBlockPool.BlockSize + 1));
    }

    [Fact]
    public void KeepsAtMostMaxRetainedFreeBlocks()
    {
        using var pool = new ReceiveBlockPool();
        var blocks = Enumerable.Range(0, ReceiveBlockPool.MaxRetained + 44).Select(_ => pool.Rent()).ToList();
        Assert.Equal(blocks.Count, blocks.Select(b => b.Memory).Distinct().Count());
        foreach (var block in blocks)
        {
            block.Dispose();
        }

        Assert.Equal((0, ReceiveBlockPool.MaxRetained), (pool.Rented, pool.Retained));
    }

    [Fact]
    public void ThePoolsOfOneFactoryShareTheFreeBlocksKept()
    {
        var factory = new ReceiveBlockPoolFactory();
        using var first = factory.Create();
        using var second = factory.Create();
        var blocks = Enumerable.Range(0, ReceiveBlockPool.MaxRetained).SelectMany(_ => new[] { first.Rent(), second.Rent() }).ToList();
        Assert.Equal(((long)blocks.Count * ReceiveBlockPool.BlockSize, 0L), factory.Bytes());
        foreach (var block in blocks)
        {
            block.Dispose();
        }

        Assert.Equal((0L, (long)ReceiveBlockPool.MaxRetained * ReceiveBlockPool.BlockSize), factory.Bytes());
        // A disposed pool gives its free blocks' share back: the other may keep as many again.
        first.Dispose();
        var again = Enumerable.Range(0, ReceiveBlockPool.MaxRetained).Select(_ => second.Rent()).ToList();
        again.AddRange(Enumerable.Range(0, ReceiveBlockPool.MaxRetained).Select(_ => second.Rent()));
        foreach (var block in again)
        {
            block.Dispose();
        }

        Assert.Equal((0L, (long)ReceiveBlockPool.MaxRetained * ReceiveBlockPool.BlockSize), factory.Bytes());
    }

    [Fact]
    public void RentingFromADisposedPoolThrowsAndLateReturnsAreDropped()
    {
        var pool = new ReceiveBlockPool();
        var block = pool.Rent();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
        block.Dispose();
        Assert.Equal((0, 0), (pool.Rented, pool.Retained));
    }

    [Fact]
    public async Task TheServerReadsBodiesAndWritesAnswersThroughTheBlocks()
    {
        await using var server = await TestServer.StartAsync();
        // 40,000 lines, about 2.6 MB: some forty 64 KiB blocks of body on one request.
        const int Lines = 40_000;
        var body = new StringBuilder();
        for (var i = 0; i < Lines; i++)
        {
            body.Append("cpu,host=h").Append(i % 50).Append(",region=eu usage_user=").Append(i).Append(".5,usage_system=")
                .Append(i % 97).Append(".25,note=\"").Append('x', 8).Append("\" ").Append(1_700_000_000_000_000_000L + i).Append('\n');
        }

        Assert.True(body.Length > 40 * ReceiveBlockPool.BlockSize);
        using (var response = await server.WriteAsync("/write?db=blocks", body.ToString()))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        var stored = Assert.Single(await server.RowsAsync("SELECT count(*), sum(usage_user) FROM cpu", "blocks"));
        Assert.Equal(Lines.ToString(), stored[0]);
        Assert.Equal((double)Lines * Lines / 2, double.Parse(stored[1], System.Globalization.CultureInfo.InvariantCulture)); // Σ (i + 0.5)

        // An answer of several MB (every row as JSON) comes back whole through the response's blocks.
        var (status, answer) = await server.QueryAsync("SELECT host, usage_user, note FROM cpu ORDER BY time", "blocks");
        Assert.Equal(200, status);
        var rows = answer.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(Lines, rows.Count);
        Assert.Equal(Lines - 1 + 0.5, rows[^1][1].GetDouble());

        // Kestrel took its blocks from the server's pools (with Kestrel's own pool the figures stay 0): the request's blocks
        // came back and are kept for reuse.
        using var memory = JsonDocument.Parse(await server.Client.GetStringAsync("/api/v1/metrics/memory"));
        var free = memory.RootElement.GetProperty("memory").GetProperty("http_pool_free_bytes").GetInt64();
        Assert.True(free >= 8 * ReceiveBlockPool.BlockSize, $"free pool bytes {free}");
        Assert.Equal(0, free % ReceiveBlockPool.BlockSize);
        var prometheus = await server.Client.GetStringAsync("/metrics");
        Assert.Contains("arc_http_pool_bytes{state=\"in_use\"} ", prometheus);
        Assert.Matches("arc_http_pool_bytes\\{state=\"free\"\\} [1-9][0-9]*\\n", prometheus);
    }
}
