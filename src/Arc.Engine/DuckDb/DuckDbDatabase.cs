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

    public void Dispose() => _handle.Dispose();
}
