using Arc.Engine.Buffers;
using Arc.Engine.Compaction;
using Arc.Engine.Storage;
using BenchmarkDotNet.Attributes;

namespace Arc.Benchmarks.Storage;

/// <summary>
/// A level merge as the soak makes them: four flush-shaped inputs of 250,000 rows (1,000 hosts, 10 float fields, sorted by
/// series then time) merged as sorted streams into one file, the output's floats
/// with dictionaries (a file that stays) or plain (a level merge below the last level), from inputs whose full columns are
/// REQUIRED (as flushes and merges write them, so the output's are too) or OPTIONAL (every column with definition levels,
/// as merges wrote their outputs before). The floats are the soak's (<see cref="Values"/> "gauges": a table of 1,000 values
/// stepped through per host and tick, which compress well) or random percentages with two decimals ("percentages": 10,001
/// distinct values, which hardly compress). One merge per operation; the setup prints the output's size.
/// </summary>
[MemoryDiagnoser]
public class SortedMergeBenchmarks
{
    private const int InputRows = 250_000;
    private const int Hosts = 1_000;
    private const int Fields = 10;
    private readonly List<string> _required = [];
    private readonly List<string> _optional = [];
    private string _directory = "";
    private int _file;

    [Params(true, false)]
    public bool FloatDictionaries { get; set; }

    [Params("gauges", "percentages")]
    public string Values { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "arc-bench-merge-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        for (var input = 0; input < 4; input++)
        {
            using var rows = Flush(input, Values == "gauges");
            using var sorted = rows.SortedBySeries(out var unique)!;
            using (var writer = new ParquetFileWriter("zstd", 122_880))
            {
                foreach (var (required, list) in new[] { (true, _required), (false, _optional) })
                {
                    var path = Path.Combine(_directory, $"input-{input}-{(required ? "required" : "optional")}.parquet");
                    using var batch = sorted.ToRecordBatch(Metadata(), fullColumnsRequired: required);
                    writer.Write(batch, path);
                    list.Add(path);
                }
            }

            if (!unique)
            {
                throw new InvalidOperationException("the inputs must hold no point twice");
            }
        }

        var output = Path.Combine(_directory, "size.parquet");
        MergeInto(_required, output);
        Console.WriteLine($"// output: {new FileInfo(output).Length:N0} B ({Values}, float dictionaries: {FloatDictionaries}); an input: {new FileInfo(_required[0]).Length:N0} B");
        File.Delete(output);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(Baseline = true, Description = "Merge of 4 x 250,000 rows, OPTIONAL inputs")]
    public long OptionalInputs() => Merge(_optional);

    [Benchmark(Description = "Merge of 4 x 250,000 rows, REQUIRED inputs")]
    public long RequiredInputs() => Merge(_required);

    private long Merge(List<string> inputs)
    {
        var output = Path.Combine(_directory, $"output-{_file++}.parquet");
        var rows = MergeInto(inputs, output);
        File.Delete(output);
        return rows;
    }

    private long MergeInto(List<string> inputs, string output)
    {
        using var writer = new ParquetFileWriter("zstd", 122_880, FloatDictionaries);
        return SortedMerge.Run(inputs, ["host"], [output], long.MaxValue, Metadata(), writer, 122_880, CancellationToken.None)?.Sum()
            ?? throw new InvalidOperationException("the inputs could not be merged as streams");
    }

    private static Dictionary<string, string> Metadata() => new()
    {
        ["arc_tags"] = """["host"]""",
        ["arc_unique"] = "true",
        ["arc_sorted"] = """["host"]""",
    };

    /// <summary>One flush's rows in arrival order: every host once per tick, ticks of consecutive inputs following on.</summary>
    private static ColumnSet Flush(int input, bool gauges)
    {
        var set = new ColumnSet("bench", "cpu");
        var host = set.AddColumn("host", ColumnKind.Tag);
        var first = set.AddColumn("usage_0", ColumnKind.Float);
        for (var f = 1; f < Fields; f++)
        {
            set.AddColumn($"usage_{f}", ColumnKind.Float);
        }

        var names = Enumerable.Range(0, Hosts).Select(h => System.Text.Encoding.ASCII.GetBytes($"host-{h:D4}")).ToArray();
        var random = new Random(42 + input);
        for (var row = 0; row < InputRows; row++)
        {
            var point = ((long)input * InputRows) + row;
            var (tick, h) = (point / Hosts, (int)(point % Hosts));
            var time = 1_700_000_000_000_000_000L + (tick * 3_333_333L);
            set.Time.SetInt64(row, time);
            set.Columns[host].SetBytes(row, names[h]);
            for (var f = 0; f < Fields; f++)
            {
                set.Columns[first + f].SetDouble(row, gauges ? ((tick * 7) + (h * 13) + (f * 101)) % 1_000 / 10.0 : Math.Round(random.NextDouble() * 100, 2));
            }

            set.EndRow(time);
        }

        return set;
    }
}
