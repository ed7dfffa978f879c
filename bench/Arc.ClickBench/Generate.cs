using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Arc.ClickBench;

/// <summary>
/// <c>generate</c>: writes the data set once into <c>{out}/data-{rows}</c>: <c>hits.parquet</c> (one file), <c>partitioned/hits_{0..99}.parquet</c>
/// (ClickBench's partitioned layout: 100 files in row order) and <c>msgpack/body_*.msgpack</c> (arc-native ingest bodies), plus
/// <c>manifest.json</c>. An existing complete data set of the same row count and generator version is reused.
/// </summary>
internal static class Generate
{
    /// <summary>Bump when the generator's output changes, so a stale data set is not reused.</summary>
    public const int Version = 3;

    public static string DataDirectory(string output, long rows) => Path.Combine(output, $"data-{rows}");

    public static Manifest Run(string output, long rows, int bodyRows, int partitions)
    {
        var directory = DataDirectory(output, rows);
        var manifestPath = Path.Combine(directory, "manifest.json");
        if (File.Exists(manifestPath))
        {
            var existing = JsonSerializer.Deserialize(File.ReadAllText(manifestPath), HarnessJson.Default.Manifest);
            if (existing is { } m && m.Version == Version && m.Rows == rows && m.BodyRows == bodyRows)
            {
                Console.WriteLine($"generate: reusing {directory} ({m.Rows:N0} rows, generated in {m.Seconds:F1} s)");
                return m;
            }
        }

        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        var msgpackDirectory = Path.Combine(directory, "msgpack");
        var partitionDirectory = Path.Combine(directory, "partitioned");
        Directory.CreateDirectory(msgpackDirectory);
        Directory.CreateDirectory(partitionDirectory);

        var generator = new HitsGenerator(rows);
        var partitionRows = (rows + partitions - 1) / partitions;
        var chunkRows = (int)Math.Min(122_880, partitionRows);
        var clock = Stopwatch.StartNew();

        // The generator fills chunks on this thread; a writer thread encodes them (Parquet x2, MessagePack).
        using var full = new BlockingCollection<Chunk>(2);
        var free = new ConcurrentQueue<Chunk>();
        for (var i = 0; i < 3; i++)
        {
            free.Enqueue(new Chunk(chunkRows));
        }

        using var available = new SemaphoreSlim(3);
        var msgpack = new MsgPackSink(msgpackDirectory, bodyRows);
        long done = 0;
        var writer = Task.Run(() =>
        {
            using var single = new ParquetSink(Path.Combine(directory, "hits.parquet"), 122_880);
            ParquetSink? partition = null;
            var partitionIndex = -1;
            var lastReport = Stopwatch.StartNew();
            foreach (var chunk in full.GetConsumingEnumerable())
            {
                var index = (int)(done / partitionRows);
                if (index != partitionIndex)
                {
                    partition?.Dispose();
                    partition = new ParquetSink(Path.Combine(partitionDirectory, $"hits_{index}.parquet"), 122_880);
                    partitionIndex = index;
                }

                single.Write(chunk);
                partition!.Write(chunk);
                msgpack.Write(chunk);
                done += chunk.Count;
                chunk.Count = 0;
                free.Enqueue(chunk);
                available.Release();
                if (lastReport.Elapsed.TotalSeconds >= 5)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"generate: {done:N0} / {rows:N0} rows ({100.0 * done / rows:F0} %), {msgpack.Bytes / 1e6:N0} MB of MessagePack, {clock.Elapsed.TotalSeconds:F0} s"));
                    lastReport.Restart();
                }
            }

            partition?.Dispose();
        });

        available.Wait();
        free.TryDequeue(out var first);
        try
        {
            generator.Run(first!, partitionRows, chunk =>
            {
                full.Add(chunk);
                available.Wait();
                free.TryDequeue(out var next);
                return next!;
            });
        }
        finally
        {
            full.CompleteAdding();
        }

        writer.GetAwaiter().GetResult();
        var manifest = new Manifest(Version, rows, bodyRows, msgpack.Bodies, msgpack.Bytes, Math.Round(clock.Elapsed.TotalSeconds, 1),
            new FileInfo(Path.Combine(directory, "hits.parquet")).Length,
            Directory.GetFiles(partitionDirectory, "*.parquet").Sum(f => new FileInfo(f).Length),
            Directory.GetFiles(partitionDirectory, "*.parquet").Length);
        File.WriteAllText(manifestPath, JsonSerializer.Serialize(manifest, HarnessJson.Default.Manifest));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"generate: {rows:N0} rows in {manifest.Seconds:F1} s; hits.parquet {manifest.SingleFileBytes:N0} B, partitioned {manifest.PartitionedBytes:N0} B in {manifest.Partitions} files, MessagePack {manifest.MsgPackBytes:N0} B in {manifest.Bodies} bodies"));
        return manifest;
    }
}

internal sealed record Manifest(int Version, long Rows, int BodyRows, int Bodies, long MsgPackBytes, double Seconds, long SingleFileBytes,
    long PartitionedBytes, int Partitions);
