using System.Text.Json;
using Arc.Engine.Buffers;
using Arc.Engine.Compaction;
using Arc.Engine.Errors;
using Arc.Engine.Storage;
using Arc.Engine.Storage.Remote;
using Microsoft.Extensions.Logging;

namespace Arc.Engine;

/// <summary>
/// Databases: listing, creating an empty one, and dropping a database or one measurement. A drop is durable and
/// restartable: its <see cref="DropMarker"/> is written before anything is removed, write-ahead-log recovery never
/// replays what it covers, and a start finishes a drop a crash interrupted before anything reads the data.
/// </summary>
public sealed partial class ArcEngine
{
    private readonly SemaphoreSlim _dropLock = new(1, 1);
    private readonly Dictionary<string, DropMarker> _unfinishedDrops = new(StringComparer.OrdinalIgnoreCase); // prefix -> marker
    private ILogger _dropLogger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Every database, sorted by name: those with a queryable measurement and those created empty.</summary>
    public IReadOnlyList<DatabaseSummary> ListDatabases()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var database in _catalog.Databases)
        {
            if (_catalog.HasDatabase(database) || File.Exists(MarkerPath(database)))
            {
                names.Add(database);
            }
        }

        return names.Select(Summary).ToList();
    }

    /// <summary>The database <paramref name="name"/> (matched ignoring case), or null if it does not exist.</summary>
    public DatabaseSummary? FindDatabase(string name)
    {
        CheckName(name);
        return _catalog.DatabaseName(name) is { } database && (_catalog.HasDatabase(database) || File.Exists(MarkerPath(database)))
            ? Summary(database)
            : null;
    }

    /// <summary>The database's measurement names, sorted; <see cref="ErrorReason.NotFound"/> if it does not exist.</summary>
    public IReadOnlyList<string> ListMeasurements(string name)
    {
        var database = FindDatabase(name)?.Name ?? throw NotFound(name);
        return _catalog.Measurements(database).Select(m => m.Name).ToList();
    }

    /// <summary>
    /// The columns of one measurement with their kinds (<c>time</c> first, then the rest sorted by name): the schema every
    /// writer is checked against, read from the measurement's schema file the first time. <see cref="ErrorReason.NotFound"/>
    /// when the database or the measurement does not exist.
    /// </summary>
    public IReadOnlyList<(string Name, ColumnKind Kind)> MeasurementColumns(string database, string measurement)
    {
        var name = FindDatabase(database)?.Name ?? throw NotFound(database);
        var entry = _catalog.FindMeasurement(name, measurement)
            ?? throw new DatabaseOperationException(ErrorReason.NotFound, $"measurement '{measurement}' not found in database '{name}'");
        return [(ColumnSet.TimeColumn, ColumnKind.Time), .. entry.Schema.Columns().OrderBy(c => c.Name, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Creates an empty database (its marker file, as Arc does). <see cref="ErrorReason.Invalid"/> for a bad name,
    /// <see cref="ErrorReason.Conflict"/> if it exists (ignoring case).
    /// </summary>
    public DatabaseSummary CreateDatabase(string name)
    {
        CheckName(name);
        if (FindDatabase(name) is { } existing)
        {
            throw new DatabaseOperationException(ErrorReason.Conflict, $"database '{existing.Name}' already exists");
        }

        var database = _catalog.AddDatabase(name);
        var marker = new DatabaseMarker(Options.Time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
        Durability.WriteFile(MarkerPath(database), JsonSerializer.SerializeToUtf8Bytes(marker, StorageJsonContext.Default.DatabaseMarker));
        return Summary(database);
    }

    /// <summary>
    /// Drops a database: its buffered rows, its write-ahead-log entries (never replayed), its files locally and in object
    /// storage, its views and schema files, and cached results over it. The name can be written again as soon as this
    /// returns. Writes into it while the drop runs get <see cref="DropInProgressException"/>.
    /// </summary>
    public Task<DropResult> DropDatabaseAsync(string name, CancellationToken cancellationToken) => DropAsync(name, null, cancellationToken);

    /// <summary>Drops one measurement of a database, like <see cref="DropDatabaseAsync"/>.</summary>
    public Task<DropResult> DropMeasurementAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        if (!Names.IsValidMeasurement(measurement))
        {
            throw new DatabaseOperationException(ErrorReason.Invalid, $"invalid measurement name '{measurement}'");
        }

        return DropAsync(database, measurement, cancellationToken);
    }

    private async Task<DropResult> DropAsync(string name, string? measurementName, CancellationToken cancellationToken)
    {
        CheckName(name);
        await _dropLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // No row delete runs during a drop: its rewrites must not place files into what the drop removes.
            await _deleteLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _dropLock.Release();
            throw;
        }

        try
        {
            var prefix = measurementName is null ? name + "/" : $"{name}/{measurementName}/";
            if (_unfinishedDrops.TryGetValue(prefix, out var unfinished))
            {
                // An earlier drop of it could not finish (object storage was away): its writes are still refused, finish it.
                return await FinishDropAsync(unfinished).ConfigureAwait(false);
            }

            var database = FindDatabase(name)?.Name ?? throw NotFound(name);
            var measurement = measurementName;
            if (measurementName is not null)
            {
                measurement = _catalog.FindMeasurement(database, measurementName)?.Name
                              ?? Store.Measurements(database).FirstOrDefault(m => m.Equals(measurementName, StringComparison.OrdinalIgnoreCase))
                              ?? throw new DatabaseOperationException(ErrorReason.NotFound, $"measurement '{measurementName}' not found in database '{database}'");
            }

            var lsn = await _ingest.BeginDropAsync(database, measurement, cancellationToken).ConfigureAwait(false);
            var marker = DropMarker.Create(database, measurement, lsn, Options.Time.GetUtcNow());
            try
            {
                marker.Write(Store); // the commit point: from here the drop happens, if need be finished by the next start
            }
            catch
            {
                _ingest.EndDrop(database, measurement);
                throw;
            }

            _unfinishedDrops[marker.Prefix] = marker;
            await _ingest.DiscardAsync(database, measurement, lsn).ConfigureAwait(false);
            return await FinishDropAsync(marker).ConfigureAwait(false);
        }
        finally
        {
            _deleteLock.Release();
            _dropLock.Release();
        }
    }

    /// <summary>
    /// Removes what the drop covers (the buffers are already discarded), marks it done and lets writes in again. If object
    /// storage fails, the drop stays unfinished: writes into the target stay refused, and the next drop call or start
    /// finishes it. The target is invisible to new queries at once; its Parquet files are deleted through the query epochs
    /// (<see cref="QueryEpochs"/>) once no query that started before the drop runs, and until then the done marker lists
    /// them, so a start in between deletes them.
    /// </summary>
    private async Task<DropResult> FinishDropAsync(DropMarker marker)
    {
        var prefix = marker.Prefix;
        await Compaction.BlockAsync(prefix, CancellationToken.None).ConfigureAwait(false);
        List<string> gone;
        int files;
        var retired = new RetiredDrop(this, marker);
        try
        {
            _catalog.Visibility.EnterWriteLock();
            try
            {
                gone = _catalog.Drop(marker.Database, marker.Measurement);
                retired.Files = DataFiles(Store, marker);
                _catalog.Epochs.Retire(retired.Files, retired.Deleted);
            }
            finally
            {
                _catalog.Visibility.ExitWriteLock();
            }

            foreach (var measurement in gone)
            {
                _catalog.Versions.Bump(marker.Database, measurement);
            }

            var keep = retired.Files.ToHashSet(StringComparer.Ordinal);
            files = retired.Files.Count + DeleteLocal(Store, marker, keep);
            if (Remote is { } remote)
            {
                files += await remote.DropPrefixAsync(prefix, CancellationToken.None).ConfigureAwait(false);
                files += DeleteLocal(Store, marker, keep); // a download a query started before the drop may have landed meanwhile
            }
        }
        finally
        {
            Compaction.Unblock(prefix);
        }

        retired.Finish();
        _unfinishedDrops.Remove(prefix);
        _ingest.EndDrop(marker.Database, marker.Measurement);
        RemoveObsoleteDropMarkers();
        _dropLogger.LogWarning("Dropped {Target}: {Files} files deleted", marker.Measurement is null ? marker.Database : $"{marker.Database}.{marker.Measurement}",
            files);
        return new DropResult(marker.Database, marker.Measurement, gone.Order(StringComparer.Ordinal).ToList(), files);
    }

    /// <summary>
    /// The Parquet files of a drop waiting for the queries that may read them: whichever comes last, their deletion or the
    /// drop's end, writes the done marker without them (before, it lists those not deleted yet).
    /// </summary>
    private sealed class RetiredDrop(ArcEngine engine, DropMarker marker)
    {
        private readonly Lock _lock = new();
        private bool _deleted;
        private bool _finished;

        public IReadOnlyList<string> Files { get; set; } = [];

        /// <summary>The drop is over (writes may come in again): the marker is done, listing the files still to delete.</summary>
        public void Finish()
        {
            lock (_lock)
            {
                _finished = true;
                (marker with { Done = true, Pending = _deleted ? null : Files.Select(f => Path.GetRelativePath(engine.Store.Root, f)).ToList() }).Write(engine.Store);
            }
        }

        /// <summary>The files are deleted (the last query that could read them ended): empty directories go, the marker forgets them.</summary>
        public void Deleted()
        {
            lock (_lock)
            {
                _deleted = true;
                RemoveEmptyDirectories(engine.Store, marker, engine._catalog.Visibility);
                if (_finished)
                {
                    (marker with { Done = true, Pending = null }).Write(engine.Store);
                }
            }
        }
    }

    /// <summary>The target's directories (every casing of its name).</summary>
    private static List<string> Directories(LocalStore store, DropMarker marker)
    {
        var directories = new List<string>();
        foreach (var database in store.Databases().Where(d => d.Equals(marker.Database, StringComparison.OrdinalIgnoreCase)))
        {
            if (marker.Measurement is null)
            {
                directories.Add(Path.Combine(store.Root, database));
            }
            else
            {
                directories.AddRange(store.Measurements(database).Where(m => m.Equals(marker.Measurement, StringComparison.OrdinalIgnoreCase))
                    .Select(m => store.MeasurementDirectory(database, m)));
            }
        }

        return directories;
    }

    /// <summary>The target's Parquet files, which queries may be reading.</summary>
    private static List<string> DataFiles(LocalStore store, DropMarker marker) =>
        Directories(store, marker).SelectMany(d => Directory.EnumerateFiles(d, "*.parquet", SearchOption.AllDirectories)).ToList();

    /// <summary>
    /// Deletes the target's local files but those in <paramref name="keep"/> (files queries may still read) and the
    /// directories left empty, the manifests of compactions into it and its quarantined files; returns how many Parquet
    /// files were deleted. Idempotent.
    /// </summary>
    private static int DeleteLocal(LocalStore store, DropMarker marker, IReadOnlySet<string>? keep = null)
    {
        var deleted = 0;
        var directories = Directories(store, marker);
        var manifests = CompactionManifest.DirectoryOf(store);
        if (Directory.Exists(manifests))
        {
            foreach (var file in Directory.GetFiles(manifests, "*.json"))
            {
                var text = File.ReadAllText(file);
                if (directories.Any(d => text.Contains(JsonEncodedText.Encode(d + Path.DirectorySeparatorChar).ToString(), StringComparison.Ordinal)))
                {
                    File.Delete(file);
                }
            }
        }

        foreach (var directory in directories)
        {
            if (keep is null || keep.Count == 0)
            {
                deleted += Directory.EnumerateFiles(directory, "*.parquet", SearchOption.AllDirectories).Count();
                Directory.Delete(directory, recursive: true);
                Durability.FsyncDirectory(Path.GetDirectoryName(directory)!);
                continue;
            }

            foreach (var file in Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Where(f => !keep.Contains(f)))
            {
                deleted += file.EndsWith(".parquet", StringComparison.Ordinal) ? 1 : 0;
                File.Delete(file);
            }
        }

        RemoveEmptyDirectories(store, marker, visibility: null);
        return deleted;
    }

    /// <summary>
    /// Removes the target's empty directories, deepest first. Flushes place files under <paramref name="visibility"/>
    /// (when the name is written again), so it is held meanwhile, unless the caller holds it or nothing can write yet; a
    /// query that failed while binding, under the read lock, leaves them (empty directories are no data).
    /// </summary>
    private static void RemoveEmptyDirectories(LocalStore store, DropMarker marker, ReaderWriterLockSlim? visibility)
    {
        if (visibility is { IsReadLockHeld: true })
        {
            return;
        }

        var locked = visibility is { IsWriteLockHeld: false };
        if (locked)
        {
            visibility!.EnterWriteLock();
        }

        try
        {
            foreach (var directory in Directories(store, marker))
            {
                foreach (var sub in Directory.GetDirectories(directory, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(directory))
                {
                    try
                    {
                        if (!Directory.EnumerateFileSystemEntries(sub).Any())
                        {
                            Directory.Delete(sub);
                            Durability.FsyncDirectory(Path.GetDirectoryName(sub)!);
                        }
                    }
                    catch (IOException)
                    {
                        // something was placed in it meanwhile (a download): it stays
                    }
                }
            }
        }
        finally
        {
            if (locked)
            {
                visibility!.ExitWriteLock();
            }
        }
    }

    /// <summary>Deletes markers of finished drops once no log segment can hold entries they cover.</summary>
    private void RemoveObsoleteDropMarkers()
    {
        var oldest = _ingest.Wal?.OldestRetainedLsn ?? long.MaxValue;
        foreach (var marker in DropMarker.ReadAll(Store))
        {
            if (marker.Done && marker.Pending is null && marker.Lsn < oldest)
            {
                marker.Delete(Store);
            }
        }
    }

    /// <summary>Startup, before anything reads the tree: the local part of drops a crash interrupted.</summary>
    private static List<DropMarker> FinishDropsLocally(LocalStore store, ILogger logger)
    {
        var markers = DropMarker.ReadAll(store);
        foreach (var marker in markers.Where(m => !m.Done))
        {
            var files = DeleteLocal(store, marker);
            logger.LogWarning("Finishing the interrupted drop of {Target}: {Files} local files deleted",
                marker.Measurement is null ? marker.Database : $"{marker.Database}.{marker.Measurement}", files);
        }

        // Done drops whose files queries were still reading when the process stopped: those files, and only those.
        for (var i = 0; i < markers.Count; i++)
        {
            if (markers[i] is { Done: true, Pending: { } pending } marker)
            {
                foreach (var file in pending.Select(p => Path.Combine(store.Root, p)).Where(File.Exists))
                {
                    File.Delete(file);
                }

                RemoveEmptyDirectories(store, marker, visibility: null);
                markers[i] = marker with { Pending = null };
                markers[i].Write(store);
                logger.LogWarning("Deleted the {Files} files of the drop of {Target} that queries were reading", pending.Count,
                    marker.Measurement is null ? marker.Database : $"{marker.Database}.{marker.Measurement}");
            }
        }

        return markers;
    }

    /// <summary>
    /// Startup, after object storage connected: deletes the objects of interrupted drops and marks them done. A drop the
    /// store cannot finish now stays unfinished: its target refuses writes until a drop call or the next start finishes it.
    /// </summary>
    private async Task FinishDropsAsync(List<DropMarker> markers)
    {
        foreach (var marker in markers.Where(m => !m.Done))
        {
            try
            {
                if (Remote is { } remote)
                {
                    await remote.DropPrefixAsync(marker.Prefix, CancellationToken.None).ConfigureAwait(false);
                    DeleteLocal(Store, marker);
                }

                (marker with { Done = true }).Write(Store);
            }
            catch (ObjectStoreException e)
            {
                _dropLogger.LogError(e, "Could not finish the drop of {Prefix} in object storage; writes to it are refused until a drop call finishes it",
                    marker.Prefix);
                _unfinishedDrops[marker.Prefix] = marker;
                await _ingest.BeginDropAsync(marker.Database, marker.Measurement, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private string MarkerPath(string database) => Path.Combine(Store.Root, database, DatabaseMarker.FileName);

    private DatabaseSummary Summary(string database)
    {
        string? created = null;
        try
        {
            created = JsonSerializer.Deserialize(File.ReadAllBytes(MarkerPath(database)), StorageJsonContext.Default.DatabaseMarker)?.CreatedAt;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            // No marker (a database made by its first write) or an unreadable one: no creation time.
        }

        return new DatabaseSummary(database, _catalog.Measurements(database).Count(), created);
    }

    private static void CheckName(string name)
    {
        if (Names.ValidateDatabase(name) is { } error)
        {
            throw new DatabaseOperationException(ErrorReason.Invalid, error);
        }
    }

    private static DatabaseOperationException NotFound(string name) => new(ErrorReason.NotFound, $"database '{name}' not found");
}
