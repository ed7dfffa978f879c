using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Storage.Remote;

/// <summary>
/// Object storage behind the local tree. Flushed files are written locally as always (so the WAL and exactly-once rules
/// are unchanged) and then uploaded with bounded concurrency, retried with backoff for as long as the store is away;
/// a file is never evicted locally before it is uploaded. The local tree doubles as the query cache: before a query binds,
/// the files of the partitions it needs are fetched (validated by size) and pinned until it ends; uploaded files beyond
/// <see cref="ObjectStoreOptions.CacheBytes"/> are evicted least recently used first. Listings are cached briefly and kept
/// current by our own uploads and deletes. Keys are the local paths relative to the storage root.
/// </summary>
internal sealed class RemoteStore : IAsyncDisposable
{
    private static readonly TimeSpan TombstoneLife = TimeSpan.FromMinutes(10);
    private readonly ObjectStoreOptions _options;
    private readonly LocalStore _store;
    private readonly Catalog _catalog;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IObjectStore _s3;
    private readonly Action<string, string>? _flushUploaded;
    private readonly Channel<string> _uploads = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<(string Database, string Measurement), Listing> _listings = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _pending = new(StringComparer.Ordinal);      // key -> bytes, not uploaded yet
    private readonly Dictionary<string, CachedFile> _cached = new(StringComparer.Ordinal);  // key -> uploaded and local
    private readonly Dictionary<string, int> _pins = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTime> _tombstones = new(StringComparer.Ordinal);
    private readonly HashSet<string> _undeleted = new(StringComparer.Ordinal); // deletes that failed: hidden until the next start
    private readonly Dictionary<string, RemoteObject?> _unplaced = new(StringComparer.Ordinal); // uploaded before their local file is in place: hidden
    private readonly List<string> _dropping = [];                                // key prefixes being dropped: uploads there are undone
    private readonly Dictionary<string, int> _uploading = new(StringComparer.Ordinal); // keys whose upload is under way
    private readonly SemaphoreSlim _transfers;
    private readonly CancellationTokenSource _stopping = new();
    private Task[] _uploaders = [];
    private long _uploaded;
    private long _uploadFailures;
    private string? _lastError;
    private DateTime _fullListing = DateTime.MinValue;

    /// <summary>A store not connected yet: <see cref="StartAsync"/> connects it and starts the uploaders.</summary>
    /// <param name="flushUploaded">Called with the database and measurement of each queued file once it is uploaded (level merges wait for that).</param>
    public RemoteStore(ObjectStoreOptions options, LocalStore store, Catalog catalog, TimeProvider time, ILogger logger, Action<string, string>? flushUploaded = null)
    {
        _options = options;
        _flushUploaded = flushUploaded;
        _time = time;
        _store = store;
        _catalog = catalog;
        _logger = logger;
        _s3 = options.Store ?? new S3ObjectStore(options);
        _transfers = new SemaphoreSlim(Math.Max(1, options.Concurrency));
    }

    public long PendingUploads
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    public long PendingBytes
    {
        get
        {
            lock (_lock)
            {
                return _pending.Values.Sum();
            }
        }
    }

    public long CachedBytes
    {
        get
        {
            lock (_lock)
            {
                return _cached.Values.Sum(c => c.Bytes);
            }
        }
    }

    public long UploadedFiles => Interlocked.Read(ref _uploaded);

    public long UploadFailures => Interlocked.Read(ref _uploadFailures);

    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>
    /// Connects, lists the store, queues every local file the store does not have, and starts the uploaders. Fails
    /// startup only if the configuration is unusable; an unreachable store just leaves the uploads queued.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _s3.EnsureBucketAsync(cancellationToken).ConfigureAwait(false);
            var objects = await _s3.ListAsync("", cancellationToken).ConfigureAwait(false);
            Reconcile(objects);
        }
        catch (ObjectStoreException e)
        {
            _logger.LogError(e, "Object storage is not reachable at startup; local files will be uploaded once it is");
            Reconcile(null);
        }

        _uploaders = Enumerable.Range(0, Math.Max(1, _options.Concurrency))
            .Select(_ => Task.Run(UploadLoop)).ToArray();
    }

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    /// <summary>Queues freshly placed files for upload.</summary>
    public void Enqueue(IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            var key = Key(path);
            lock (_lock)
            {
                _pending[key] = new FileInfo(path).Length;
            }

            _uploads.Writer.TryWrite(key);
        }
    }

    /// <summary>
    /// Uploads <paramref name="file"/> as the object of local path <paramref name="path"/> now: a compaction output must be
    /// in the store before its inputs leave it. The object stays out of listings, so no query or merge fetches it and
    /// reads its rows beside its inputs' (nor takes its path before the file is moved there), until
    /// <see cref="Placed"/> says the local file is in place; if that never comes (the job failed after the upload), it
    /// stays hidden until the next start, whose recovery settles it.
    /// </summary>
    public async Task UploadNowAsync(string file, string path, CancellationToken cancellationToken)
    {
        var key = Key(path);
        lock (_lock)
        {
            _unplaced[key] = null; // hidden before the object can exist
        }

        var etag = await _s3.PutAsync(key, file, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _uploaded);
        lock (_lock)
        {
            if (_unplaced.ContainsKey(key))
            {
                _unplaced[key] = new RemoteObject(key, new FileInfo(file).Length, etag);
            }
        }
    }

    /// <summary>
    /// The local file of an object uploaded by <see cref="UploadNowAsync"/> is in place (call under the visibility write
    /// lock, with the move): the object is listed and cached from now on.
    /// </summary>
    public void Placed(string path)
    {
        var key = Key(path);
        RemoteObject item;
        lock (_lock)
        {
            if (!_unplaced.Remove(key, out var uploaded) || uploaded is not { } found)
            {
                return;
            }

            item = found;
            _cached[key] = new CachedFile(item.Size, Now.Ticks);
        }

        if (Split(key) is { } where)
        {
            NewListing(where.Database, where.Measurement).Add(item);
        }
    }

    /// <summary>Whether the store holds the object of local path <paramref name="path"/> (per the listing).</summary>
    public async Task<bool> ExistsAsync(string path, CancellationToken cancellationToken)
    {
        var key = Key(path);
        return Split(key) is { } where
               && (await ObjectsAsync(where.Database, where.Measurement, cancellationToken).ConfigureAwait(false)).Any(o => o.Key == key);
    }

    /// <summary>
    /// Deletes objects (compaction inputs) and remembers them for a while, so a listing taken before, a download in flight
    /// or a queued upload cannot bring them back. When the delete fails they may still be in the store: they stay hidden
    /// until the process ends (the compaction manifest has the next start delete them), not just for the tombstones' life.
    /// </summary>
    public async Task DeleteAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        var keys = paths.Select(Key).ToList();
        lock (_lock)
        {
            var now = Now;
            foreach (var key in keys)
            {
                _tombstones[key] = now;
                _unplaced.Remove(key);
                _pending.Remove(key);
                _cached.Remove(key);
            }
        }

        foreach (var key in keys)
        {
            if (Split(key) is { } where && _listings.TryGetValue((where.Database, where.Measurement), out var listing))
            {
                listing.Remove(key);
            }
        }

        try
        {
            await _s3.DeleteAsync(keys, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ObjectStoreException or OperationCanceledException)
        {
            lock (_lock)
            {
                _undeleted.UnionWith(keys);
            }

            throw;
        }
    }

    /// <summary>
    /// Removes everything under <paramref name="prefix"/> (<c>db/</c> or <c>db/m/</c>, matched ignoring case as names are):
    /// queued uploads, cached-file records and listings are forgotten, uploads under way are waited for (one that lands
    /// meanwhile is deleted by its uploader), then every object the store lists there is deleted. Returns how many objects
    /// were deleted. Throws <see cref="ObjectStoreException"/> when the store fails; repeating the call finishes the job.
    /// </summary>
    public async Task<int> DropPrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        bool Under(string key) => key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase);
        lock (_lock)
        {
            _dropping.Add(prefix);
            foreach (var key in _pending.Keys.Where(Under).ToList())
            {
                _pending.Remove(key);
            }
        }

        try
        {
            while (true)
            {
                lock (_lock)
                {
                    if (!_uploading.Keys.Any(Under))
                    {
                        foreach (var key in _cached.Keys.Where(Under).ToList())
                        {
                            _cached.Remove(key);
                        }

                        break;
                    }
                }

                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            }

            foreach (var key in _listings.Keys.Where(k => Under($"{k.Database}/{k.Measurement}/")).ToList())
            {
                _listings.TryRemove(key, out _);
            }

            // The database's own directory name may differ in case from the prefix: list what the store has under it.
            var keys = new List<string>();
            var slash = prefix.IndexOf('/', StringComparison.Ordinal);
            foreach (var database in await _s3.ListPrefixesAsync("", cancellationToken).ConfigureAwait(false))
            {
                if (database.Equals(prefix[..slash], StringComparison.OrdinalIgnoreCase))
                {
                    keys.AddRange((await _s3.ListAsync(database + "/", cancellationToken).ConfigureAwait(false)).Select(o => o.Key).Where(Under));
                }
            }

            if (keys.Count > 0)
            {
                await _s3.DeleteAsync(keys, cancellationToken).ConfigureAwait(false);
            }

            return keys.Count;
        }
        finally
        {
            lock (_lock)
            {
                _dropping.Remove(prefix);
            }
        }
    }

    /// <summary>The store's objects of a measurement (listing cached for <see cref="ObjectStoreOptions.ListingTtl"/>).</summary>
    public async Task<IReadOnlyList<RemoteObject>> ObjectsAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        var listing = NewListing(database, measurement);
        if (Now - listing.Fetched > _options.ListingTtl)
        {
            try
            {
                var objects = await _s3.ListAsync($"{database}/{measurement}/", cancellationToken).ConfigureAwait(false);
                listing.Replace(objects.Where(o => !IsHidden(o.Key)), Now);
            }
            catch (ObjectStoreException e) when (listing.Fetched != DateTime.MinValue)
            {
                // The store is away: the last listing, kept current by our own uploads and deletes, still says what exists.
                // Queries over files that are local keep working; a file that would have to be fetched fails the query.
                _logger.LogWarning("Listing {Database}/{Measurement} failed; using the listing from {Fetched:O}: {Error}",
                    database, measurement, listing.Fetched, e.Message);
            }
        }

        return listing.Snapshot();
    }

    /// <summary>Databases and measurements the store holds (delimiter listing), for SHOW DATABASES/TABLES.</summary>
    public async Task<List<(string Database, string Measurement)>> MeasurementsAsync(CancellationToken cancellationToken)
    {
        var result = new List<(string, string)>();
        foreach (var database in await _s3.ListPrefixesAsync("", cancellationToken).ConfigureAwait(false))
        {
            if (!Names.IsValidDatabase(database))
            {
                continue;
            }

            foreach (var measurement in await _s3.ListPrefixesAsync(database + "/", cancellationToken).ConfigureAwait(false))
            {
                if (Names.IsValidMeasurement(measurement))
                {
                    result.Add((database, measurement));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Makes the files of the given partitions local (fetching what is missing) and pins them until the returned lease is
    /// disposed, so eviction cannot take them from a running query. A null hour range means every partition.
    /// </summary>
    public async Task<IDisposable> EnsureLocalAsync(IEnumerable<(string Database, string Measurement, long FromHour, long ToHour)> wanted,
        CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        var fetch = new List<RemoteObject>();
        foreach (var (database, measurement, fromHour, toHour) in wanted)
        {
            foreach (var item in await ObjectsAsync(database, measurement, cancellationToken).ConfigureAwait(false))
            {
                if (HourRange(item.Key) is not { } range || range.Last < fromHour || range.First > toHour)
                {
                    continue;
                }

                keys.Add(item.Key);
                if (!File.Exists(Path.Combine(_store.Root, item.Key)))
                {
                    fetch.Add(item);
                }
            }
        }

        var lease = Pin(keys);
        try
        {
            await FetchAndRegisterAsync(fetch.Select(item => FetchAsync(item, cancellationToken)).ToList()).ConfigureAwait(false);
        }
        catch
        {
            lease.Dispose();
            throw;
        }

        Evict();
        return lease;
    }

    /// <summary>
    /// Makes specific files local (compaction inputs that were evicted) and visible to queries again, pinned until the lease
    /// is disposed.
    /// </summary>
    public async Task<IDisposable> EnsureFilesAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        var keys = paths.Select(Key).ToList();
        var lease = Pin(keys);
        try
        {
            foreach (var group in keys.Where(k => !File.Exists(Path.Combine(_store.Root, k))).GroupBy(k => Split(k)))
            {
                var (database, measurement) = group.Key!.Value;
                var objects = (await ObjectsAsync(database, measurement, cancellationToken).ConfigureAwait(false)).ToDictionary(o => o.Key);
                await FetchAndRegisterAsync(group.Select(key => objects.TryGetValue(key, out var item)
                    ? FetchAsync(item, cancellationToken)
                    : Task.FromException<string?>(new ObjectStoreException($"{key} is neither local nor in the store"))).ToList()).ConfigureAwait(false);
            }
        }
        catch
        {
            lease.Dispose();
            throw;
        }

        return lease;
    }

    /// <summary>Every file of a measurement, local or in the store, as local paths with sizes (for compaction planning).</summary>
    public async Task<List<(string Path, long Size)>> AllFilesAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        var files = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var item in await ObjectsAsync(database, measurement, cancellationToken).ConfigureAwait(false))
        {
            files[Path.Combine(_store.Root, item.Key)] = item.Size;
        }

        foreach (var file in _store.Files(database, measurement))
        {
            if (!IsHidden(Key(file.FullName)))
            {
                files[file.FullName] = file.Length;
            }
        }

        return files.Select(f => (f.Key, f.Value)).ToList();
    }

    /// <summary>The store's location of a measurement, <c>s3://bucket/prefix/db/measurement/</c>.</summary>
    public string Uri(string database, string measurement) => $"s3://{_options.Bucket}/{_options.KeyPrefix}{database}/{measurement}/";

    /// <summary>
    /// The local paths of the measurement's files that are in the store with no upload of them queued or under way: a level
    /// merge takes only these, so no upload of an input can land after the merge deleted it.
    /// </summary>
    public async Task<HashSet<string>> UploadedAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        var objects = await ObjectsAsync(database, measurement, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            return objects.Where(o => !_pending.ContainsKey(o.Key) && !_uploading.ContainsKey(o.Key))
                .Select(o => Path.Combine(_store.Root, o.Key)).ToHashSet(StringComparer.Ordinal);
        }
    }

    /// <summary>File names of a measurement in the store (WAL recovery counts them as flushed).</summary>
    public async Task<IEnumerable<string>> FileNamesAsync(string database, string measurement, CancellationToken cancellationToken) =>
        (await ObjectsAsync(database, measurement, cancellationToken).ConfigureAwait(false)).Select(o => Path.GetFileName(o.Key));

    /// <summary>
    /// Waits for every download, then registers the files that landed, also when another one failed (then rethrows): later
    /// queries fetch only what is missing on disk, so a file placed but left out of the manifest would stay invisible.
    /// </summary>
    private async Task FetchAndRegisterAsync(List<Task<string?>> fetches)
    {
        try
        {
            await Task.WhenAll(fetches).ConfigureAwait(false);
        }
        finally
        {
            Register(fetches.Where(f => f.IsCompletedSuccessfully).Select(f => f.Result).OfType<string>().ToList());
        }
    }

    /// <summary>
    /// Puts fetched files in the catalog's manifest (and their columns in the schema file) in one step per measurement,
    /// under the visibility lock. They are pinned by the caller's lease, so eviction cannot take them meanwhile; one that a
    /// compaction replaced since it landed (tombstoned, retired) is left out.
    /// </summary>
    private void Register(List<string> paths)
    {
        if (paths.Count == 0)
        {
            return;
        }

        _catalog.Visibility.EnterWriteLock();
        try
        {
            paths = paths.Where(p => File.Exists(p) && !IsHidden(Key(p)) && !_catalog.Epochs.IsRetired(p)).ToList();
            foreach (var group in paths.GroupBy(p => Split(Key(p)) ?? ("", ""), MeasurementNames.Comparer))
            {
                if (group.Key.Database.Length > 0 && _catalog.ResolveMeasurement(group.Key.Database, group.Key.Measurement, out _) is { } entry)
                {
                    _catalog.FilesPlaced(entry, group.ToList(), columns: null);
                }
                else
                {
                    _catalog.Manifest.Added(group);
                }
            }
        }
        finally
        {
            _catalog.Visibility.ExitWriteLock();
        }
    }

    /// <summary>Downloads one object into the cache; its local path when this call placed it, null if it was already there.</summary>
    private async Task<string?> FetchAsync(RemoteObject item, CancellationToken cancellationToken)
    {
        var path = Path.Combine(_store.Root, item.Key);
        await _transfers.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (File.Exists(path) || IsHidden(item.Key))
            {
                return null;
            }

            LocalStore.EnsureDirectory(Path.GetDirectoryName(path)!);
            var temp = Path.Combine(_store.TempDirectory, "download-" + Guid.NewGuid().ToString("N"));
            await _s3.GetAsync(item, temp, cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                // A compaction may have replaced the file while it was on its way: then it must not come back.
                if (_tombstones.ContainsKey(item.Key) || File.Exists(path))
                {
                    File.Delete(temp);
                    return null;
                }

                File.Move(temp, path);
                _cached[item.Key] = new CachedFile(item.Size, Now.Ticks);
            }

            return path;
        }
        finally
        {
            _transfers.Release();
        }
    }

    private async Task UploadLoop()
    {
        var delay = TimeSpan.FromMilliseconds(200);
        try
        {
            await foreach (var key in _uploads.Reader.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
            {
                var path = Path.Combine(_store.Root, key);
                lock (_lock)
                {
                    if (!_pending.ContainsKey(key))
                    {
                        continue; // replaced by a compaction, or already uploaded
                    }

                    _uploading[key] = _uploading.GetValueOrDefault(key) + 1;
                }

                try
                {
                    if (!File.Exists(path))
                    {
                        lock (_lock)
                        {
                            _pending.Remove(key);
                        }

                        continue;
                    }

                    try
                    {
                        string etag;
                        await _transfers.WaitAsync(_stopping.Token).ConfigureAwait(false);
                        try
                        {
                            etag = await _s3.PutAsync(key, path, _stopping.Token).ConfigureAwait(false);
                        }
                        finally
                        {
                            _transfers.Release();
                        }

                        if (IsHidden(key))
                        {
                            await _s3.DeleteAsync([key], _stopping.Token).ConfigureAwait(false);
                            continue;
                        }

                        Uploaded(key, new FileInfo(path).Length, etag);
                        if (Split(key) is { } where)
                        {
                            _flushUploaded?.Invoke(where.Database, where.Measurement);
                        }

                        delay = TimeSpan.FromMilliseconds(200);
                    }
                    catch (ObjectStoreException e)
                    {
                        Interlocked.Increment(ref _uploadFailures);
                        Volatile.Write(ref _lastError, e.Message);
                        _logger.LogWarning("Upload of {Key} failed, retrying in {Delay}: {Error}", key, delay, e.Message);
                        await Task.Delay(delay, _time, _stopping.Token).ConfigureAwait(false);
                        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
                        _uploads.Writer.TryWrite(key);
                    }
                    catch (IOException e)
                    {
                        // The file went away between the check and the upload (a compaction replaced it).
                        _logger.LogDebug(e, "Upload of {Key} skipped", key);
                    }
                }
                finally
                {
                    lock (_lock)
                    {
                        if (--_uploading[key] == 0)
                        {
                            _uploading.Remove(key);
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: what is still pending is uploaded at the next start (Reconcile).
        }
    }

    /// <summary>
    /// Records the upload of a flushed file. The cache is trimmed before the file stops counting as pending, so once uploads
    /// are drained the cache fits its budget.
    /// </summary>
    private void Uploaded(string key, long size, string etag)
    {
        lock (_lock)
        {
            _cached[key] = new CachedFile(size, Now.Ticks);
        }

        Interlocked.Increment(ref _uploaded);
        if (Split(key) is { } where)
        {
            NewListing(where.Database, where.Measurement).Add(new RemoteObject(key, size, etag));
        }

        Evict();
        lock (_lock)
        {
            _pending.Remove(key);
        }
    }

    /// <summary>Sorts local files into uploaded (cached) and pending, from a full listing of the store (null: unknown).</summary>
    private void Reconcile(List<RemoteObject>? objects)
    {
        var remote = objects?.ToDictionary(o => o.Key, StringComparer.Ordinal);
        if (objects is not null)
        {
            _fullListing = Now;
            foreach (var group in objects.GroupBy(o => Split(o.Key)).Where(g => g.Key is not null))
            {
                NewListing(group.Key!.Value.Database, group.Key.Value.Measurement).Replace(group, Now);
            }
        }

        foreach (var database in _store.Databases())
        {
            foreach (var measurement in _store.Measurements(database))
            {
                foreach (var file in _store.Files(database, measurement))
                {
                    var key = Key(file.FullName);
                    if (remote is not null && remote.TryGetValue(key, out var item) && item.Size == file.Length)
                    {
                        _cached[key] = new CachedFile(file.Length, file.LastWriteTimeUtc.Ticks);
                    }
                    else
                    {
                        _pending[key] = file.Length;
                        _uploads.Writer.TryWrite(key);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Evicts uploaded files, least recently used first, until the cache fits its budget. Pinned files stay, and so do
    /// the newest file of each measurement (its view needs one local file to bind) and files whose rows are kept in memory
    /// (the hot tier: queries read those rows, and the file stays listed for when the tier lets them go). Evicted files are retired like
    /// compaction inputs: deleted once no running query may still read them.
    /// </summary>
    private void Evict()
    {
        List<string> victims;
        lock (_lock)
        {
            var total = _cached.Values.Sum(c => c.Bytes);
            if (total <= _options.CacheBytes)
            {
                return;
            }

            var newest = _cached.Keys.GroupBy(k => Split(k)).Select(g => g.Max(StringComparer.Ordinal)!).ToHashSet(StringComparer.Ordinal);
            victims = [];
            foreach (var (key, file) in _cached.OrderBy(c => c.Value.LastAccess))
            {
                if (total <= _options.CacheBytes)
                {
                    break;
                }

                if (_pins.ContainsKey(key) || newest.Contains(key) || _catalog.Manifest.IsRetained(Path.Combine(_store.Root, key)))
                {
                    continue;
                }

                victims.Add(key);
                total -= file.Bytes;
            }

            foreach (var key in victims)
            {
                _cached.Remove(key);
            }
        }

        if (victims.Count == 0)
        {
            return;
        }

        _catalog.Visibility.EnterWriteLock();
        try
        {
            var paths = victims.Select(k => Path.Combine(_store.Root, k)).ToList();
            _catalog.Manifest.Removed(paths);
            _catalog.Epochs.Retire(paths, () => { });
        }
        finally
        {
            _catalog.Visibility.ExitWriteLock();
        }

        _logger.LogDebug("Evicted {Count} cached files", victims.Count);
    }

    private Lease Pin(List<string> keys)
    {
        lock (_lock)
        {
            var now = Now.Ticks;
            foreach (var key in keys)
            {
                _pins[key] = _pins.GetValueOrDefault(key) + 1;
                if (_cached.TryGetValue(key, out var file))
                {
                    _cached[key] = file with { LastAccess = now };
                }
            }
        }

        return new Lease(this, keys);
    }

    private void Unpin(List<string> keys)
    {
        lock (_lock)
        {
            foreach (var key in keys)
            {
                if (--_pins[key] == 0)
                {
                    _pins.Remove(key);
                }
            }
        }
    }

    /// <summary>
    /// Whether a key is left out of listings and never fetched: deleted by a compaction lately (tombstone), a delete that
    /// failed, under a prefix being dropped, or uploaded before its local file is in place.
    /// </summary>
    private bool IsHidden(string key)
    {
        lock (_lock)
        {
            if (_tombstones.Count > 0)
            {
                var expired = Now - TombstoneLife;
                foreach (var old in _tombstones.Where(t => t.Value < expired).Select(t => t.Key).ToList())
                {
                    _tombstones.Remove(old);
                }
            }

            return _tombstones.ContainsKey(key) || _undeleted.Contains(key) || _unplaced.ContainsKey(key)
                   || _dropping.Any(p => key.StartsWith(p, StringComparison.OrdinalIgnoreCase));
        }
    }

    /// <summary>
    /// The listing of a measurement. After a full listing at startup, a measurement it did not contain is known to be empty
    /// as of then, so its listing counts as fetched at that time.
    /// </summary>
    private Listing NewListing(string database, string measurement) =>
        _listings.GetOrAdd((database, measurement), static (_, fetched) => new Listing(fetched), _fullListing);

    private string Key(string path) => Path.GetRelativePath(_store.Root, path).Replace(Path.DirectorySeparatorChar, '/');

    private static (string Database, string Measurement)? Split(string key)
    {
        var parts = key.Split('/');
        return parts.Length >= 3 ? (parts[0], parts[1]) : null;
    }

    /// <summary>The hours a key's partition covers: one for an hour directory, the whole day for <c>daily</c>.</summary>
    internal static (long First, long Last)? HourRange(string key)
    {
        var parts = key.Split('/');
        if (parts.Length != 7 || !DateTime.TryParseExact($"{parts[2]}{parts[3]}{parts[4]}", "yyyyMMdd", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var day))
        {
            return null;
        }

        var firstOfDay = (long)(day - DateTime.UnixEpoch).TotalHours;
        return parts[5] == "daily" ? (firstOfDay, firstOfDay + 23)
            : int.TryParse(parts[5], NumberStyles.None, CultureInfo.InvariantCulture, out var hour) ? (firstOfDay + hour, firstOfDay + hour) : null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _uploads.Writer.TryComplete();
        await Task.WhenAll(_uploaders).ConfigureAwait(false);
        _s3.Dispose();
        _stopping.Dispose();
    }

    /// <summary>How long one request to the store may take before it fails (<c>storage.s3_timeout_seconds</c>).</summary>
    public TimeSpan RequestTimeout => _options.Timeout;

    /// <summary>
    /// Drains pending uploads (used at shutdown and by tests), waiting at most <paramref name="timeout"/> of real time
    /// (a bound on this wait, not a time of the data).
    /// </summary>
    public async Task<bool> DrainAsync(TimeSpan timeout)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (PendingUploads > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(started) < timeout)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        return PendingUploads == 0;
    }

    private readonly record struct CachedFile(long Bytes, long LastAccess);

    private sealed class Lease(RemoteStore owner, List<string> keys) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unpin(keys);
            }
        }
    }

    /// <summary>A cached listing of one measurement.</summary>
    private sealed class Listing(DateTime fetched)
    {
        private readonly Dictionary<string, RemoteObject> _objects = new(StringComparer.Ordinal);

        public DateTime Fetched { get; private set; } = fetched;

        public void Replace(IEnumerable<RemoteObject> objects, DateTime fetched)
        {
            lock (_objects)
            {
                _objects.Clear();
                foreach (var item in objects)
                {
                    _objects[item.Key] = item;
                }

                Fetched = fetched;
            }
        }

        public void Add(RemoteObject item)
        {
            lock (_objects)
            {
                _objects[item.Key] = item;
            }
        }

        public void Remove(string key)
        {
            lock (_objects)
            {
                _objects.Remove(key);
            }
        }

        public List<RemoteObject> Snapshot()
        {
            lock (_objects)
            {
                return _objects.Values.ToList();
            }
        }
    }
}
