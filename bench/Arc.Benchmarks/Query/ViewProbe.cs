using System.Diagnostics;
using Arc.Engine;
using Arc.Engine.DuckDb;
using Arc.Engine.Query;
using DuckDB.NET.Native;

namespace Arc.Benchmarks.Query;

internal static class ViewProbe
{
    public static async Task<int> RunAsync(string data, string[] args)
    {
        var low = long.Parse(args[0]); var high = long.Parse(args[1]); var sqls = args[2..];
        await using var engine = await ArcEngine.StartAsync(new EngineOptions { DataPath = data, WalEnabled = false, HotDataBytes = 0 });
        using var holder = await engine.Query.OpenAsync("SELECT 1", null, CancellationToken.None);
        while (holder.Result.FetchChunk() is { } c) { c.Dispose(); }
        var connection = holder.Connection;
        var times = new List<double>[sqls.Length * 2];
        for (var i = 0; i < times.Length; i++) { times[i] = []; }
        for (var round = 0; round < 400; round++)
        {
            for (var q = 0; q < sqls.Length; q++)
            {
                var scope = new QueryFileScope();
                scope.Bound("bench", "cpu", low, high);
                using var active = scope.Activate();
                var t0 = Stopwatch.GetTimestamp();
                if (NativeMethods.PreparedStatements.DuckDBPrepare(connection.Handle, sqls[q], out var st) != DuckDBState.Success)
                {
                    throw new InvalidOperationException(NativeMethods.PreparedStatements.DuckDBPrepareError(st));
                }
                double prep;
                using (st)
                {
                    prep = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    using var result = DuckDbQueryResult.ExecuteStreaming(st);
                    while (result.FetchChunk() is { } chunk) { chunk.Dispose(); }
                }
                if (round >= 30) { times[q * 2].Add(prep); times[q * 2 + 1].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds); }
            }
        }
        for (var q = 0; q < sqls.Length; q++)
        {
            times[q * 2].Sort(); times[q * 2 + 1].Sort();
            Console.WriteLine($"q{q}: prepare p50 {times[q * 2][times[q * 2].Count / 2]:0.000} min {times[q * 2][0]:0.000} | total p50 {times[q * 2 + 1][times[q * 2 + 1].Count / 2]:0.000} min {times[q * 2 + 1][0]:0.000}");
        }
        return 0;
    }
}
