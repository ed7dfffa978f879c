using Arc.Benchmarks;
using BenchmarkDotNet.Running;

// `--alloc-gate [budget.json]`: the allocation gate scripts/test.sh runs (see AllocationGate); `--buffer-query ROWS
// [QUERIES]`: a dashboard query over buffered rows (see BufferQueryBench); anything else goes to BenchmarkDotNet's
// switcher (`--filter '*LineProtocol*'`, `--job short`, ...).
if (args.Length > 0 && args[0] == "--alloc-gate")
{
    return AllocationGate.Run(args.Length > 1 ? args[1] : Path.Combine(AppContext.BaseDirectory, "allocation-budget.json"));
}

if (args.Length > 1 && args[0] == "--buffer-query")
{
    return await Arc.Benchmarks.Query.BufferQueryBench.RunAsync(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture),
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 20);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
