using Arc.Engine.DuckDb;

namespace Arc.Engine.Storage;

/// <summary>The DuckDB file of a small metadata store: tokens, export jobs and connections, continuous queries.</summary>
internal static class MetadataFile
{
    /// <summary>
    /// Opens <paramref name="fullPath"/> (its directory made if missing) on one DuckDB thread and runs
    /// <paramref name="setup"/> (the store's tables and migrations) on its connection; if anything fails, nothing stays open.
    /// </summary>
    public static (DuckDbDatabase Database, DuckDbConnection Connection) Open(string fullPath, Action<DuckDbConnection> setup)
    {
        LocalStore.EnsureDirectory(Path.GetDirectoryName(fullPath)!);
        var database = DuckDbDatabase.Open(fullPath, [new("threads", "1")]);
        DuckDbConnection? connection = null;
        try
        {
            connection = database.Connect();
            setup(connection);
            return (database, connection);
        }
        catch
        {
            connection?.Dispose();
            database.Dispose();
            throw;
        }
    }
}
