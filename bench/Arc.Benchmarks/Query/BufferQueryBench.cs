using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Protocol.LineProtocol;

namespace Arc.Benchmarks.Query;

/// <summary>
/// <c>--buffer-query ROWS [QUERIES]</c>: a dashboard query (the last 5 minutes of one host) over a measurement whose rows
/// are all still buffered (1,000 hosts × 10 float fields, one row per host per second, ending now), as the query side sees
/// it under a flush backlog. Prints the median time and the managed bytes allocated per query (all threads, so the flush
/// and age timers count too; nothing is flushed during the run). Run it against two builds in alternation to compare them:
/// the figures of one run alone mean little on a shared machine.
/// </summary>
internal static class BufferQueryBench
{
    private const int Hosts = 1000;
    private const int Fields = 10;
    private const string Query = "SELECT time, f0 FROM cpu WHERE host = 'host-7' AND time >= now() - INTERVAL 5 MINUTE ORDER BY time";

    public static async Task<int> RunAsync(int rows, int queries)
    {
        var directory = Path.Combine(Path.GetTempPath(), "arc-buffer-query-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var engine = await ArcEngine.StartAsync(new EngineOptions
            {
                DataPath = directory,
                MaxBufferRows = rows + 1,
                MaxBufferBytes = long.MaxValue,
                MaxBufferMemory = long.MaxValue,
                MaxBufferAge = TimeSpan.FromHours(1),
            });
            await WriteAsync(engine, rows);
            if (engine.BufferedRows != rows)
            {
                throw new InvalidOperationException($"{engine.BufferedRows} rows buffered, expected {rows}");
            }

            for (var i = 0; i < 3; i++)
            {
                await QueryAsync(engine);
            }

            var times = new double[queries];
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var result = 0;
            for (var i = 0; i < queries; i++)
            {
                var started = Stopwatch.GetTimestamp();
                result = await QueryAsync(engine);
                times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            Array.Sort(times);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"rows={rows} queries={queries} result_rows={result} median_ms={times[queries / 2]:0.00} p90_ms={times[queries * 9 / 10]:0.00} " +
                $"alloc_bytes_per_query={allocated / queries} heap_bytes={GC.GetTotalMemory(false)} pool_retained={Arc.Engine.Buffers.BufferPool.Shared.RetainedBytes}"));
            return 0;
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    private static async Task<int> QueryAsync(ArcEngine engine)
    {
        using var cursor = await engine.Query.OpenAsync(Query, "bench", CancellationToken.None);
        var rows = 0;
        while (cursor.Next() is { } chunk)
        {
            using (chunk)
            {
                rows += (int)DuckDB.NET.Native.NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
            }
        }

        return rows;
    }

    /// <summary>One row per host per second, the last second being now, in batches of 10,000 lines.</summary>
    private static async Task WriteAsync(ArcEngine engine, int rows)
    {
        var seconds = (rows + Hosts - 1) / Hosts;
        var end = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000) * 1_000_000_000L;
        var text = new StringBuilder();
        for (var row = 0; row < rows; row++)
        {
            var time = end - ((long)(seconds - 1 - (row / Hosts)) * 1_000_000_000L);
            text.Append(CultureInfo.InvariantCulture, $"cpu,host=host-{row % Hosts}");
            for (var field = 0; field < Fields; field++)
            {
                text.Append(CultureInfo.InvariantCulture, $"{(field == 0 ? ' ' : ',')}f{field}={(row * 7 + field) % 1000}.5");
            }

            text.Append(CultureInfo.InvariantCulture, $" {time}\n");
            if (text.Length > 1 << 20 || row == rows - 1)
            {
                var batch = engine.RentBatch("bench");
                var handler = new LineProtocolBatchHandler(batch);
                var reader = new LineProtocolReader(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(text.ToString())), true,
                    new LineProtocolReaderState(new LineProtocolOptions { DefaultTimestamp = 1 }));
                reader.Read(ref handler);
                await engine.CommitAsync(batch);
                engine.ReturnBatch(batch);
                text.Clear();
            }
        }
    }
}
