using Arc.Engine.Buffers;
using Arc.Engine.Storage;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Wal;

/// <summary>One logged commit's rows that did not reach Parquet before the process stopped.</summary>
internal sealed record WalReplay(long Lsn, List<ColumnSet> Sets);

/// <summary>
/// Startup recovery: reads every WAL segment, drops a torn last entry (it was never acknowledged), and keeps, per entry and
/// measurement, only the rows no complete Parquet flush covers (by the LSN ranges in the file names). Incomplete flushes
/// (some parts renamed before a crash) are deleted, since their rows are replayed whole. So every acknowledged row ends up
/// in Parquet exactly once. Only a flush whose LSNs the WAL still holds can be incomplete: an older one finished before its
/// segment was deleted, and compaction may since have merged some of its parts away (it takes only files older than the
/// oldest segment), so a missing part there is no sign of a crash and its other parts are kept.
/// </summary>
internal static class WalRecovery
{
    /// <param name="remoteNames">With object storage, the file names the store holds for a measurement (flushed files may have
    /// left the local cache).</param>
    /// <returns>The last LSN logged, the rows to replay, the segments read, and the local files of incomplete flushes it
    /// deleted.</returns>
    /// <param name="drops">Databases and measurements dropped (<see cref="DropMarker"/>): their entries up to the drop's LSN are
    /// discarded, never replayed.</param>
    public static async Task<(long LastLsn, List<WalReplay> Replays, List<string> Segments, List<string> Deleted)> ReadAsync(string directory,
        LocalStore store, ILogger logger, Func<string, string, CancellationToken, Task<IEnumerable<string>>>? remoteNames = null,
        IReadOnlyList<DropMarker>? drops = null, CancellationToken cancellationToken = default)
    {
        var segments = WalSegment.List(directory);
        var replays = new List<WalReplay>();
        var coverage = new Dictionary<(string, string), List<(long First, long Last)>>();
        var oldestLsn = segments.Count > 0 ? segments[0].FirstLsn : long.MaxValue;
        var deleted = new List<string>();
        long lastLsn = 0;
        for (var s = 0; s < segments.Count; s++)
        {
            var (firstLsn, path) = segments[s];
            lastLsn = Math.Max(lastLsn, firstLsn - 1);
            var entries = WalSegment.ReadEntries(path, out var validLength, out var torn);
            if (torn)
            {
                if (s == segments.Count - 1)
                {
                    logger.LogWarning("Write-ahead log {Path}: dropping a torn entry at byte {Offset} (never acknowledged)", path, validLength);
                }
                else
                {
                    logger.LogError("Write-ahead log {Path} is corrupt after byte {Offset}; entries after it cannot be read", path, validLength);
                }
            }

            foreach (var body in entries)
            {
                var (lsn, sets) = WalCodec.Decode(body);
                lastLsn = Math.Max(lastLsn, lsn);
                var keep = new List<ColumnSet>();
                foreach (var set in sets)
                {
                    if (drops is not null && drops.Any(d => lsn <= d.Lsn && d.Covers(set.Database, set.Measurement)))
                    {
                        set.Dispose();
                    }
                    else if (await IsCoveredAsync(store, remoteNames, coverage, oldestLsn, deleted, set.Database, set.Measurement, lsn, cancellationToken)
                            .ConfigureAwait(false))
                    {
                        set.Dispose();
                    }
                    else
                    {
                        keep.Add(set);
                    }
                }

                if (keep.Count > 0)
                {
                    replays.Add(new WalReplay(lsn, keep));
                }
            }
        }

        return (lastLsn, replays, segments.Select(s => s.Path).ToList(), deleted);
    }

    private static async ValueTask<bool> IsCoveredAsync(LocalStore store, Func<string, string, CancellationToken, Task<IEnumerable<string>>>? remoteNames,
        Dictionary<(string, string), List<(long First, long Last)>> coverage, long oldestLsn, List<string> deleted, string database,
        string measurement, long lsn, CancellationToken cancellationToken)
    {
        if (!coverage.TryGetValue((database, measurement), out var ranges))
        {
            var names = remoteNames is null ? [] : await remoteNames(database, measurement, cancellationToken).ConfigureAwait(false);
            ranges = CompleteFlushes(store, names, oldestLsn, deleted, database, measurement);
            coverage[(database, measurement)] = ranges;
        }

        foreach (var (first, last) in ranges)
        {
            if (lsn >= first && lsn <= last)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The LSN ranges of the measurement's complete flushes; parts of incomplete ones (some parts missing, LSNs still in the
    /// WAL from <paramref name="oldestLsn"/>) are deleted.
    /// </summary>
    private static List<(long, long)> CompleteFlushes(LocalStore store, IEnumerable<string> remoteNames, long oldestLsn, List<string> deleted,
        string database, string measurement)
    {
        var flushes = new Dictionary<string, (ParquetFileName Name, HashSet<int> Parts, List<string> LocalPaths)>();
        void Add(string fileName, string? localPath)
        {
            if (ParquetFileName.TryParse(fileName, out var name) && name.LastLsn > 0)
            {
                if (!flushes.TryGetValue(name.FlushKey, out var flush))
                {
                    flushes[name.FlushKey] = flush = (name, [], []);
                }

                flush.Parts.Add(name.Part);
                if (localPath is not null)
                {
                    flush.LocalPaths.Add(localPath);
                }
            }
        }

        foreach (var file in store.Files(database, measurement))
        {
            Add(file.Name, file.FullName);
        }

        foreach (var name in remoteNames)
        {
            Add(name, null);
        }

        var ranges = new List<(long, long)>();
        foreach (var (name, parts, localPaths) in flushes.Values)
        {
            if (parts.Count == name.Parts || name.LastLsn < oldestLsn)
            {
                ranges.Add((name.FirstLsn, name.LastLsn));
            }
            else
            {
                localPaths.ForEach(File.Delete);
                deleted.AddRange(localPaths);
            }
        }

        return ranges;
    }
}
