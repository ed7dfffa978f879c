namespace Arc.Native.Tests.Crash;

/// <summary>
/// The durability promise, tested the hard way: a real server process with the WAL in fdatasync mode, concurrent writers
/// recording every acknowledged point, SIGKILL at random moments (many during flushes: buffers flush every 400 rows),
/// restarts, and at the end the stored data must be exactly the acknowledged points — none lost, none doubled — plus at
/// most one copy of any point whose request was cut off by a kill.
/// </summary>
[Trait("Category", "Crash")]
[LongRunning(65)]
public sealed class CrashRecoveryTests : IDisposable
{
    private const int Kills = 24;
    private const int PointsPerRequest = 40;

    private readonly CrashHarness _harness = new(new Dictionary<string, string>
    {
        ["ARC_WAL_ENABLED"] = "true",
        ["ARC_WAL_SYNC_MODE"] = "fdatasync",
        ["ARC_INGEST_MAX_BUFFER_SIZE"] = "400",
        ["ARC_INGEST_MAX_BUFFER_AGE_MS"] = "40",
        ["ARC_WAL_MAX_SIZE_MB"] = "1",
    });

    public void Dispose() => _harness.Dispose();

    [Fact]
    public async Task KilledServerKeepsEveryAcknowledgedPointExactlyOnce()
    {
        // Two hours apart by parity, so many flushes write two parts.
        var points = new AcknowledgedPoints("crash", "p", writers: 4, PointsPerRequest,
            (w, seq) => 1_700_000_000_000_000_000L + (seq % 2 * 3_600_000_000_000L) + (w * 1_000_000_000_000L) + seq);
        var random = new Random(20261126);
        for (var kill = 0; kill < Kills; kill++)
        {
            await using var server = await _harness.StartAsync();
            using var stop = new CancellationTokenSource();
            var writers = points.Start(server, stop.Token);
            await Task.Delay(random.Next(150, 700));
            server.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(writers);
        }

        await using var final = await _harness.StartAsync();
        await ManifestAssertions.MatchesDiskAsync(final.Client, _harness.DataPath, "crash", "p");
        await points.AssertStoredExactlyOnceAsync(final.Client, atLeast: Kills * PointsPerRequest);
        Assert.Equal(0, await final.StopAsync());
    }
}
