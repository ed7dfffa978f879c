using DuckDB.NET.Native;

namespace Arc.Engine.DuckDb;

/// <summary>One embedded DuckDB instance (in memory: the data lives in Parquet files, DuckDB only reads and writes them).</summary>
public sealed class DuckDbDatabase : IDisposable
{
    private readonly DuckDBDatabase _handle;

    private DuckDbDatabase(DuckDBDatabase handle) => _handle = handle;

    /// <summary>Opens a database; <paramref name="settings"/> are DuckDB configuration options (threads, memory_limit, ...).</summary>
    public static DuckDbDatabase Open(string? path, IEnumerable<KeyValuePair<string, string>> settings)
    {
        if (NativeMethods.Configuration.DuckDBCreateConfig(out var config) != DuckDBState.Success)
        {
            throw new DuckDbException("could not create a DuckDB configuration");
        }

        using (config)
        {
            foreach (var (name, value) in settings)
            {
                if (NativeMethods.Configuration.DuckDBSetConfig(config, name, value) != DuckDBState.Success)
                {
                    throw new DuckDbException($"DuckDB rejected setting {name}={value}");
                }
            }

            if (NativeMethods.Startup.DuckDBOpen(path ?? ":memory:", out var db, config, out var error) != DuckDBState.Success)
            {
                db.Dispose();
                throw new DuckDbException(error ?? "could not open DuckDB");
            }

            return new DuckDbDatabase(db);
        }
    }

    /// <summary>DuckDB's library version, e.g. <c>v1.5.0</c>.</summary>
    public static string LibraryVersion => NativeMethods.Startup.DuckDBLibraryVersion();

    public DuckDbConnection Connect()
    {
        if (NativeMethods.Startup.DuckDBConnect(_handle, out var connection) != DuckDBState.Success)
        {
            connection.Dispose();
            throw new DuckDbException("could not connect to DuckDB");
        }

        return new DuckDbConnection(connection);
    }

    /// <summary>
    /// What the buffer manager holds now (the sum of <c>duckdb_memory()</c> over its tags: query state, the Parquet metadata
    /// and external file caches, ...) and its <c>memory_limit</c>, in bytes; on a connection of its own.
    /// </summary>
    public (long Used, long Limit) Memory()
    {
        using var connection = Connect();
        var row = connection.QueryStrings(
            "SELECT (SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory())::BIGINT, " +
            "(SELECT value FROM duckdb_settings() WHERE name = 'memory_limit')")[0];
        return (long.Parse(row[0]!, System.Globalization.CultureInfo.InvariantCulture), ParseSize(row[1]!));
    }

    /// <summary>DuckDB's spelling of a size (<c>1.5 GiB</c>, <c>512.0 MiB</c>, <c>0 bytes</c>) in bytes.</summary>
    internal static long ParseSize(string text)
    {
        var parts = text.Split(' ', 2);
        var scale = parts.Length < 2 ? 1 : parts[1] switch
        {
            "KiB" => 1L << 10,
            "MiB" => 1L << 20,
            "GiB" => 1L << 30,
            "TiB" => 1L << 40,
            "KB" => 1000L,
            "MB" => 1000_000L,
            "GB" => 1000_000_000L,
            "TB" => 1000_000_000_000L,
            _ => 1L,
        };
        return (long)(double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * scale);
    }

    public void Dispose() => _handle.Dispose();
}
