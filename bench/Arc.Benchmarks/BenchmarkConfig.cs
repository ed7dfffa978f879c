using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Validators;

namespace Arc.Benchmarks;

/// <summary>The configuration every benchmark here starts from: results from a debug build are refused.</summary>
internal class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig() => AddValidator(JitOptimizationsValidator.FailOnError);
}

/// <summary>
/// A column derived from the mean time per operation (one record, one line): <paramref name="rate"/> turns nanoseconds per
/// operation into the figure shown (records/s, MB/s).
/// </summary>
internal sealed class RateColumn(string name, string legend, Func<double, double> rate, string format) : IColumn
{
    public string Id => nameof(RateColumn) + name;

    public string ColumnName => name;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => legend;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var nanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return nanoseconds is > 0 ? rate(nanoseconds.Value).ToString(format, CultureInfo.InvariantCulture) : "NA";
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
