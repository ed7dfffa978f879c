using System.Collections.Concurrent;
using System.Security.Cryptography;
using Arc.Engine.Storage.Remote;

namespace Arc.Engine.Tests;

/// <summary>
/// An object store in memory, with the faults a real one has: latency on every call, calls that fail before doing
/// anything, calls whose work is done but whose answer is lost (the client sees a failure), and a store that is down.
/// Counts every call by kind, so tests can say what the engine asked for. It outlives an engine (Dispose only counts),
/// so a second engine can start on the same "bucket"; it counts the times an engine let go of it.
/// </summary>
internal sealed class InMemoryObjectStore : IObjectStore
{
    private readonly ConcurrentDictionary<string, (byte[] Bytes, string ETag)> _objects = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _failKind = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _loseKind = new(StringComparer.Ordinal);
    private int _failNext;
    private int _loseNext;

    /// <summary>Added to every call.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>While set, every call fails.</summary>
    public bool Down { get; set; }

    /// <summary>Awaited at the start of every listing (a test acts at the moment a query asks what the store holds).</summary>
    public Func<Task>? OnList { get; set; }

    /// <summary>Awaited at the start of every delete, with its keys (a test acts at the moment a merge drops its inputs).</summary>
    public Func<IReadOnlyList<string>, Task>? OnDelete { get; set; }

    /// <summary>The next <paramref name="calls"/> calls fail before doing anything.</summary>
    public void FailNext(int calls) => Interlocked.Exchange(ref _failNext, calls);

    /// <summary>The next <paramref name="calls"/> uploads or deletes take effect, then report a failure (a lost response).</summary>
    public void LoseNext(int calls) => Interlocked.Exchange(ref _loseNext, calls);

    /// <summary>The next <paramref name="calls"/> calls of one kind (bucket, put, get, list, delete) fail before doing anything.</summary>
    public void FailNext(string kind, int calls) => _failKind[kind] = calls;

    /// <summary>The next <paramref name="calls"/> uploads ("put") or deletes ("delete") take effect, then report a failure.</summary>
    public void LoseNext(string kind, int calls) => _loseKind[kind] = calls;

    public IReadOnlyCollection<string> Keys => _objects.Keys.Order(StringComparer.Ordinal).ToList();

    public int Calls(string kind) => _calls.GetValueOrDefault(kind);

    /// <summary>A new store holding the same objects, with no calls counted and no faults set.</summary>
    public InMemoryObjectStore Copy()
    {
        var copy = new InMemoryObjectStore();
        foreach (var (key, value) in _objects)
        {
            copy._objects[key] = value;
        }

        return copy;
    }

    /// <summary>The size of a stored object.</summary>
    public long SizeOf(string key) => _objects[key].Bytes.Length;

    public Task EnsureBucketAsync(CancellationToken cancellationToken) => EnterAsync("bucket", cancellationToken);

    public async Task<string> PutAsync(string key, string path, CancellationToken cancellationToken)
    {
        await EnterAsync("put", cancellationToken).ConfigureAwait(false);
        var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        var etag = "\"" + Convert.ToHexStringLower(MD5.HashData(bytes)) + "\"";
        _objects[key] = (bytes, etag);
        LoseAnswer("put", key);
        return etag;
    }

    public async Task GetAsync(RemoteObject remote, string path, CancellationToken cancellationToken)
    {
        await EnterAsync("get", cancellationToken).ConfigureAwait(false);
        if (!_objects.TryGetValue(remote.Key, out var stored))
        {
            throw new ObjectStoreException($"object storage refused to download {remote.Key}: NoSuchKey");
        }

        if (remote.ETag.Length > 0 && stored.ETag != remote.ETag)
        {
            throw new ObjectStoreException($"{remote.Key} changed in the store since it was listed");
        }

        var temp = path + ".download";
        await File.WriteAllBytesAsync(temp, stored.Bytes, cancellationToken).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }

    public async Task<List<RemoteObject>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        if (OnList is { } onList)
        {
            await onList().ConfigureAwait(false);
        }

        await EnterAsync("list", cancellationToken).ConfigureAwait(false);
        return _objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal))
            .OrderBy(o => o.Key, StringComparer.Ordinal)
            .Select(o => new RemoteObject(o.Key, o.Value.Bytes.Length, o.Value.ETag))
            .ToList();
    }

    public async Task<List<string>> ListPrefixesAsync(string prefix, CancellationToken cancellationToken)
    {
        await EnterAsync("list", cancellationToken).ConfigureAwait(false);
        return _objects.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && k.IndexOf('/', prefix.Length) > 0)
            .Select(k => k[prefix.Length..k.IndexOf('/', prefix.Length)])
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    public async Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        if (OnDelete is { } onDelete)
        {
            await onDelete(keys).ConfigureAwait(false);
        }

        await EnterAsync("delete", cancellationToken).ConfigureAwait(false);
        foreach (var key in keys)
        {
            _objects.TryRemove(key, out _);
        }

        LoseAnswer("delete", string.Join(", ", keys));
    }

    /// <summary>How many times an engine let go of the store (it stays usable).</summary>
    public int Disposals { get; private set; }

    public void Dispose() => Disposals++;

    private async Task EnterAsync(string kind, CancellationToken cancellationToken)
    {
        _calls.AddOrUpdate(kind, 1, (_, n) => n + 1);
        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, cancellationToken).ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (Down)
        {
            throw new ObjectStoreException($"object storage is unreachable ({kind}): connection refused");
        }

        if (Interlocked.Decrement(ref _failNext) >= 0 || Take(_failKind, kind))
        {
            throw new ObjectStoreException($"object storage refused to {kind}: SlowDown");
        }
    }

    private void LoseAnswer(string kind, string what)
    {
        if (Interlocked.Decrement(ref _loseNext) >= 0 || Take(_loseKind, kind))
        {
            throw new ObjectStoreException($"object storage did not answer ({kind} {what}): the connection was reset");
        }
    }

    /// <summary>Uses up one of the faults set for <paramref name="kind"/>, if any is left.</summary>
    private static bool Take(ConcurrentDictionary<string, int> faults, string kind)
    {
        while (faults.TryGetValue(kind, out var left) && left > 0)
        {
            if (faults.TryUpdate(kind, left - 1, left))
            {
                return true;
            }
        }

        return false;
    }
}
