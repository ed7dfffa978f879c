using System.Runtime.CompilerServices;

namespace Arc.Engine.Storage;

/// <summary>
/// A version number per measurement that moves whenever what a query of it may return changes: a commit applied to its
/// buffer (before the write is acknowledged) and a compaction swap (duplicates removed, files replaced). A flush does
/// not move it: the rows only move from memory to Parquet, and queries see each of them exactly once either way.
/// Results cached under the versions a query read before it bound its data are current exactly while these versions
/// are unchanged (the query result cache relies on that). Names compare ignoring case, as DuckDB resolves them.
/// </summary>
public sealed class DataVersions
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Database, string Measurement), StrongBox<long>> _versions =
        new(MeasurementNameComparer.Instance);

    /// <summary>Called after a measurement's version moved (on the thread that changed the data; keep it short).</summary>
    public event Action<string, string>? Changed;

    /// <summary>The current version (0 for a measurement never changed since startup).</summary>
    public long Current(string database, string measurement) =>
        _versions.TryGetValue((database, measurement), out var version) ? Volatile.Read(ref version.Value) : 0;

    /// <summary>
    /// Records a change. Call it after the change is visible to new queries (rows appended to the buffer, files renamed
    /// into place) and before it is acknowledged: a query that read the old version then cannot store a result that hides it.
    /// </summary>
    public void Bump(string database, string measurement)
    {
        var version = _versions.GetOrAdd((database, measurement), static _ => new StrongBox<long>());
        Interlocked.Increment(ref version.Value);
        Changed?.Invoke(database, measurement);
    }
}

/// <summary>(database, measurement) pairs compared ignoring case, as DuckDB resolves names.</summary>
internal sealed class MeasurementNameComparer : IEqualityComparer<(string Database, string Measurement)>
{
    public static readonly MeasurementNameComparer Instance = new();

    public bool Equals((string Database, string Measurement) x, (string Database, string Measurement) y) =>
        string.Equals(x.Database, y.Database, StringComparison.OrdinalIgnoreCase)
        && string.Equals(x.Measurement, y.Measurement, StringComparison.OrdinalIgnoreCase);

    public int GetHashCode((string Database, string Measurement) key) =>
        HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(key.Database), StringComparer.OrdinalIgnoreCase.GetHashCode(key.Measurement));
}
