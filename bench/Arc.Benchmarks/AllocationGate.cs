using System.Globalization;
using System.Text.Json;
using Arc.Benchmarks.LineProtocol;
using Arc.Benchmarks.MessagePack;
using Arc.Benchmarks.Storage;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Arc.Benchmarks;

/// <summary>
/// The allocation gate run by scripts/test.sh: the parser and buffer benchmarks with BenchmarkDotNet's MemoryDiagnoser in
/// a short in-process job, checked against <c>allocation-budget.json</c> (bytes allocated per record, each benchmark's
/// operation being one record). Allocation counts, not times, are checked, so a busy machine cannot make it flaky: a
/// request's fixed cost spread over 10,000 records is a fraction of a byte, while any allocation per record is 24 bytes
/// or more. So every budget is 1 B: the MemoryDiagnoser counts the whole process, and one CI run saw 1 B/record for the
/// line-protocol reader (untouched by that change) under a 0 B budget.
/// </summary>
internal static class AllocationGate
{
    public static int Run(string budgetPath)
    {
        var budget = JsonSerializer.Deserialize<Dictionary<string, double>>(File.ReadAllText(budgetPath))
            ?? throw new InvalidOperationException("empty budget file");
        var job = Job.Dry
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(2)
            .WithIterationCount(3)
            .WithInvocationCount(8)
            .WithUnrollFactor(1)
            .WithId("AllocationGate");
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddLogger(ConsoleLogger.Default)
            .AddColumnProvider(DefaultConfig.Instance.GetColumnProviders().ToArray())
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        var summaries = BenchmarkRunner.Run([
            BenchmarkConverter.TypeToBenchmarks(typeof(LineProtocolReaderBenchmarks), config),
            BenchmarkConverter.TypeToBenchmarks(typeof(MsgPackDecodeBenchmarks), config),
            BenchmarkConverter.TypeToBenchmarks(typeof(BufferAppendBenchmarks), config),
        ]);

        var failures = 0;
        var checkedCount = 0;
        Console.WriteLine("allocation gate (bytes allocated per record; budget from allocation-budget.json):");
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            var name = report.BenchmarkCase.Descriptor.Type.Name + "." + report.BenchmarkCase.Descriptor.WorkloadMethod.Name;
            var perOperation = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase);
            if (!budget.TryGetValue(name, out var allowed))
            {
                Console.WriteLine($"  FAIL {name}: no budget entry");
                failures++;
                continue;
            }

            checkedCount++;
            var ok = report.Success && perOperation is { } bytes && bytes <= allowed;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {(ok ? "ok  " : "FAIL")} {name}: {(perOperation?.ToString(CultureInfo.InvariantCulture) ?? "not measured")} B/record (budget {allowed} B){(report.Success ? "" : ", benchmark failed")}"));
            failures += ok ? 0 : 1;
        }

        foreach (var missing in budget.Keys.Except(summaries.SelectMany(s => s.Reports)
                     .Select(r => r.BenchmarkCase.Descriptor.Type.Name + "." + r.BenchmarkCase.Descriptor.WorkloadMethod.Name)))
        {
            Console.WriteLine($"  FAIL {missing}: in the budget but not run");
            failures++;
        }

        Console.WriteLine($"allocations: {checkedCount - failures} passed, {failures} failed");
        return failures == 0 && checkedCount > 0 ? 0 : 1;
    }
}
