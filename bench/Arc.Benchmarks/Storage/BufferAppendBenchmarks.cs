using Arc.Engine.Buffers;
using BenchmarkDotNet.Attributes;

namespace Arc.Benchmarks.Storage;

/// <summary>
/// Appending to the Arrow-layout column buffers, per row (OperationsPerInvoke): a request's batch merged into a
/// measurement's shared buffer with bulk copies (<see cref="ColumnSet.AppendFrom"/>, what every commit does), and rows
/// written value by value (what the parsers' handlers do), 10,000 Telegraf cpu rows (3 tags, 10 floats) per invocation.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class BufferAppendBenchmarks
{
    public const int Rows = 10_000;
    private static readonly byte[][] Cpus = Enumerable.Range(0, 8).Select(i => System.Text.Encoding.ASCII.GetBytes($"cpu{i}")).ToArray();
    private static readonly byte[][] Hosts = Enumerable.Range(0, 50).Select(i => System.Text.Encoding.ASCII.GetBytes($"host-{i}")).ToArray();
    private ColumnSet _source = null!;
    private ColumnSet _target = null!;
    private ColumnSet _rows = null!;

    [GlobalSetup]
    public void Setup()
    {
        _source = new ColumnSet("bench", "cpu");
        FillRows(_source);
        _target = new ColumnSet("bench", "cpu");
        _rows = new ColumnSet("bench", "cpu");
        if (MergeBatch() != Rows || AppendRows() != Rows)
        {
            throw new InvalidOperationException("unexpected row count");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _source.Dispose();
        _target.Dispose();
        _rows.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public int MergeBatch()
    {
        _target.Reset();
        _target.AppendFrom(_source);
        return _target.RowCount;
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public int AppendRows()
    {
        _rows.Reset();
        FillRows(_rows);
        return _rows.RowCount;
    }

    private static void FillRows(ColumnSet set)
    {
        var cpu = set.AddColumn("cpu", ColumnKind.Tag);
        var host = set.AddColumn("host", ColumnKind.Tag);
        var region = set.AddColumn("region", ColumnKind.Tag);
        var first = set.AddColumn("usage_user", ColumnKind.Float);
        for (var f = 1; f < 10; f++)
        {
            set.AddColumn("usage_f" + f, ColumnKind.Float);
        }

        var time = 1_700_000_000_000_000_000L;
        for (var row = 0; row < Rows; row++)
        {
            set.Time.SetInt64(row, time + row);
            set.Columns[cpu].SetBytes(row, Cpus[row % 8]);
            set.Columns[host].SetBytes(row, Hosts[row / 8 % 50]);
            set.Columns[region].SetBytes(row, "us-west"u8);
            for (var f = 0; f < 10; f++)
            {
                set.Columns[first + f].SetDouble(row, row * 0.25 + f);
            }

            set.EndRow(time + row);
        }
    }

    private sealed class Config : BenchmarkConfig;
}
