using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using BenchmarkDotNet.Attributes;

namespace Arc.Benchmarks.Storage;

/// <summary>
/// The two ways the design allows to turn a buffer into a ZSTD Parquet file: ParquetSharp's Arrow FileWriter (what the
/// engine uses) and DuckDB COPY from an Arrow scan of the same buffers. One flush of a Telegraf-like cpu buffer (50,000
/// rows, 3 tags, 10 float fields) per operation, each writer once bare (write the file) and once as the engine needs it
/// (time order, fsynced, renamed into its partition), and the engine's writer in series order (tags then time, what a
/// flush of a measurement merged by tags does: a sorted copy of the rows first). Then a Kubernetes-like buffer (50,000
/// rows, five labels of 1,000 values each, 3 float fields), whose labels' ranks do not fit side by side in the series key,
/// in time order and by series (each row's whole series ranked). The file size of each writer is printed at setup.
/// </summary>
[MemoryDiagnoser]
public class ParquetWriteBenchmarks
{
    private const int Rows = 50_000;
    private string _directory = "";
    private ColumnSet _data = null!;
    private ColumnSet _labels = null!;
    private DuckDbDatabase _database = null!;
    private DuckDbConnection _connection = null!;
    private ParquetFlusher _flusher = null!;
    private ParquetFlusher _bySeries = null!;
    private int _file;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "arc-bench-parquet-" + Guid.NewGuid().ToString("N"));
        var store = new LocalStore(_directory);
        _flusher = new ParquetFlusher(store, "zstd", 122_880, _ => false);
        _bySeries = new ParquetFlusher(store, "zstd", 122_880, _ => true);
        _database = DuckDbDatabase.Open(null, []);
        _connection = _database.Connect();
        _data = CpuBuffer();
        _labels = LabelsBuffer();
        Console.WriteLine($"// file sizes: ParquetSharp {ParquetSharpBare():N0} B, DuckDB {DuckDbCopyBare():N0} B");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _flusher.Dispose();
        _bySeries.Dispose();
        _connection.Dispose();
        _database.Dispose();
        _data.Dispose();
        _labels.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "ParquetSharp FileWriter, engine path (fsync, rename)")]
    public int ParquetSharpEngine() => Flush(_flusher, _data);

    [Benchmark(Description = "ParquetSharp FileWriter, engine path by series (sort, fsync, rename)")]
    public int ParquetSharpEngineBySeries() => Flush(_bySeries, _data);

    [Benchmark(Description = "Five labels of 1,000 values, engine path in time order")]
    public int LabelsByTime() => Flush(_flusher, _labels);

    [Benchmark(Description = "Five labels of 1,000 values, engine path by series (whole series ranked)")]
    public int LabelsBySeries() => Flush(_bySeries, _labels);

    [Benchmark(Description = "ParquetSharp FileWriter, bare")]
    public long ParquetSharpBare()
    {
        var path = NextPath("ps");
        var batch = _data.ToRecordBatch();
        using (var properties = new ParquetSharp.WriterPropertiesBuilder().Compression(ParquetSharp.Compression.Zstd).MaxRowGroupLength(122_880).Build())
        using (var writer = new ParquetSharp.Arrow.FileWriter(path, batch.Schema, properties))
        {
            writer.WriteRecordBatch(batch);
            writer.Close();
        }

        return Done(path);
    }

    [Benchmark(Description = "DuckDB COPY from Arrow scan, bare")]
    public long DuckDbCopyBare()
    {
        var path = NextPath("duck");
        Copy(path, "");
        return Done(path);
    }

    [Benchmark(Description = "DuckDB COPY from Arrow scan, engine path (ORDER BY time, fsync, rename)")]
    public long DuckDbCopyEngine()
    {
        var path = NextPath("duck");
        Copy(path + ".tmp", " ORDER BY time");
        File.Move(path + ".tmp", path);
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Flush(flushToDisk: true);
        }

        return Done(path);
    }

    private void Copy(string path, string orderBy)
    {
        using var scan = ArrowScan.Register(_connection, "bench_scan", _data.ToRecordBatch());
        _connection.Execute($"COPY (SELECT * FROM {scan.View}{orderBy}) TO '{path}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)");
    }

    private string NextPath(string prefix) => Path.Combine(_directory, $"{prefix}-{_file++}.parquet");

    /// <summary>One flush as the engine writes it; the files go again.</summary>
    private static int Flush(ParquetFlusher flusher, ColumnSet data)
    {
        var files = flusher.Write(data);
        files.ForEach(File.Delete);
        return files.Count;
    }

    private static long Done(string path)
    {
        var length = new FileInfo(path).Length;
        File.Delete(path);
        return length;
    }

    internal static ColumnSet CpuBuffer()
    {
        var set = new ColumnSet("bench", "cpu");
        string[] fields = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq",
            "usage_steal", "usage_guest", "usage_guest_nice"];
        var cpu = set.AddColumn("cpu", ColumnKind.Tag);
        var host = set.AddColumn("host", ColumnKind.Tag);
        var region = set.AddColumn("region", ColumnKind.Tag);
        var first = set.AddColumn(fields[0], ColumnKind.Float);
        for (var f = 1; f < fields.Length; f++)
        {
            set.AddColumn(fields[f], ColumnKind.Float);
        }

        var random = new Random(42);
        var time = 1_700_000_000_000_000_000L;
        for (var row = 0; row < Rows; row++)
        {
            set.Time.SetInt64(row, time + (row * 10_000_000L));
            set.Columns[cpu].SetBytes(row, System.Text.Encoding.ASCII.GetBytes($"cpu{row % 8}"));
            set.Columns[host].SetBytes(row, System.Text.Encoding.ASCII.GetBytes($"host-{row / 8 % 50}"));
            set.Columns[region].SetBytes(row, row % 2 == 0 ? "us-west"u8 : "eu-central"u8);
            for (var f = 0; f < fields.Length; f++)
            {
                set.Columns[first + f].SetDouble(row, Math.Round(random.NextDouble() * 100, 2));
            }

            set.EndRow(time + (row * 10_000_000L));
        }

        return set;
    }

    private static ColumnSet LabelsBuffer()
    {
        var set = new ColumnSet("bench", "pods");
        var labels = Enumerable.Range(0, 5).Select(l => set.AddColumn($"label{l}", ColumnKind.Tag)).ToArray();
        var first = set.AddColumn("cpu", ColumnKind.Float);
        set.AddColumn("memory", ColumnKind.Float);
        set.AddColumn("restarts", ColumnKind.Float);
        var random = new Random(42);
        var time = 1_700_000_000_000_000_000L;
        for (var row = 0; row < Rows; row++)
        {
            set.Time.SetInt64(row, time + (row * 10_000_000L));
            for (var l = 0; l < labels.Length; l++)
            {
                set.Columns[labels[l]].SetBytes(row, System.Text.Encoding.ASCII.GetBytes($"value-{random.Next(1_000)}"));
            }

            for (var f = 0; f < 3; f++)
            {
                set.Columns[first + f].SetDouble(row, Math.Round(random.NextDouble() * 100, 2));
            }

            set.EndRow(time + (row * 10_000_000L));
        }

        return set;
    }
}
