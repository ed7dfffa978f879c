using Arc.Benchmarks;
using BenchmarkDotNet.Running;

// `--alloc-gate [budget.json]`: the allocation gate scripts/test.sh runs (see AllocationGate); anything else goes to
// BenchmarkDotNet's switcher (`--filter '*LineProtocol*'`, `--job short`, ...).
if (args.Length > 0 && args[0] == "--alloc-gate")
{
    return AllocationGate.Run(args.Length > 1 ? args[1] : Path.Combine(AppContext.BaseDirectory, "allocation-budget.json"));
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
