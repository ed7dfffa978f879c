using System.Collections.Concurrent;
using System.Globalization;
using Arc.Engine.Storage;

namespace Arc.Engine.Compaction;

public enum CompactionTier
{
    Hourly,
    Daily,
    /// <summary>A level merge: flushed files of a partition still taking writes, merged into a flushed file (docs/storage.md).</summary>
    Level,
}

/// <summary>
/// A partition worth compacting and its files, oldest writes first: all of them for hourly and daily compaction (the job
/// chooses which to merge, see <see cref="CompactionRunner"/>), the inputs themselves for a level merge.
/// </summary>
public sealed record CompactionCandidate(
    string Database,
    string Measurement,
    CompactionTier Tier,
    DateTime Start,
    string Directory,
    IReadOnlyList<string> Files,
    long Bytes)
{
    /// <summary>
    /// A level merge of a partition holding more files below the last level than a steady load leaves there (three plus
    /// <c>compaction.level_series_ranges</c> times <c>compaction.level_min_files</c>; the files into the last level wait for
    /// that many times as many): it computes at the normal priority instead of <c>compaction.nice</c>.
    /// </summary>
    public bool Behind { get; init; }

    /// <summary>
    /// Lock key: a daily key is a prefix of the hourly keys of its day, and an hourly key of its hour's level merges (the hour
    /// and the merge's first input), so an hourly or daily job and a level merge of the same hour exclude each other, while
    /// level merges of one hour run side by side on different files (the manager keeps their inputs apart).
    /// </summary>
    public string Key => Tier == CompactionTier.Level
        ? $"{KeyOf(Database, Measurement, Tier, Start)}/{Path.GetFileName(Files[0])}"
        : KeyOf(Database, Measurement, Tier, Start);

    internal static string KeyOf(string database, string measurement, CompactionTier tier, DateTime start) => tier == CompactionTier.Daily
        ? $"{database}/{measurement}/{start:yyyy/MM/dd}"
        : $"{database}/{measurement}/{start:yyyy/MM/dd/HH}";
}

/// <summary>
/// Finds compaction candidates in the partition tree. Hour partitions (<c>…/YYYY/MM/DD/HH</c>) merge into a
/// <c>*_compacted.parquet</c> in the same directory; days merge all their hours into <c>…/YYYY/MM/DD/daily/*_daily.parquet</c>.
/// Files holding commits still in the write-ahead log are left alone: recovery reads their names.
/// </summary>
internal sealed class CompactionPlanner(LocalStore store, QueryEpochs epochs, CompactionOptions options, Storage.Remote.RemoteStore? remote,
    FileManifest? manifest = null)
{
    public const string DailyDirectory = LocalStore.DailyDirectory;
    public const string CompactedSuffix = "_compacted.parquet";
    public const string DailySuffix = "_daily.parquet";

    /// <summary>How the outputs of an hourly or daily job end.</summary>
    internal static string OutputSuffix(CompactionTier tier) => tier == CompactionTier.Daily ? DailySuffix : CompactedSuffix;

    /// <summary>
    /// Partitions (by <see cref="CompactionCandidate.Key"/>) whose last hourly or daily job found nothing to merge, with the
    /// files they held then: planned again only once those change (a flush, a merge, a delete).
    /// </summary>
    private readonly ConcurrentDictionary<string, string> _settled = new(StringComparer.Ordinal);

    /// <param name="started">Partitions (by <see cref="CompactionCandidate.Key"/>) that a job of the same run already merged
    /// part of: they stay candidates with fewer files than the tier's minimum, so a partition with more files than one batch
    /// takes is done in several jobs instead of stopping when what is left falls under the minimum.</param>
    public async Task<List<CompactionCandidate>> FindAsync(DateTime now, long oldestWalLsn, CompactionTier? tier, string? database,
        string? measurement, CancellationToken cancellationToken, IReadOnlySet<string>? started = null)
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
                        if (hourStart.AddHours(1) <= now - options.HourlyMinAge
                            && Enough(files.Count, options.HourlyMinFiles, started, () => CompactionCandidate.KeyOf(db, m, CompactionTier.Hourly, hourStart)))
                        {
                            AddUnlessSettled(candidates, Candidate(db, m, CompactionTier.Hourly, hourStart,
                                Path.Combine(directory, hour.ToString("D2", CultureInfo.InvariantCulture)), files));
                        }
                    }
                }

                if (tier is null or CompactionTier.Daily && options.DailyEnabled && dayStart.AddDays(1) <= now - options.DailyMinAge)
                {
                    var count = hours.Values.Sum(h => h.Count) + daily.Count;
                    if (Enough(count, options.DailyMinFiles, started, () => CompactionCandidate.KeyOf(db, m, CompactionTier.Daily, dayStart)))
                    {
                        AddUnlessSettled(candidates, Candidate(db, m, CompactionTier.Daily, dayStart, Path.Combine(directory, DailyDirectory),
                            hours.Values.SelectMany(h => h).Concat(daily).ToList()));
                    }
                }
            }
        }

        return candidates;
    }

    /// <summary>
    /// The level merges due in the measurement's hour partitions, at most one per partition (docs/storage.md, Level merges).
    /// A partition's flushed files, in write order, are mergeable when they are the only part of their flush (a part of an
    /// hour-spanning flush is never merged away: recovery would take its other parts for a flush cut short), smaller than
    /// <see cref="CompactionOptions.LevelMaxFileBytes"/> and (when the manifest knows their rows) than
    /// <see cref="CompactionOptions.LevelMaxRows"/>, uploaded (with object storage), and hold only commits below
    /// <paramref name="unflushed"/>'s answer. A merge takes a run of at least <see cref="CompactionOptions.LevelMinFiles"/>
    /// (N) consecutive mergeable files: first of the smallest level present, where level k holds the files of at most
    /// max / N^k bytes and max rows / N^k rows, so N files of a level make about one of the next; a merge's inputs total at
    /// most max bytes and max rows, so files of level 0 (over max / N of either) are left to hourly compaction; a merge of
    /// level-1 files into the last level takes K × N of them and K times those limits (K: <see cref="CompactionOptions.SeriesRangesOf"/>)
    /// and writes K files of series ranges (<see cref="CompactionRunner"/>). Consecutive
    /// files keep the output's LSN range free of every other file of the partition, so write order by first LSN stays right
    /// for later merges and deduplication.
    /// </summary>
    /// <param name="unflushed">The lowest LSN of the measurement's rows not yet in a complete flush (long.MaxValue: none).
    /// Read after the listing: every commit of the measurement below it is then in files that were complete when listed.</param>
    /// <param name="busy">Whether a file is an input of a job under way: such files are not mergeable, so a run never
    /// crosses them and merges of one hour run side by side on runs of their own.</param>
    public async Task<List<CompactionCandidate>> FindLevelAsync(string database, string measurement, Func<string, string, long> unflushed,
        Func<string, bool> busy, CancellationToken cancellationToken)
    {
        var root = store.MeasurementDirectory(database, measurement);
        var files = (await FilesAsync(database, measurement, cancellationToken).ConfigureAwait(false)).ToList();
        var uploaded = remote is null ? null : await remote.UploadedAsync(database, measurement, cancellationToken).ConfigureAwait(false);
        var floor = unflushed(database, measurement);
        var rows = (manifest?.Files(database, measurement) ?? []).Where(f => f.Rows is not null)
            .ToDictionary(f => f.Path, f => f.Rows!.Value, StringComparer.Ordinal);
        var partitions = new Dictionary<string, List<(string Path, long Size, long Rows, ParquetFileName Name)>>(StringComparer.Ordinal);
        foreach (var (path, size) in files)
        {
            if (!ParquetFileName.TryParse(Path.GetFileName(path), out var name) || epochs.IsRetired(path)
                || Partition(Path.GetRelativePath(root, path)) is not { Hour: not null })
            {
                continue;
            }

            var directory = Path.GetDirectoryName(path)!;
            if (!partitions.TryGetValue(directory, out var list))
            {
                partitions[directory] = list = [];
            }

            list.Add((path, size, rows.GetValueOrDefault(Path.GetFullPath(path)), name)); // 0: not known, the bytes decide alone
        }

        var candidates = new List<CompactionCandidate>();
        var n = Math.Max(2, options.LevelMinFiles);
        var ranges = options.SeriesRangesOf(measurement);
        foreach (var (directory, list) in partitions)
        {
            var ordered = list.OrderBy(f => (f.Name.FirstLsn, f.Name.Stamp)).ToList(); // WriteOrder of flushed files
            bool Mergeable((string Path, long Size, long Rows, ParquetFileName Name) f) =>
                f.Name.Parts == 1 && f.Name.LastLsn < floor && !busy(f.Path) && f.Size < options.LevelMaxFileBytes && f.Rows < options.LevelMaxRows
                && (uploaded is null || uploaded.Contains(f.Path));

            int LevelOf((string Path, long Size, long Rows, ParquetFileName Name) f) =>
                Math.Min(Level(f.Size, options.LevelMaxFileBytes, n), Level(f.Rows, options.LevelMaxRows, n));

            var levels = ordered.Where(Mergeable).Select(LevelOf).ToList();
            for (var level = levels.Count == 0 ? -1 : levels.Max(); level >= 1; level--)
            {
                // A merge into the last level (of level-1 files) takes K times as many (K = level_series_ranges) and writes
                // K files of series ranges, each of the last level's size and covering K times the span of one.
                var scale = level == 1 ? ranges : 1;
                var run = Run(ordered, f => Mergeable(f) && LevelOf(f) >= level, n * scale);
                if (run is not null)
                {
                    // At most S bytes and R rows in all (N files of level 1 or deeper always fit; K times that into the last
                    // level), so no merge outgrows the last level and its time and memory stay bounded however long the
                    // partition takes writes; before, a run of level-0 files merged up to max_files_per_batch × S at once
                    // while the partition's new files waited behind it.
                    var batch = new List<(string Path, long Size, long Rows, ParquetFileName Name)>();
                    var (total, totalRows) = (0L, 0L);
                    foreach (var file in run)
                    {
                        if (batch.Count == Math.Max(n * scale, options.MaxFilesPerBatch) || total + file.Size > options.LevelMaxFileBytes * scale
                            || totalRows + file.Rows > options.LevelMaxRows * scale)
                        {
                            break;
                        }

                        batch.Add(file);
                        (total, totalRows) = (total + file.Size, totalRows + file.Rows);
                    }

                    var hour = Partition(Path.GetRelativePath(root, batch[0].Path))!.Value;
                    candidates.Add(new CompactionCandidate(database, measurement, CompactionTier.Level, hour.Day.AddHours(hour.Hour!.Value),
                        directory, batch.Select(f => f.Path).ToList(), batch.Sum(f => f.Size))
                    {
                        Behind = ordered.Count(f => LevelOf(f) >= 1) >= (3 + ranges) * n,
                    });
                    break;
                }
            }
        }

        return candidates;
    }

    /// <summary>Whether a partition of <paramref name="count"/> files is worth a job (its key is built only when needed).</summary>
    private static bool Enough(int count, int minimum, IReadOnlySet<string>? started, Func<string> key) =>
        count >= minimum || (count >= 2 && started is { Count: > 0 } && started.Contains(key()));

    /// <summary>A job on <paramref name="candidate"/> found nothing to merge: leave the partition alone while its files stay.</summary>
    internal void Settled(CompactionCandidate candidate) => _settled[candidate.Key] = Fingerprint(candidate.Files);

    private void AddUnlessSettled(List<CompactionCandidate> candidates, CompactionCandidate candidate)
    {
        if (_settled.TryGetValue(candidate.Key, out var files))
        {
            if (files == Fingerprint(candidate.Files))
            {
                return;
            }

            _settled.TryRemove(candidate.Key, out _);
        }

        candidates.Add(candidate);
    }

    private static string Fingerprint(IEnumerable<string> files) => string.Join('\n', files.Order(StringComparer.Ordinal));

    /// <summary>
    /// Whether a file of <paramref name="bytes"/> and <paramref name="rows"/> (0: not known) is at the last level, level 0:
    /// over <see cref="CompactionOptions.LevelMaxFileBytes"/> / N or <see cref="CompactionOptions.LevelMaxRows"/> / N, so no
    /// level merge takes it.
    /// </summary>
    internal static bool AtLastLevel(long bytes, long rows, CompactionOptions options)
    {
        var n = Math.Max(2, options.LevelMinFiles);
        return Level(bytes, options.LevelMaxFileBytes, n) == 0 || Level(rows, options.LevelMaxRows, n) == 0;
    }

    /// <summary>
    /// The level of a file of <paramref name="amount"/> bytes or rows: the largest k with amount × N^k ≤ the last level's
    /// (<paramref name="max"/>).
    /// </summary>
    private static int Level(long amount, long max, int n)
    {
        var level = 0;
        for (var next = Math.Max(1, amount) * n; next <= max && level < 30; next *= n)
        {
            level++;
        }

        return level;
    }

    /// <summary>The first run of at least <paramref name="n"/> consecutive files that all pass <paramref name="take"/>.</summary>
    private static List<T>? Run<T>(List<T> ordered, Func<T, bool> take, int n)
    {
        var run = new List<T>();
        foreach (var file in ordered)
        {
            if (take(file))
            {
                run.Add(file);
                continue;
            }

            if (run.Count >= n)
            {
                return run;
            }

            run.Clear();
        }

        return run.Count >= n ? run : null;
    }

    /// <summary>
    /// The name of a level merge's output: a flushed file of one part whose LSN range spans its inputs'. Recovery then counts
    /// every commit of the measurement in that range as stored, which holds: each input's commits are in the output, and
    /// every other commit of the measurement in the range was below the planner's unflushed floor, so in a complete flush
    /// (whose files only leave by merges that keep their range, or by deletes that keep their name). Its stamp is the newest
    /// input's, which orders it where its inputs were among files of equal LSNs (no WAL: all 0-0): a file flushed before the
    /// merge began but left out of it, or merged beside it, stays after it.
    /// </summary>
    internal static string LevelOutputName(string measurement, IEnumerable<string> inputs)
    {
        var names = inputs.Select(i => ParquetFileName.TryParse(Path.GetFileName(i), out var name)
            ? name
            : throw new InvalidOperationException($"{i} is not a flushed file")).ToList();
        return new ParquetFileName(measurement, names.Select(x => x.Stamp).Max(StringComparer.Ordinal)!, names.Min(x => x.FirstLsn), names.Max(x => x.LastLsn), 1, 1,
            ParquetFileName.NewRandom()).ToString();
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
        var batch = files.OrderBy(f => WriteOrder(f.File)).ToList();
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
