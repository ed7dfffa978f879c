using Arc.Engine.Compaction;
using Arc.Engine.Storage;

namespace Arc.Engine.Tests;

/// <summary>
/// How level merges are chosen (<see cref="CompactionPlanner.FindLevelAsync"/>), over files of chosen sizes: the planner
/// reads only names and sizes, so the files here are plain bytes under flushed files' names.
/// </summary>
public sealed class LevelPlanTests : IDisposable
{
    private const long Kib = 1024;
    private const long Hour = 472_222; // 2023-11-14T22:00Z, in hours since 1970
    private readonly LocalStore _store = new(Path.Combine(Path.GetTempPath(), "arc-plan-" + Guid.NewGuid().ToString("N")));
    private long _lsn;

    public void Dispose() => Directory.Delete(_store.Root, recursive: true);

    [Fact]
    public async Task AMergeTakesAtMostTheLastLevelsSizeSoFilesOfLevelZeroWaitForHourlyCompaction()
    {
        // S = 1024 KiB, N = 4: level 0 is over 256 KiB, level 1 over 64 KiB. Ten files of level 0 in a row, then five of
        // level 1 (250 KiB each: four fit in S, the fifth does not; the planner used to take all five).
        for (var i = 0; i < 10; i++)
        {
            Flushed(300 * Kib);
        }

        var level1 = Enumerable.Range(0, 5).Select(_ => Flushed(250 * Kib)).ToList();

        var candidate = Assert.Single(await PlanAsync());
        Assert.Equal(level1.Take(4), candidate.Files);
        Assert.True(candidate.Bytes <= 1024 * Kib, $"{candidate.Bytes} bytes merged");
    }

    [Fact]
    public async Task SmallFilesMergeUpToTheBatchLimitWhileTheyFit()
    {
        // 40 flushed files of 10 KiB (level 3): one merge of max_files_per_batch (30) of them, 300 KiB.
        var files = Enumerable.Range(0, 40).Select(_ => Flushed(10 * Kib)).ToList();
        var candidate = Assert.Single(await PlanAsync());
        Assert.Equal(files.Take(30), candidate.Files);
    }

    [Fact]
    public async Task OnlyFilesOfLevelZeroMeansNoMerge()
    {
        // The planner used to merge these twelve at once (3 MiB).
        for (var i = 0; i < 12; i++)
        {
            Flushed((257 + i) * Kib);
        }

        Assert.Empty(await PlanAsync());
    }

    [Fact]
    public async Task APartitionWithFourTimesTheMinimumOfFilesBelowTheLastLevelIsBehind()
    {
        // N = 4: fifteen small files (and any number of level 0) are what a steady load leaves; sixteen are falling behind,
        // whether or not a job under way holds some of them.
        for (var i = 0; i < 5; i++)
        {
            Flushed(300 * Kib);
        }

        var files = Enumerable.Range(0, 15).Select(_ => Flushed(10 * Kib)).ToList();
        Assert.False(Assert.Single(await PlanAsync()).Behind);
        files.Add(Flushed(10 * Kib));
        Assert.True(Assert.Single(await PlanAsync()).Behind);
        Assert.True(Assert.Single(await PlanAsync(files[..8].Contains)).Behind);
    }

    [Fact]
    public async Task FilesOfAJobUnderWayAreLeftAndARunNeverCrossesThem()
    {
        // A merge of the first 30 small files is under way: the next run starts after them. With files 10–14 held, the
        // first run is 0–9, and with 8–11 held, 0–7 (a run never spans held files, which would put the output's LSN range
        // around another file's).
        var files = Enumerable.Range(0, 40).Select(_ => Flushed(10 * Kib)).ToList();
        Assert.Equal(files[30..], Assert.Single(await PlanAsync(files[..30].Contains)).Files);
        Assert.Equal(files[..10], Assert.Single(await PlanAsync(files[10..15].Contains)).Files);
        Assert.Equal(files[..8], Assert.Single(await PlanAsync(files[8..12].Contains)).Files);
        Assert.Empty(await PlanAsync(f => !files[37..].Contains(f))); // three free files: under the four a merge takes
    }

    [Fact]
    public async Task TheOutputKeepsItsInputsPlaceInWriteOrderWithoutALog()
    {
        // Without a write-ahead log every flushed file is 0-0 and the stamp orders them: the output carries its newest
        // input's stamp, so a file flushed after that input but before the merge ends stays after the output.
        var inputs = new[] { "20231114_220000_100", "20231114_220000_300", "20231114_220000_200" }
            .Select(stamp => new ParquetFileName("cpu", stamp, 0, 0, 1, 1, "00000000").ToString()).ToList();
        Assert.True(ParquetFileName.TryParse(CompactionPlanner.LevelOutputName("cpu", inputs), out var output));
        Assert.Equal(("20231114_220000_300", 0L, 0L), (output.Stamp, output.FirstLsn, output.LastLsn));
    }

    [Fact]
    public async Task AMergeIntoTheLastLevelWaitsForKTimesTheFilesAndTakesKTimesTheLimits()
    {
        // K = 4 series ranges, N = 4: level-1 files (250 KiB) merge sixteen at a time, up to 4 × S (4,000 KiB here), into
        // four files of the last level's size; fifteen wait. Files of deeper levels still merge four at a time.
        var level1 = Enumerable.Range(0, 15).Select(_ => Flushed(250 * Kib)).ToList();
        Assert.Empty(await PlanAsync(ranges: 4));
        level1.Add(Flushed(250 * Kib));
        level1.Add(Flushed(250 * Kib));
        var candidate = Assert.Single(await PlanAsync(ranges: 4));
        Assert.Equal(level1.Take(16), candidate.Files);
        Assert.Equal(16 * 250 * Kib, candidate.Bytes);
        var small = Enumerable.Range(0, 4).Select(_ => Flushed(10 * Kib)).ToList();
        Assert.Equal(small, Assert.Single(await PlanAsync(ranges: 4)).Files);
    }

    [Fact]
    public async Task WithKSeriesRangesAPartitionIsBehindAtThreePlusKTimesTheMinimum()
    {
        // K = 4, N = 4: fifteen level-1 files wait for the sixteenth by design, so 27 files below the last level are what a
        // steady load can leave and 28 are falling behind.
        var files = Enumerable.Range(0, 15).Select(_ => Flushed(250 * Kib)).ToList();
        files.AddRange(Enumerable.Range(0, 12).Select(_ => Flushed(10 * Kib)));
        Assert.False(Assert.Single(await PlanAsync(ranges: 4)).Behind);
        files.Add(Flushed(10 * Kib));
        Assert.True(Assert.Single(await PlanAsync(ranges: 4)).Behind);
    }

    [Fact]
    public void AMergeIntoTheLastLevelWritesAsManyRangesAsLeaveEachAtTheLastLevel()
    {
        // Defaults: R = 16 M rows (the last level over 4 M), S = 256 MB (over 64 MB), K = 4.
        var options = new CompactionOptions();
        Assert.Equal((4, 4_792_320L, 122_880), CompactionRunner.SeriesRanges(19_000_000, 60_000_000, 4, options)); // whole row groups
        Assert.Equal((3, 5_529_600L, 122_880), CompactionRunner.SeriesRanges(16_500_000, 60_000_000, 4, options)); // four would leave the last under 4 M
        Assert.Equal((1, long.MaxValue, 122_880), CompactionRunner.SeriesRanges(7_000_000, 60_000_000, 4, options)); // two would be under 4 M each
        Assert.Equal((2, 4_055_040L, 122_880), CompactionRunner.SeriesRanges(8_100_000, 60_000_000, 2, options));
        // Wide rows: few of them, many bytes; each range over S / N by its share of the bytes, none over what one merge took.
        Assert.Equal((4, 250L, 250), CompactionRunner.SeriesRanges(1_000, 1_000_000_000, 4, options));
        Assert.Equal((1, long.MaxValue, 122_880), CompactionRunner.SeriesRanges(19_000_000, 60_000_000, 1, options));
    }

    private Task<List<CompactionCandidate>> PlanAsync(Func<string, bool>? busy = null, int ranges = 1) =>
        new CompactionPlanner(_store, new QueryEpochs(),
                new CompactionOptions { LevelMinFiles = 4, LevelMaxFileBytes = 1024 * Kib, LevelSeriesRanges = ranges }, remote: null)
            .FindLevelAsync("db", "cpu", (_, _) => long.MaxValue, busy ?? (_ => false), CancellationToken.None);

    /// <summary>A flushed file of one part, the next LSN, of <paramref name="bytes"/> bytes in 22:00; returns its path.</summary>
    private string Flushed(long bytes)
    {
        _lsn++;
        var directory = _store.PartitionDirectory("db", "cpu", Hour);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, new ParquetFileName("cpu", "20231114_220000_000", _lsn, _lsn, 1, 1, "0000" + _lsn).ToString());
        using (var file = File.Create(path))
        {
            file.SetLength(bytes);
        }

        return path;
    }
}
