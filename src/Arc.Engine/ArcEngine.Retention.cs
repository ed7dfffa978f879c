using Arc.Engine.Retention;
using Arc.Engine.Storage;
using Arc.Engine.Storage.Remote;
using Microsoft.Extensions.Logging;

namespace Arc.Engine;

/// <summary>
/// Retention's removal: every Parquet file whose rows are all older than a cutoff leaves the manifest, local disk and
/// object storage, durably (a <see cref="RetentionMarker"/> names the files before any is removed, and a start finishes
/// what a crash interrupted before anything reads the tree). A file's rows lie in its partition (an hour, or a day for
/// daily-compacted files), so a file is expired when its partition ended before the cutoff. It never touches what
/// compaction works on (the measurement is blocked from it meanwhile), deletes a local file only once the queries that
/// may read it ended, and moves the measurement's data version so cached results over it are dropped.
/// </summary>
public sealed partial class ArcEngine
{
    private ILogger _retentionLogger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Retention policies (<see cref="EngineOptions.Retention"/>), null when off; their schedule runs from <see cref="RetentionManager.Start"/>.</summary>
    public RetentionManager? Retention { get; private set; }

    /// <summary>
    /// Removes the files of <paramref name="database"/> (one <paramref name="measurement"/>, or all of them) whose rows are
    /// all older than <paramref name="cutoff"/>, and the older rows of files that straddle it (counted in
    /// <see cref="RetentionSweep.Partial"/>, rewritten by <see cref="DeleteRowsAsync"/>); with <paramref name="dryRun"/> only
    /// says which. Expired files whose rows the write-ahead log
    /// still holds are left for a later run (<see cref="RetentionSweep.Deferred"/>): recovery would otherwise replay them.
    /// Buffered rows are flushed first, so expired ones among them go in this run.
    /// </summary>
    internal async Task<RetentionSweep> ExpireAsync(string database, string? measurement, DateTimeOffset cutoff, bool dryRun,
        CancellationToken cancellationToken)
    {
        var cutoffNanos = (cutoff - DateTimeOffset.UnixEpoch).Ticks * 100;
        var sweep = new RetentionSweep();
        string? name;
        await _dropLock.WaitAsync(cancellationToken).ConfigureAwait(false); // a drop and a removal never interleave
        try
        {
            // Buffered rows are flushed first (old ones expire in this run, not the next), so the log can let go of the
            // segments that hold them and the expired files they cover are not deferred.
            await _ingest.FlushAllAsync().ConfigureAwait(false);
            if (_ingest.Wal is { } wal)
            {
                await wal.RotateAsync().ConfigureAwait(false); // segments whose rows are all flushed go: their files can be removed
            }

            name = _catalog.DatabaseName(database) ?? Store.Databases().FirstOrDefault(d => d.Equals(database, StringComparison.OrdinalIgnoreCase));
            if (name is null)
            {
                return sweep;
            }

            foreach (var target in await MeasurementsToExpireAsync(name, measurement, cancellationToken).ConfigureAwait(false))
            {
                sweep.Measurements.Add(target);
                await ExpireMeasurementAsync(name, target, cutoffNanos, dryRun, sweep, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _dropLock.Release();
        }

        // Files with rows on both sides of the cutoff lose their expired rows through the row delete, which rewrites them
        // crash-safely (it takes its own locks and compaction block, so it runs once the whole-file pass let go of them).
        // The range starts at their partitions, so a dry run does not count again the rows of the files it listed.
        foreach (var (target, from) in sweep.Straddling)
        {
            var where = $"time >= '{Iso(DateTimeOffset.UnixEpoch.AddTicks(from / 100))}' AND time < '{Iso(cutoff)}'";
            var result = await DeleteRowsAsync(name!, target, where, dryRun, long.MaxValue, cancellationToken).ConfigureAwait(false);
            sweep.Rows += result.DeletedRows;
        }

        return sweep;
    }

    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The measurement named (as storage spells it), or every measurement the database has locally or in object storage.</summary>
    private async Task<List<string>> MeasurementsToExpireAsync(string database, string? measurement, CancellationToken cancellationToken)
    {
        var names = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        names.UnionWith(_catalog.Measurements(database).Select(m => m.Name));
        foreach (var directory in Store.Databases().Where(d => d.Equals(database, StringComparison.OrdinalIgnoreCase)))
        {
            names.UnionWith(Store.Measurements(directory));
        }

        if (Remote is { } remote)
        {
            names.UnionWith((await remote.MeasurementsAsync(cancellationToken).ConfigureAwait(false))
                .Where(m => m.Database.Equals(database, StringComparison.OrdinalIgnoreCase)).Select(m => m.Measurement));
        }

        return measurement is null
            ? names.ToList()
            : names.TryGetValue(measurement, out var actual) ? [actual] : [];
    }

    private async Task ExpireMeasurementAsync(string database, string measurement, long cutoffNanos, bool dryRun, RetentionSweep sweep,
        CancellationToken cancellationToken)
    {
        var prefix = $"{database}/{measurement}/";
        await Compaction.BlockAsync(prefix, cancellationToken).ConfigureAwait(false);
        try
        {
            PruneEmptyPartitions(database, measurement, cutoffNanos);
            var oldestLogged = _ingest.Wal?.OldestRetainedLsn ?? long.MaxValue;
            IEnumerable<(string Path, long Size)> files = Remote is { } remote
                ? await remote.AllFilesAsync(database, measurement, cancellationToken).ConfigureAwait(false)
                : _catalog.Manifest.Files(database, measurement).Select(f => (f.Path, f.Bytes));
            var expired = new List<(string Path, long Size)>();
            foreach (var (path, size) in files)
            {
                if (_catalog.Epochs.IsRetired(path))
                {
                    continue; // replaced by a compaction: deleted once its readers end
                }

                var (min, max) = FileManifest.PartitionRange(Store, path);
                if (max < cutoffNanos)
                {
                    if (ParquetFileName.TryParse(Path.GetFileName(path), out var flushed) && flushed.LastLsn >= oldestLogged)
                    {
                        sweep.Deferred++;
                    }
                    else
                    {
                        expired.Add((path, size));
                    }
                }
                else if (min < cutoffNanos)
                {
                    // Rows on both sides of the cutoff: their expired rows are deleted once this pass is over.
                    sweep.Partial++;
                    sweep.Straddling[measurement] = Math.Min(min, sweep.Straddling.GetValueOrDefault(measurement, long.MaxValue));
                }
            }

            expired.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
            var keys = expired.Select(f => RetentionMarker.KeyOf(Store, f.Path)).ToList();
            var local = expired.Select(f => f.Path).Where(File.Exists).ToList();
            sweep.Files.AddRange(keys);
            sweep.Bytes += expired.Sum(f => f.Size);
            sweep.Rows += _catalog.RowCounts(local).Values.Sum();
            if (dryRun || expired.Count == 0)
            {
                return;
            }

            var marker = RetentionMarker.Create(database, measurement, keys, Options.Time.GetUtcNow());
            marker.Write(Store); // the commit point: from here the files go, if need be at the next start
            ObjectStoreException? failed = null;
            if (Remote is { } store)
            {
                try
                {
                    // Tombstoned first: no listing, download or queued upload brings them back.
                    await store.DeleteAsync(expired.Select(f => f.Path).ToList(), CancellationToken.None).ConfigureAwait(false);
                }
                catch (ObjectStoreException e)
                {
                    failed = e; // hidden until the process ends; the marker has the next start delete them
                }
            }

            _catalog.Visibility.EnterWriteLock();
            try
            {
                _catalog.Manifest.Removed(expired.Select(f => f.Path));
                _catalog.Epochs.Retire(local, () =>
                {
                    foreach (var directory in local.Select(Path.GetDirectoryName).Distinct().OfType<string>().Where(Directory.Exists))
                    {
                        Durability.FsyncDirectory(directory); // the deletions are durable before the marker goes
                    }

                    if (failed is null)
                    {
                        marker.Delete(Store);
                    }
                });
                _catalog.Versions.Bump(database, measurement); // cached results over the removed rows are stale
            }
            finally
            {
                _catalog.Visibility.ExitWriteLock();
            }

            if (failed is not null)
            {
                throw new ObjectStoreException($"retention removed {expired.Count} files of {database}.{measurement} locally, but object storage " +
                                               $"failed to delete them ({failed.Message}); the next start deletes them", failed);
            }
        }
        finally
        {
            Compaction.Unblock(prefix);
        }
    }

    /// <summary>
    /// Deletes the measurement's expired partition directories that earlier runs emptied (their files are deleted once
    /// their last reader ended, so a run cleans up after the one before). Under the visibility lock, which a flush holds
    /// while it places files, so a directory is never deleted under a file being placed.
    /// </summary>
    private void PruneEmptyPartitions(string database, string measurement, long cutoffNanos)
    {
        var root = Store.MeasurementDirectory(database, measurement);
        if (!Directory.Exists(root))
        {
            return;
        }

        _catalog.Visibility.EnterWriteLock();
        try
        {
            var partitions = Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories)
                .Where(d => Path.GetRelativePath(root, d).Split(Path.DirectorySeparatorChar).Length == 4)
                .Where(d => FileManifest.PartitionRange(Store, Path.Combine(d, "file")).Max < cutoffNanos).ToList();
            foreach (var partition in partitions)
            {
                for (var directory = partition; directory.Length > root.Length; directory = Path.GetDirectoryName(directory)!)
                {
                    if (Directory.EnumerateFileSystemEntries(directory).Any())
                    {
                        break;
                    }

                    Directory.Delete(directory);
                }
            }
        }
        catch (IOException e)
        {
            _retentionLogger.LogWarning(e, "Could not delete the empty partition directories of {Database}.{Measurement}", database, measurement);
        }
        finally
        {
            _catalog.Visibility.ExitWriteLock();
        }
    }

    /// <summary>
    /// Startup, before anything reads the tree: deletes the local files of removals a crash interrupted. Without object
    /// storage that finishes them; with it, <see cref="FinishRetentionAsync"/> deletes their objects once it is connected.
    /// </summary>
    private static List<RetentionMarker> FinishRetentionLocally(LocalStore store, bool remote, ILogger logger)
    {
        var markers = RetentionMarker.ReadAll(store);
        foreach (var marker in markers)
        {
            var deleted = 0;
            foreach (var path in marker.PathsIn(store).Where(File.Exists))
            {
                File.Delete(path);
                deleted++;
            }

            logger.LogWarning("Finishing the interrupted retention removal {Id} of {Database}.{Measurement}: {Files} local files deleted",
                marker.Id, marker.Database, marker.Measurement, deleted);
            if (!remote)
            {
                marker.Delete(store);
            }
        }

        return markers;
    }

    /// <summary>
    /// Startup, after object storage connected: deletes the objects of interrupted removals, then their markers. A store
    /// that fails now keeps them hidden in this process and the marker has the next start try again.
    /// </summary>
    private async Task FinishRetentionAsync(RemoteStore remote, List<RetentionMarker> markers)
    {
        foreach (var marker in markers)
        {
            try
            {
                await remote.DeleteAsync(marker.PathsIn(Store).ToList(), CancellationToken.None).ConfigureAwait(false);
                marker.Delete(Store);
            }
            catch (ObjectStoreException e)
            {
                _retentionLogger.LogError(e, "Could not delete the objects of retention removal {Id} from object storage; the next start tries again", marker.Id);
            }
        }
    }
}
