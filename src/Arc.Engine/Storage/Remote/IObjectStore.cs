namespace Arc.Engine.Storage.Remote;

/// <summary>
/// The object-store operations the engine uses (<see cref="RemoteStore"/>, compaction on the bucket, Parquet export):
/// whole files up and down, listings, deletes. Keys are relative to the store's prefix. Every failure is an
/// <see cref="ObjectStoreException"/>; cancellation is honoured on every call. <see cref="S3ObjectStore"/> is the
/// implementation (AWS S3, MinIO, Ceph, GCS interoperability); tests use an in-memory one that injects faults.
/// </summary>
public interface IObjectStore : IDisposable
{
    /// <summary>Creates the bucket if it does not exist.</summary>
    Task EnsureBucketAsync(CancellationToken cancellationToken);

    /// <summary>Uploads the file at <paramref name="path"/> as <paramref name="key"/>; returns the object's ETag.</summary>
    Task<string> PutAsync(string key, string path, CancellationToken cancellationToken);

    /// <summary>Downloads <paramref name="remote"/> to <paramref name="path"/> (whole or not at all), checking its ETag and size.</summary>
    Task GetAsync(RemoteObject remote, string path, CancellationToken cancellationToken);

    /// <summary>Every object under <paramref name="prefix"/>.</summary>
    Task<List<RemoteObject>> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>The "directories" directly under <paramref name="prefix"/>, without the trailing slash.</summary>
    Task<List<string>> ListPrefixesAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Deletes <paramref name="keys"/> (absent keys are not an error).</summary>
    Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken);
}
