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
internal sealed class CompactionPlanner(LocalStore store, QueryEpochs epochs, CompactionOptions options, Storage.Remote.RemoteStore? remote)
{
    public const string DailyDirectory = LocalStore.DailyDirectory;
    public const string CompactedSuffix = "_compacted.parquet";
    public const string DailySuffix = "_daily.parquet";

    public async Task<List<CompactionCandidate>> FindAsync(DateTime now, long oldestWalLsn, CompactionTier? tier, string? database,
        string? measurement, CancellationToken cancellationToken)
    {
        var candidates = new List<CompactionCandidate>();
        var measurements = await MeasurementsAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (db, m) in measurements.Where(x => (database is null || x.Database == database) && (measurement is null || x.Measurement == measurement)))
        {
            var root = store.MeasurementDirectory(db, m);
            var days = new SortedDictionary<DateTime, (string Directory, SortedDictionary<int, List<SizedFile>> Hours, List<SizedFile> Daily)>();
            foreach (var (path, size) in await FilesAsync(db, m, cancellationToken).ConfigureAwait(false))
            {
                var file = new FileInfo(path);
                if (!Eligible(file.Name, path, oldestWalLsn) || Partition(Path.GetRelativePath(root, path)) is not { } partition)
                {
                    continue;
                }

                if (!days.TryGetValue(partition.Day, out var day))
                {
                    days[partition.Day] = day = (Path.Combine(root, partition.Day.ToString("yyyy/MM/dd", CultureInfo.InvariantCulture)), new(), []);
                }

                var sized = new SizedFile(file, size);
                if (partition.Hour is { } hour)
                {
                    if (!day.Hours.TryGetValue(hour, out var list))
                    {
                        day.Hours[hour] = list = [];
                    }

                    list.Add(sized);
                }
                else
                {
                    day.Daily.Add(sized);
                }
            }

            foreach (var (dayStart, (directory, hours, daily)) in days)
            {
                if (tier is null or CompactionTier.Hourly && options.HourlyEnabled)
                {
                    foreach (var (hour, files) in hours)
                    {
                        var hourStart = dayStart.AddHours(hour);
                        if (hourStart.AddHours(1) <= now - options.HourlyMinAge && files.Count >= options.HourlyMinFiles)
                        {
                            candidates.Add(Candidate(db, m, CompactionTier.Hourly, hourStart,
                                Path.Combine(directory, hour.ToString("D2", CultureInfo.InvariantCulture)), files));
                        }
                    }
                }

                if (tier is null or CompactionTier.Daily && options.DailyEnabled && dayStart.AddDays(1) <= now - options.DailyMinAge)
                {
                    var files = hours.Values.SelectMany(h => h).Concat(daily).ToList();
                    if (files.Count >= options.DailyMinFiles)
                    {
                        candidates.Add(Candidate(db, m, CompactionTier.Daily, dayStart, Path.Combine(directory, DailyDirectory), files));
                    }
                }
            }
        }

        return candidates;
    }

    private async Task<IEnumerable<(string Database, string Measurement)>> MeasurementsAsync(CancellationToken cancellationToken)
    {
        var all = new HashSet<(string, string)>();
        foreach (var db in store.Databases())
        {
            foreach (var m in store.Measurements(db))
            {
                all.Add((db, m));
            }
        }

        if (remote is not null)
        {
            all.UnionWith(await remote.MeasurementsAsync(cancellationToken).ConfigureAwait(false));
        }

        return all.Order();
    }

    /// <summary>Every file of the measurement: local, plus the store's with object storage.</summary>
    private async Task<IEnumerable<(string Path, long Size)>> FilesAsync(string database, string measurement, CancellationToken cancellationToken) =>
        remote is null
            ? store.Files(database, measurement).Select(f => (f.FullName, f.Length))
            : await remote.AllFilesAsync(database, measurement, cancellationToken).ConfigureAwait(false);

    private CompactionCandidate Candidate(string db, string m, CompactionTier tier, DateTime start, string directory, List<SizedFile> files)
    {
        var batch = files.OrderBy(f => WriteOrder(f.File)).Take(options.MaxFilesPerBatch).ToList();
        return new CompactionCandidate(db, m, tier, start, directory, batch.Select(f => f.File.FullName).ToList(), batch.Sum(f => f.Size));
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

    /// <summary>Whether compaction may rewrite the file: not holding commits still in the log, not already replaced.</summary>
    private bool Eligible(string name, string path, long oldestWalLsn) =>
        name.EndsWith(".parquet", StringComparison.Ordinal)
        && (!ParquetFileName.TryParse(name, out var parsed) || parsed.LastLsn < oldestWalLsn)
        && !epochs.IsRetired(path);

    /// <summary>The day and hour (null: the day's <c>daily</c> directory) of a path relative to the measurement directory.</summary>
    private static (DateTime Day, int? Hour)? Partition(string relative)
    {
        var parts = relative.Split(Path.DirectorySeparatorChar);
        if (parts.Length != 5 || !DateTime.TryParseExact($"{parts[0]}{parts[1]}{parts[2]}", "yyyyMMdd", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var day))
        {
            return null;
        }

        if (parts[3] == DailyDirectory)
        {
            return (day, null);
        }

        return parts[3].Length == 2 && int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var hour) && hour < 24
            ? (day, hour)
            : null;
    }

    private readonly record struct SizedFile(FileInfo File, long Size);
}
