using Arc.Engine.Compaction;

namespace Arc.Engine.Tests;

/// <summary>
/// Which jobs may run side by side (<see cref="CompactionLocks"/>): level merges of one hour on different files do, and
/// nothing else shares a file or a partition with a job under way.
/// </summary>
public sealed class CompactionLocksTests
{
    private static readonly DateTime Hour = new(2023, 11, 14, 22, 0, 0, DateTimeKind.Utc);
    private static readonly string Directory = Path.Combine("data", "db", "cpu", "2023", "11", "14", "22");

    [Fact]
    public void LevelMergesOfOneHourRunSideBySideOnDifferentFilesOnly()
    {
        var locks = new CompactionLocks();
        var first = Level("a", "b", "c", "d");
        Assert.True(Take(locks, first));
        Assert.True(Take(locks, Level("e", "f", "g", "h")));
        Assert.False(Take(locks, Level("h", "i", "j", "k")));  // h is held
        Assert.False(Take(locks, Level("a", "x", "y", "z")));  // so is a (and the key of a merge starting there)
        Assert.True(locks.Holds(File("b")));
        Assert.Equal(2, locks.Jobs.Count);

        locks.Release(first);
        Assert.False(locks.Holds(File("b")));
        Assert.True(Take(locks, Level("a", "b", "c", "d")));
    }

    [Fact]
    public void AnHourlyOrDailyJobAndALevelMergeOfItsHourExcludeEachOther()
    {
        var locks = new CompactionLocks();
        var level = Level("a", "b", "c", "d");
        Assert.True(Take(locks, level));
        Assert.False(Take(locks, Partition(CompactionTier.Hourly, "m", "n"))); // other files, same hour
        Assert.False(Take(locks, Partition(CompactionTier.Daily, "m", "n")));
        Assert.True(Take(locks, new CompactionCandidate("db", "cpu", CompactionTier.Hourly, Hour.AddHours(-1),
            Path.Combine("data", "db", "cpu", "2023", "11", "14", "21"), [File("p")], 1)));

        locks.Release(level);
        var hourly = Partition(CompactionTier.Hourly, "m", "n");
        Assert.True(Take(locks, hourly));
        Assert.False(Take(locks, Level("x", "y", "z", "w")));
    }

    [Fact]
    public void ABlockedPrefixOrAFileAlreadyGoneTakesNoJob()
    {
        var locks = new CompactionLocks();
        locks.Block("DB/cpu/");
        Assert.False(Take(locks, Level("a", "b")));
        Assert.False(locks.AnyUnder("db/"));
        locks.Unblock("DB/cpu/");

        Assert.False(locks.TryTake(Level("a", "b"), Job(), gone: f => f == File("b")));
        Assert.True(Take(locks, Level("a", "b")));
        Assert.True(locks.AnyUnder("DB/"));
    }

    private static bool Take(CompactionLocks locks, CompactionCandidate candidate) => locks.TryTake(candidate, Job(), _ => false);

    private static CompactionJob Job() => new("job", CompactionTier.Level, 0, 0, Hour);

    private static CompactionCandidate Level(params string[] files) =>
        new("db", "cpu", CompactionTier.Level, Hour, Directory, files.Select(File).ToList(), files.Length);

    private static CompactionCandidate Partition(CompactionTier tier, params string[] files) =>
        new("db", "cpu", tier, tier == CompactionTier.Daily ? Hour.Date : Hour, Directory, files.Select(File).ToList(), files.Length);

    private static string File(string name) => Path.Combine(Directory, $"cpu_{name}.parquet");
}
