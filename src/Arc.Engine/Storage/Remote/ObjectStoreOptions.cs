using Arc.Engine.Errors;

namespace Arc.Engine.Storage.Remote;

/// <summary>
/// An S3-compatible store (<c>storage.backend = s3|minio|ceph|gcs</c>); MinIO, Ceph and GCS (HMAC interop) are presets of
/// the same client: path-style addressing and an explicit endpoint.
/// </summary>
public sealed record ObjectStoreOptions
{
    public required string Bucket { get; init; }

    /// <summary>Key prefix under which the <c>{db}/{measurement}/YYYY/MM/DD/HH/</c> tree lives (no leading slash).</summary>
    public string Prefix { get; init; } = "";

    public string Region { get; init; } = "us-east-1";

    /// <summary>Endpoint URL or host[:port]; empty for AWS.</summary>
    public string Endpoint { get; init; } = "";

    public bool UseSsl { get; init; } = true;

    public bool PathStyle { get; init; }

    /// <summary>Empty: the SDK's default chain (environment AWS_*, profile, instance role).</summary>
    public string AccessKey { get; init; } = "";

    public string SecretKey { get; init; } = "";

    /// <summary>Longest any single call to the store may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Parallel uploads (and downloads).</summary>
    public int Concurrency { get; init; } = 4;

    /// <summary>Files larger than this are uploaded in parts.</summary>
    public long MultipartThreshold { get; init; } = 64L << 20;

    public long PartSize { get; init; } = 16L << 20;

    /// <summary>Bytes of uploaded Parquet files kept in the local cache (files not uploaded yet are never evicted).</summary>
    public long CacheBytes { get; init; } = 8L << 30;

    /// <summary>How long a listing of the store is trusted (our own writes update it at once).</summary>
    public TimeSpan ListingTtl { get; init; } = TimeSpan.FromSeconds(30);

    public string KeyPrefix => Prefix.Length == 0 ? "" : Prefix.Trim('/') + "/";

    /// <summary>
    /// The store to use instead of connecting to S3 with these options (an in-memory store in tests); the engine owns it
    /// from then on and disposes it when it stops.
    /// </summary>
    public IObjectStore? Store { get; init; }

    /// <summary>For the startup line and logs: <c>s3://bucket/prefix/ (endpoint)</c>; never the credentials.</summary>
    public string Describe() => $"s3://{Bucket}/{KeyPrefix}" + (Endpoint.Length > 0 ? $" at {Endpoint}" : $" (AWS {Region})");
}

/// <summary>An object as listed: key relative to the store's prefix, size and ETag.</summary>
public readonly record struct RemoteObject(string Key, long Size, string ETag);

/// <summary>The object store did not answer in time or refused; the message says which and why.</summary>
public sealed class ObjectStoreException(string message, Exception? inner = null) : IOException(message, inner), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.Unavailable;
}
