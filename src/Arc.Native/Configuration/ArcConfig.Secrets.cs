namespace Arc.Native.Configuration;

/// <summary>Where the server's secret files may lie: nowhere SQL can read.</summary>
public sealed partial class ArcConfig
{
    /// <summary>
    /// Refuses a configuration that puts a secret file where user SQL can read it. SQL runs in DuckDB with file access
    /// limited to the storage root (<c>allowed_directories</c>) and DuckDB's spill directory (DuckDB allows its own
    /// <c>temp_directory</c>), so a read token could fetch any file there with <c>read_blob</c>. The token store, the export
    /// store (each with its <c>.key</c> and <c>.wal</c>) and the configuration file (it may hold
    /// <c>auth.bootstrap_token</c> or <c>storage.s3_secret_key</c>) must therefore lie outside both. Paths are compared
    /// fully resolved: absolute, with every symlink that exists resolved, case-sensitively on Linux.
    /// </summary>
    /// <remarks>
    /// The WAL (<c>wal.directory</c>, by default in the root) and DuckDB's spill files are not secrets: they hold rows of
    /// the databases, which a token without a database scope may read anyway, and a database-scoped token may use no table
    /// function or file path at all.
    /// </remarks>
    /// <exception cref="ConfigException">A secret file lies inside a directory SQL can read; the message names both and their keys.</exception>
    public void CheckSecretsAreUnreadable()
    {
        List<(string Path, string Key)> readable = [(Engine.DataPath, "storage.local_path")];
        if (!string.IsNullOrEmpty(Engine.DuckDbTempDirectory))
        {
            readable.Add((Engine.DuckDbTempDirectory, "database.temp_directory"));
        }

        var secrets = new List<(string Path, string? Key, string What)>();
        if (AuthEnabled)
        {
            AddStore(secrets, AuthDbPath, "auth.db_path", "the token store");
        }

        if (ExportEnabled)
        {
            AddStore(secrets, ResolvedExport.DbPath, "export.db_path", "the export store");
        }

        if (SourceFile is { } file)
        {
            secrets.Add((file, null, "the configuration file"));
        }

        foreach (var (directory, directoryKey) in readable)
        {
            var resolvedDirectory = ResolvePath(directory);
            foreach (var (path, key, what) in secrets)
            {
                var resolved = ResolvePath(path);
                if (IsInside(resolved, resolvedDirectory))
                {
                    var problem = $"{what} {resolved} is inside {directoryKey} ({resolvedDirectory}), which SQL queries can read " +
                                  "(a read token could fetch it with read_blob)";
                    throw new ConfigException(key is null
                        ? $"{problem}; keep it outside {directoryKey}"
                        : $"{key}: {problem}; set {key} to a path outside {directoryKey}");
                }
            }
        }
    }

    private static void AddStore(List<(string, string?, string)> secrets, string path, string key, string what)
    {
        secrets.Add((path, key, what));
        secrets.Add((path + ".key", key, what + "'s key"));
        secrets.Add((path + ".wal", key, what + "'s log"));
    }

    /// <summary>
    /// <paramref name="path"/> made absolute (against the working directory, as the server opens it) with every symlink
    /// resolved in the part that exists; the part that does not exist yet holds no symlink and is appended as written.
    /// </summary>
    internal static string ResolvePath(string path)
    {
        var existing = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var missing = new Stack<string>();
        string? real;
        while ((real = Path.Exists(existing) ? Posix.RealPath(existing) : null) is null)
        {
            if (Path.GetDirectoryName(existing) is not { } parent)
            {
                return Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
            }

            missing.Push(Path.GetFileName(existing));
            existing = parent;
        }

        return Path.Join([real, .. missing]);
    }

    /// <summary>Whether the resolved <paramref name="path"/> is <paramref name="directory"/> or lies below it.</summary>
    private static bool IsInside(string path, string directory)
    {
        // Linux file names are case-sensitive; elsewhere (macOS, Windows) the usual file systems are not.
        var comparison = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        var prefix = Path.EndsInDirectorySeparator(directory) ? directory : directory + Path.DirectorySeparatorChar;
        return path.Equals(directory, comparison) || path.StartsWith(prefix, comparison);
    }
}
