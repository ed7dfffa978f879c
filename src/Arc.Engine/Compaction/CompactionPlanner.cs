using System.Globalization;
using Arc.Engine.Storage;

namespace Arc.Engine.Compaction;

public enum CompactionTier
{
    Hourly,
    Daily,
}

/// <summary>A partition worth compacting and the files one job would merge (oldest writes first).</summary>
public sealed record CompactionCandidate(
    string Database,
    string Measurement,
    CompactionTier Tier,
    DateTime Start,
    string Directory,
    IReadOnlyList<string> Files,
    long Bytes)
{
    /// <summary>Lock key: a daily key is a prefix of the hourly keys of its day.</summary>
    public string Key => Tier == CompactionTier.Daily
        ? $"{Database}/{Measurement}/{Start:yyyy/MM/dd}"
        : $"{Database}/{Measurement}/{Start:yyyy/MM/dd/HH}";
}

/// <summary>
/// Finds compaction candidates in the partition tree. Hour partitions (<c>…/YYYY/MM/DD/HH</c>) merge into a
/// <c>*_compacted.parquet</c> in the same directory; days merge all their hours into <c>…/YYYY/MM/DD/daily/*_daily.parquet</c>.
/// Files holding commits still in the write-ahead log are left alone: recovery reads their names.
/// </summary>
internal sealed class CompactionPlanner(LocalStore store, QueryEpochs epochs, CompactionOptions options)
{
    public const string DailyDirectory = "daily";
    public const string CompactedSuffix = "_compacted.parquet";
    public const string DailySuffix = "_daily.parquet";

    public List<CompactionCandidate> Find(DateTime now, long oldestWalLsn, CompactionTier? tier = null, string? database = null,
        string? measurement = null)
    {
        var candidates = new List<CompactionCandidate>();
        foreach (var db in store.Databases().Where(d => database is null || d == database))
        {
            foreach (var m in store.Measurements(db).Where(x => measurement is null || x == measurement))
            {
                foreach (var day in Days(store.MeasurementDirectory(db, m)))
                {
                    if (tier is null or CompactionTier.Hourly && options.HourlyEnabled)
                    {
                        foreach (var (hour, hourStart) in Hours(day.Path, day.Start))
                        {
                            if (hourStart.AddHours(1) <= now - options.HourlyMinAge
                                && Eligible(hour, oldestWalLsn) is { Count: var count } files && count >= options.HourlyMinFiles)
                            {
                                candidates.Add(Candidate(db, m, CompactionTier.Hourly, hourStart, hour, files));
                            }
                        }
                    }

                    if (tier is null or CompactionTier.Daily && options.DailyEnabled && day.Start.AddDays(1) <= now - options.DailyMinAge)
                    {
                        var files = Hours(day.Path, day.Start).SelectMany(h => Eligible(h.Path, oldestWalLsn))
                            .Concat(Eligible(Path.Combine(day.Path, DailyDirectory), oldestWalLsn)).ToList();
                        if (files.Count >= options.DailyMinFiles)
                        {
                            candidates.Add(Candidate(db, m, CompactionTier.Daily, day.Start, Path.Combine(day.Path, DailyDirectory), files));
                        }
                    }
                }
            }
        }

        return candidates;
    }

    private CompactionCandidate Candidate(string db, string m, CompactionTier tier, DateTime start, string directory, List<FileInfo> files)
    {
        var batch = files.OrderBy(WriteOrder).Take(options.MaxFilesPerBatch).ToList();
        return new CompactionCandidate(db, m, tier, start, directory, batch.Select(f => f.FullName).ToList(), batch.Sum(f => f.Length));
    }

    /// <summary>
    /// Older writes first: daily outputs, then hourly outputs, then flushed files by LSN. A compacted file only holds writes
    /// older than every flushed file still beside it, so this is the order "last write wins" needs.
    /// </summary>
    internal static (int Tier, long Lsn, string Name) WriteOrder(FileInfo file) => file.Name switch
    {
        var n when n.EndsWith(DailySuffix, StringComparison.Ordinal) => (0, 0, n),
        var n when n.EndsWith(CompactedSuffix, StringComparison.Ordinal) => (1, 0, n),
        var n when ParquetFileName.TryParse(n, out var name) => (2, name.FirstLsn, name.Stamp),
        var n => (2, 0, n),
    };

    /// <summary>Parquet files of a directory that compaction may rewrite.</summary>
    private List<FileInfo> Eligible(string directory, long oldestWalLsn)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return [];
        }

        return new DirectoryInfo(directory).EnumerateFiles("*.parquet")
            .Where(f => !ParquetFileName.TryParse(f.Name, out var name) || name.LastLsn < oldestWalLsn)
            .Where(f => !epochs.IsRetired(f.FullName))
            .ToList();
    }

    private static IEnumerable<(string Path, DateTime Start)> Days(string measurementDirectory)
    {
        foreach (var year in Children(measurementDirectory, 4))
        {
            foreach (var month in Children(year.Path, 2))
            {
                foreach (var day in Children(month.Path, 2))
                {
                    if (DateTime.TryParseExact($"{year.Name}{month.Name}{day.Name}", "yyyyMMdd", CultureInfo.InvariantCulture,
                            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var start))
                    {
                        yield return (day.Path, start);
                    }
                }
            }
        }
    }

    private static IEnumerable<(string Path, DateTime Start)> Hours(string dayDirectory, DateTime day) =>
        Children(dayDirectory, 2)
            .Where(h => int.TryParse(h.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var hour) && hour < 24)
            .Select(h => (h.Path, day.AddHours(int.Parse(h.Name, CultureInfo.InvariantCulture))));

    private static IEnumerable<(string Path, string Name)> Children(string directory, int digits) =>
        System.IO.Directory.Exists(directory)
            ? System.IO.Directory.EnumerateDirectories(directory)
                .Select(p => (p, Path.GetFileName(p)))
                .Where(c => c.Item2.Length == digits && c.Item2.All(char.IsAsciiDigit))
            : [];
}
