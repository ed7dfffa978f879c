using System.Collections.Concurrent;
using System.Text.Json;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using DuckDB.NET.Native;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Storage;

/// <summary>
/// The databases and measurements that exist, their schemas, and the DuckDB objects that make them queryable: a schema per
/// database and a view per measurement over its Parquet files (<c>read_parquet(glob, union_by_name = true)</c>) and its
/// buffered rows (<c>arc_buffer(db, m)</c>), so SQL names are resolved by DuckDB itself and queries read their writes.
/// Names are unique ignoring case, as DuckDB resolves identifiers that way.
/// </summary>
internal sealed class Catalog
{
    private readonly ConcurrentDictionary<string, DatabaseEntry> _databases = new(StringComparer.OrdinalIgnoreCase);
    private readonly LocalStore _store;
    private DuckDbConnection _ddl;
    private readonly Lock _ddlLock = new();
    private readonly int _maxColumns;
    private readonly int _maxNameBytes;
    private readonly ILogger _logger;
    private readonly Func<IDisposable> _bindingSchemaOnly;

    /// <summary>
    /// A catalog whose measurements take at most <paramref name="maxColumns"/> columns, of names up to
    /// <paramref name="maxNameBytes"/> bytes, keeping up to <paramref name="hotBytes"/> bytes of flushed rows in memory
    /// (stepping aside while more than that arrives within <paramref name="hotMinAge"/>).
    /// <paramref name="bindingSchemaOnly"/> starts, on the calling thread, a scope in which binding a view lists no data
    /// file (the query side's, as for DESCRIBE): views are created under it.
    /// </summary>
    public Catalog(LocalStore store, DuckDbConnection ddl, int maxColumns, int maxNameBytes, ILogger logger, long hotBytes,
        Func<IDisposable> bindingSchemaOnly, TimeSpan hotMinAge, TimeProvider time)
    {
        _bindingSchemaOnly = bindingSchemaOnly;
        _store = store;
        _ddl = ddl;
        _maxColumns = maxColumns;
        _maxNameBytes = maxNameBytes;
        _logger = logger;
        Manifest = new FileManifest(store, hotBytes, hotMinAge, time);
    }

    /// <summary>Every measurement's Parquet files (what queries read instead of globbing the directory tree).</summary>
    public FileManifest Manifest { get; }

    /// <summary>
    /// A measurement's schema file: an empty Parquet file with every column its data files have (DuckDB's union by name of
    /// them) and the tag names, listed first to every query (by <see cref="FilesFunction"/>) so the view's columns
    /// never depend on which files a query needs. Not a <c>.parquet</c> name: nothing that lists data files sees it.
    /// </summary>
    public string SchemaFile(string database, string measurement) =>
        Path.Combine(_store.MeasurementDirectory(database, measurement), SchemaFileName);

    public const string SchemaFileName = "_arc_schema.pqs";

    /// <summary>
    /// Held for reading while a query binds (expanding Parquet globs and copying buffers) and for writing while a flush
    /// moves rows from a buffer into files, so every query sees each row exactly once.
    /// </summary>
    public ReaderWriterLockSlim Visibility { get; } = new();

    /// <summary>Which queries may still read files that compaction replaced.</summary>
    public QueryEpochs Epochs { get; } = new();

    /// <summary>Per-measurement versions that move when data changes (commits, compaction), for the query result cache.</summary>
    public DataVersions Versions { get; } = new();

    /// <summary>
    /// The table function <c>arc_buffer(database, measurement)</c> a view reads the measurement's buffered rows through.
    /// This and the two file functions are registered on the DuckDB instance by the query side before any view is created.
    /// </summary>
    public const string BufferFunction = "arc_buffer";

    /// <summary>
    /// The scalar function <c>arc_files(database, measurement)</c> a view passes to <c>read_parquet</c>: the measurement's
    /// schema file, then the files the statement being bound needs.
    /// </summary>
    public const string FilesFunction = "arc_files";

    /// <summary>
    /// <c>arc_union(database, measurement)</c>, the view's <c>union_by_name</c>: whether the files <c>arc_files</c> lists
    /// for the statement must be read by name.
    /// </summary>
    public const string UnionFunction = "arc_union";

    /// <summary>
    /// <c>arc_source(database, measurement)</c>, the SQL a view with files reads through DuckDB's <c>query()</c>, chosen
    /// for the statement being bound: the files alone when no row held in memory falls in its time range (DuckDB then
    /// answers <c>count(*)</c> and min/max from the Parquet footers, which it does not under a union), otherwise the files
    /// <c>UNION ALL BY NAME</c> the buffered rows (<see cref="MeasurementEntry.Source"/>).
    /// </summary>
    public const string SourceFunction = "arc_source";

    /// <summary>
    /// Lists the files on storage into the manifest, writes each measurement's schema file from its files, and creates the
    /// views (after the buffer and file list functions are registered).
    /// </summary>
    public void LoadExisting()
    {
        Manifest.Rebuild();
        foreach (var database in _store.Databases())
        {
            AddDatabase(database);
            foreach (var measurement in _store.Measurements(database))
            {
                var files = Manifest.Files(database, measurement);
                if (files.Length > 0 && ResolveMeasurement(database, measurement, out _) is { } entry)
                {
                    var paths = files.Select(f => f.Path).ToList();
                    WriteSchemaFile(entry, paths, replace: true);
                    Manifest.SetColumns(ReadColumns(paths));
                    Manifest.SetRows(ReadRows(paths));
                    Manifest.SetTagRanges(ReadTagRanges(paths));
                    EnsureView(entry, withFiles: true);
                }
            }
        }
    }

    /// <summary>
    /// Records files that were just placed (a flush's parts with their columns and time ranges; files fetched from object
    /// storage, whose footers tell them) and makes them queryable: the manifest lists them, the schema file gains any column
    /// they add, the view covers files. Call under <see cref="Visibility"/> held for writing.
    /// </summary>
    public void FilesPlaced(MeasurementEntry entry, IReadOnlyList<string> paths, IReadOnlySet<string>? columns, Func<string, RowRange?>? rows = null)
    {
        Manifest.Added(paths, columns, rows);
        if (columns is null)
        {
            Manifest.SetColumns(ReadColumns(paths));
        }

        if (rows is null)
        {
            Manifest.SetRows(ReadRows(paths));
            Manifest.SetTagRanges(ReadTagRanges(paths));
        }

        if (entry.SchemaStale)
        {
            WriteSchemaFile(entry, Manifest.Files(entry.Database, entry.Name).Select(f => f.Path).ToList(), replace: true);
        }
        else if (columns is null || !File.Exists(SchemaFile(entry.Database, entry.Name)) || columns.Any(c => !entry.FileColumns.Contains(c)))
        {
            WriteSchemaFile(entry, paths, replace: false);
        }

        EnsureView(entry, withFiles: true);
    }

    /// <summary>The column names of each file, from its footer (DuckDB's <c>parquet_schema</c>).</summary>
    private Dictionary<string, IReadOnlySet<string>> ReadColumns(IReadOnlyList<string> paths)
    {
        var result = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        foreach (var group in FooterRows(paths, list => $"SELECT file_name, name FROM parquet_schema({list}) WHERE num_children IS NULL")
                     .GroupBy(r => r[0]!, StringComparer.Ordinal))
        {
            result[Path.GetFullPath(group.Key)] = group.Select(r => r[1]!).ToHashSet(StringComparer.Ordinal);
        }

        return result;
    }

    /// <summary>
    /// The rows of a query over the files' footers, <paramref name="sql"/> given the files as a DuckDB list literal; none
    /// for no files (DuckDB's footer functions refuse an empty list).
    /// </summary>
    private List<string?[]> FooterRows(IReadOnlyList<string> paths, Func<string, string> sql)
    {
        if (paths.Count == 0)
        {
            return [];
        }

        var list = "[" + string.Join(", ", paths.Select(Names.QuoteLiteral)) + "]";
        Manifest.Opened(paths.Select(Path.GetFullPath));
        lock (_ddlLock)
        {
            return _ddl.QueryStrings(sql(list));
        }
    }

    /// <summary>
    /// The time range and count of each file's rows, from the statistics of its <c>time</c> column's row groups in the footer
    /// (DuckDB's <c>parquet_metadata</c>); a file whose statistics are missing is left out (its partition's range stays).
    /// </summary>
    private Dictionary<string, RowRange> ReadRows(IReadOnlyList<string> paths)
    {
        var result = new Dictionary<string, RowRange>(StringComparer.Ordinal);

        // A row group without statistics makes its file's minimum or maximum NULL (bool_and), so the file is skipped.
        foreach (var row in FooterRows(paths, list =>
                     "SELECT file_name, epoch_ns(min(TRY_CAST(stats_min_value AS TIMESTAMP_NS))), epoch_ns(max(TRY_CAST(stats_max_value AS TIMESTAMP_NS))), " +
                     "bool_and(TRY_CAST(stats_min_value AS TIMESTAMP_NS) IS NOT NULL AND TRY_CAST(stats_max_value AS TIMESTAMP_NS) IS NOT NULL), " +
                     "sum(row_group_num_rows)::BIGINT " +
                     $"FROM parquet_metadata({list}) WHERE path_in_schema = '{ColumnSet.TimeColumn}' GROUP BY file_name"))
        {
            // The statistics are read back through DuckDB's rendering of them as text; the range is widened by a
            // microsecond less a nanosecond each way, so a rendering to the microsecond could take in more, never less.
            if (row[3] == "true" && row[1] is { } min && row[2] is { } max)
            {
                result[Path.GetFullPath(row[0]!)] = new RowRange(
                    long.Parse(min, System.Globalization.CultureInfo.InvariantCulture) - 999,
                    long.Parse(max, System.Globalization.CultureInfo.InvariantCulture) + 999,
                    long.Parse(row[4]!, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return result;
    }

    /// <summary>
    /// The range of each string column of each file (<see cref="ManifestFile.TagRanges"/>) whose footer says it holds a range
    /// of series (<see cref="ParquetFileWriter.SeriesRangeMetadataKey"/>).
    /// </summary>
    public Dictionary<string, IReadOnlyDictionary<string, TagRange>> ReadTagRanges(IReadOnlyList<string> paths) =>
        TagRanges(FooterRows(paths, list => TagRangeSql(list, marked: true)));

    /// <summary>
    /// The statement reading the range of each string column of the files in <paramref name="list"/> (a DuckDB list literal)
    /// from the statistics of their row groups (DuckDB's <c>parquet_metadata</c>, whose <c>min</c> and <c>max</c> of text
    /// compare bytes as its string comparison does); <paramref name="marked"/>: only files that say they hold a range of
    /// series. Its rows go to <see cref="TagRanges"/>.
    /// </summary>
    internal static string TagRangeSql(string list, bool marked) =>
        "SELECT file_name, path_in_schema, min(stats_min_value), max(stats_max_value), " +
        "bool_and(stats_min_value IS NOT NULL AND stats_max_value IS NOT NULL) " +
        $"FROM parquet_metadata({list}) WHERE type = 'BYTE_ARRAY'" +
        (marked ? $" AND file_name IN (SELECT file_name FROM parquet_kv_metadata({list}) WHERE decode(key) = '{ParquetFileWriter.SeriesRangeMetadataKey}')" : "") +
        " GROUP BY ALL";

    /// <summary>
    /// The ranges of <see cref="TagRangeSql"/>'s rows by file (full path) and column; a column whose statistics some row
    /// group lacks has none.
    /// </summary>
    internal static Dictionary<string, IReadOnlyDictionary<string, TagRange>> TagRanges(IEnumerable<string?[]> rows)
    {
        var result = new Dictionary<string, IReadOnlyDictionary<string, TagRange>>(StringComparer.Ordinal);
        foreach (var file in rows.Where(r => r[4] == "true" && r[2] is not null && r[3] is not null).GroupBy(r => r[0]!, StringComparer.Ordinal))
        {
            result[Path.GetFullPath(file.Key)] = file.ToDictionary(r => r[1]!,
                r => new TagRange(System.Text.Encoding.UTF8.GetBytes(r[2]!), System.Text.Encoding.UTF8.GetBytes(r[3]!)), StringComparer.OrdinalIgnoreCase);
        }

        return result;
    }

    /// <summary>The row count of each file, from its footer (DuckDB's <c>parquet_file_metadata</c>).</summary>
    public Dictionary<string, long> RowCounts(IReadOnlyList<string> paths)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var row in FooterRows(paths, list => $"SELECT file_name, num_rows FROM parquet_file_metadata({list})"))
        {
            result[Path.GetFullPath(row[0]!)] = long.Parse(row[1]!, System.Globalization.CultureInfo.InvariantCulture);
        }

        return result;
    }

    /// <summary>
    /// Whether files must be read by name: some file lacks a column of the measurement's schema file. Files that have
    /// them all are read by position of the schema file's columns, without DuckDB's by-name union (a footer each less).
    /// </summary>
    public bool UnionNeeded(MeasurementEntry entry, IEnumerable<ManifestFile> files) =>
        entry.SchemaStale || files.Any(f => f.Columns is null || !entry.FileColumns.IsSubsetOf(f.Columns));

    /// <summary>
    /// (Re)writes a measurement's schema file: the union by name of <paramref name="files"/> and, unless
    /// <paramref name="replace"/>, the current schema file, with zero rows and the union of their tag names.
    /// </summary>
    private void WriteSchemaFile(MeasurementEntry entry, IReadOnlyList<string> files, bool replace)
    {
        var target = SchemaFile(entry.Database, entry.Name);
        var sources = (!replace && File.Exists(target) ? files.Prepend(target) : files).ToList();
        if (sources.Count == 0)
        {
            return;
        }

        Manifest.Opened(files.Select(Path.GetFullPath));

        var list = "[" + string.Join(", ", sources.Select(Names.QuoteLiteral)) + "]";
        var temp = Path.Combine(_store.TempDirectory, $"schema-{Guid.NewGuid():N}.pqs");
        lock (_ddlLock)
        {
            entry.SchemaStale = true; // until the new file is in place: a failure makes the next write start from every file
            var tags = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var row in _ddl.QueryStrings(
                         $"SELECT DISTINCT decode(value) FROM parquet_kv_metadata({list}) WHERE decode(key) = '{ParquetFileWriter.TagsMetadataKey}'"))
            {
                if (row[0] is { } json && JsonSerializer.Deserialize(json, StorageJsonContext.Default.ListString) is { } names)
                {
                    tags.UnionWith(names);
                }
            }

            var tagJson = JsonSerializer.Serialize(tags.ToList(), StorageJsonContext.Default.ListString);
            _ddl.Execute($"COPY (SELECT * FROM read_parquet({list}, union_by_name = true) LIMIT 0) TO {Names.QuoteLiteral(temp)} " +
                         $"(FORMAT parquet, KV_METADATA {{{ParquetFileWriter.TagsMetadataKey}: {Names.QuoteLiteral(tagJson)}}})");
            var columns = _ddl.QueryStrings($"SELECT name FROM parquet_schema({Names.QuoteLiteral(temp)}) WHERE num_children IS NULL");
            var typed = _ddl.QueryStrings($"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({Names.QuoteLiteral(temp)}))");
            File.Move(temp, target, overwrite: true);
            entry.FileColumns = columns.Select(r => r[0]!).ToHashSet(StringComparer.Ordinal);
            entry.FileSchema = FileSchemaOf(typed);
            entry.SchemaStale = false;
        }
    }

    /// <summary>The databases in ordinal order (names are ASCII: DuckDB's VARCHAR order), as SHOW DATABASES lists them.</summary>
    public IEnumerable<string> Databases => _databases.Values.Select(d => d.Name).Order(StringComparer.Ordinal);

    /// <summary>The queryable measurements of <paramref name="database"/> in ordinal order, as SHOW TABLES lists them.</summary>
    public IEnumerable<MeasurementEntry> Measurements(string database) =>
        _databases.TryGetValue(database, out var entry)
            ? entry.Measurements.Values.Where(m => m.View != ViewKind.None).OrderBy(m => m.Name, StringComparer.Ordinal)
            : [];

    /// <summary>The queryable measurement <paramref name="name"/> of <paramref name="database"/>, matched ignoring case as DuckDB does.</summary>
    public MeasurementEntry? FindMeasurement(string database, string name) =>
        Entry(database, name) is { View: not ViewKind.None } entry ? entry : null;

    /// <summary>The entry of <paramref name="database"/>.<paramref name="name"/> (matched ignoring case), queryable or not yet.</summary>
    public MeasurementEntry? Entry(string database, string name) =>
        _databases.TryGetValue(database, out var db) && db.Measurements.TryGetValue(name, out var entry) ? entry : null;

    /// <summary>Whether <paramref name="database"/> has a queryable measurement (its schema exists in DuckDB).</summary>
    public bool HasDatabase(string database) => Measurements(database).Any();

    /// <summary>Registers a database (created empty, or a directory on storage); returns its name as the catalog has it.</summary>
    public string AddDatabase(string database) => _databases.GetOrAdd(database, static name => new DatabaseEntry(name)).Name;

    /// <summary>The database's name as the catalog has it (matched ignoring case), or null.</summary>
    public string? DatabaseName(string database) => _databases.TryGetValue(database, out var db) ? db.Name : null;

    /// <summary>The entry of a measurement, created on first use; null with a reason if the name collides with another's case.</summary>
    public MeasurementEntry? ResolveMeasurement(string database, string measurement, out string? error)
    {
        var db = _databases.GetOrAdd(database, static name => new DatabaseEntry(name));
        if (!db.Name.Equals(database, StringComparison.Ordinal))
        {
            error = $"database '{database}' differs only in case from the existing database '{db.Name}'";
            return null;
        }

        var entry = db.Measurements.GetOrAdd(measurement, static (name, state) => new MeasurementEntry(state.db.Name, name, state.self),
            (db, self: this));
        if (!entry.Name.Equals(measurement, StringComparison.Ordinal))
        {
            error = $"measurement '{measurement}' differs only in case from the existing measurement '{entry.Name}' of {db.Name}";
            return null;
        }

        error = null;
        return entry;
    }

    /// <summary>
    /// Makes the measurement queryable: a view over its buffered rows, and once it has files (<paramref name="withFiles"/>)
    /// over its Parquet files too, as the file list function names them for the statement being bound. Idempotent; a flush
    /// calls it while holding <see cref="Visibility"/> for writing.
    /// </summary>
    public void EnsureView(MeasurementEntry entry, bool withFiles)
    {
        var wanted = withFiles ? ViewKind.FilesAndBuffer : ViewKind.Buffer;
        if (entry.View >= wanted)
        {
            return;
        }

        lock (_ddlLock)
        {
            if (entry.View >= wanted)
            {
                return;
            }

            CreateView(_ddl, entry, wanted);
            entry.View = wanted;
        }
    }

    /// <summary>
    /// Creates a measurement's view. DuckDB binds it to learn its columns, from the schema file alone (under the
    /// schema-only scope): no data file's footer is read.
    /// </summary>
    private void CreateView(DuckDbConnection ddl, MeasurementEntry entry, ViewKind kind)
    {
        using var scope = _bindingSchemaOnly();
        var schema = Names.QuoteIdentifier(entry.Database);
        var arguments = $"{Names.QuoteLiteral(entry.Database)}, {Names.QuoteLiteral(entry.Name)}";
        ddl.Execute($"CREATE SCHEMA IF NOT EXISTS {schema}");
        ddl.Execute($"CREATE OR REPLACE VIEW {schema}.{Names.QuoteIdentifier(entry.Name)} AS " +
                    (kind == ViewKind.FilesAndBuffer ? $"SELECT * FROM query({SourceFunction}({arguments}))" : $"SELECT * FROM {BufferFunction}({arguments})"));
    }

    /// <summary>
    /// Moves the catalog's DuckDB objects to another instance (the query instance's renewal): creates every schema and
    /// view on <paramref name="ddl"/> (a connection to it, prepared with the functions the views call), then, holding the
    /// DDL lock so nothing is created or dropped on the old instance alone, catches up with the views created and dropped
    /// meanwhile, calls <paramref name="swap"/> (which moves the query connections) and keeps <paramref name="ddl"/>.
    /// Returns the connection it used before, for the caller to close. <paramref name="meanwhile"/> runs between the two
    /// (tests change the catalog there).
    /// </summary>
    public DuckDbConnection Rebind(DuckDbConnection ddl, Action swap, Action? meanwhile = null)
    {
        var made = new Dictionary<MeasurementEntry, ViewKind>(ReferenceEqualityComparer.Instance);
        Mirror(ddl, made); // the bulk, while flushes and drops go on
        meanwhile?.Invoke();
        lock (_ddlLock)
        {
            Mirror(ddl, made);
            swap();
            var old = _ddl;
            _ddl = ddl;
            return old;
        }
    }

    /// <summary>
    /// Makes <paramref name="ddl"/>'s instance hold the views the catalog has now: drops those of entries
    /// <paramref name="made"/> lists that were dropped since (with their schema when their database went), creates or
    /// widens the others, and records what it made.
    /// </summary>
    private void Mirror(DuckDbConnection ddl, Dictionary<MeasurementEntry, ViewKind> made)
    {
        foreach (var entry in made.Keys.ToList())
        {
            if (!_databases.TryGetValue(entry.Database, out var db) || !ReferenceEquals(db.Measurements.GetValueOrDefault(entry.Name), entry))
            {
                ddl.Execute(db is null
                    ? $"DROP SCHEMA IF EXISTS {Names.QuoteIdentifier(entry.Database)} CASCADE"
                    : $"DROP VIEW IF EXISTS {Names.QuoteIdentifier(entry.Database)}.{Names.QuoteIdentifier(entry.Name)}");
                made.Remove(entry);
            }
        }

        foreach (var entry in _databases.Values.SelectMany(d => d.Measurements.Values))
        {
            var kind = entry.View;
            if (kind != ViewKind.None && kind > made.GetValueOrDefault(entry))
            {
                CreateView(ddl, entry, kind);
                made[entry] = kind;
            }
        }
    }

    /// <summary>
    /// The SQL of a view's rows (<see cref="SourceFunction"/>): the measurement's files as <c>arc_files</c> lists them for the
    /// statement, with the rows held in memory when <paramref name="buffered"/>.
    /// </summary>
    public static string ViewSource(string database, string measurement, bool buffered)
    {
        var arguments = $"{Names.QuoteLiteral(database)}, {Names.QuoteLiteral(measurement)}";
        var files = $"SELECT * FROM read_parquet({FilesFunction}({arguments}), union_by_name = {UnionFunction}({arguments}))";
        return buffered ? $"{files} UNION ALL BY NAME SELECT * FROM {BufferFunction}({arguments})" : files;
    }

    /// <summary>
    /// The SQL of a view's rows when a statement needs none of the measurement's Parquet files (its range holds only rows
    /// in memory, or none): <c>arc_buffer</c> with the schema file's columns first (<see cref="MeasurementEntry.FileSchema"/>,
    /// nulls where the rows in memory have no such column), the columns only those rows have after, as the
    /// <c>UNION ALL BY NAME</c> of <see cref="ViewSource"/> would give them, without opening the schema file.
    /// </summary>
    public static string MemorySource(string database, string measurement) =>
        $"SELECT * FROM {BufferFunction}({Names.QuoteLiteral(database)}, {Names.QuoteLiteral(measurement)}, {FileColumnsParameter} := true)";

    /// <summary>The named parameter of <c>arc_buffer</c> that puts the schema file's columns first (<see cref="MemorySource"/>).</summary>
    public const string FileColumnsParameter = "file_columns";

    /// <summary>
    /// Forgets a dropped database (<paramref name="measurement"/> null: its schema with every view) or measurement (its view):
    /// DuckDB objects, entries (so the name starts over with a new schema) and manifest files. Returns the measurements whose
    /// data went away, for the result cache. Call under <see cref="Visibility"/> held for writing.
    /// </summary>
    public List<string> Drop(string database, string? measurement)
    {
        var gone = new List<string>();
        lock (_ddlLock)
        {
            if (_databases.TryGetValue(database, out var db))
            {
                if (measurement is null)
                {
                    gone.AddRange(db.Measurements.Keys);
                    _ddl.Execute($"DROP SCHEMA IF EXISTS {Names.QuoteIdentifier(db.Name)} CASCADE");
                    _databases.TryRemove(database, out _);
                }
                else if (db.Measurements.TryRemove(measurement, out var entry))
                {
                    gone.Add(entry.Name);
                    _ddl.Execute($"DROP VIEW IF EXISTS {Names.QuoteIdentifier(db.Name)}.{Names.QuoteIdentifier(entry.Name)}");
                }
            }
        }

        gone.AddRange(Manifest.Forget(database, measurement).Select(p => Path.GetRelativePath(_store.Root, p).Split(Path.DirectorySeparatorChar))
            .Where(parts => parts.Length > 1).Select(parts => parts[1]));
        return gone.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>Reads the column kinds of a measurement's files from its schema file (once per process, on its first write).</summary>
    private void Seed(MeasurementSchema schema)
    {
        var file = SchemaFile(schema.Database, schema.Measurement);
        if (!File.Exists(file))
        {
            return;
        }

        var path = Names.QuoteLiteral(file);
        lock (_ddlLock)
        {
            var tags = new HashSet<string>(StringComparer.Ordinal);
            foreach (var row in _ddl.QueryStrings(
                         $"SELECT decode(value) FROM parquet_kv_metadata({path}) WHERE decode(key) = '{ParquetFileWriter.TagsMetadataKey}'"))
            {
                if (row[0] is { } json && JsonSerializer.Deserialize(json, StorageJsonContext.Default.ListString) is { } names)
                {
                    tags.UnionWith(names);
                }
            }

            foreach (var row in _ddl.QueryStrings($"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({path}))"))
            {
                var name = row[0]!;
                if (name.Equals(ColumnSet.TimeColumn, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                schema.Seed(name, tags.Contains(name) ? ColumnKind.Tag : KindOf(row[1]!));
            }
        }

        _logger.LogDebug("Loaded schema of {Database}.{Measurement}: {Count} columns", schema.Database, schema.Measurement, schema.Count);
    }

    /// <summary>
    /// The schema file's columns in order with their types (<see cref="MeasurementEntry.FileSchema"/>); null when a type is
    /// not one a column of nulls can be made of without type parameters (a DECIMAL, a LIST, a STRUCT).
    /// </summary>
    private static (string Name, DuckDBType Type)[]? FileSchemaOf(List<string?[]> described)
    {
        var schema = new (string, DuckDBType)[described.Count];
        for (var i = 0; i < described.Count; i++)
        {
            if (PlainType(described[i][1]!) is not { } type)
            {
                return null;
            }

            schema[i] = (described[i][0]!, type);
        }

        return schema;
    }

    private static DuckDBType? PlainType(string duckDbType) => duckDbType switch
    {
        "TIMESTAMP_NS" => DuckDBType.TimestampNs,
        "TIMESTAMP" => DuckDBType.Timestamp,
        "TIMESTAMP_MS" => DuckDBType.TimestampMs,
        "TIMESTAMP_S" => DuckDBType.TimestampS,
        "TIMESTAMP WITH TIME ZONE" => DuckDBType.TimestampTz,
        "DATE" => DuckDBType.Date,
        "VARCHAR" => DuckDBType.Varchar,
        "DOUBLE" => DuckDBType.Double,
        "FLOAT" => DuckDBType.Float,
        "BIGINT" => DuckDBType.BigInt,
        "INTEGER" => DuckDBType.Integer,
        "SMALLINT" => DuckDBType.SmallInt,
        "TINYINT" => DuckDBType.TinyInt,
        "UBIGINT" => DuckDBType.UnsignedBigInt,
        "UINTEGER" => DuckDBType.UnsignedInteger,
        "USMALLINT" => DuckDBType.UnsignedSmallInt,
        "UTINYINT" => DuckDBType.UnsignedTinyInt,
        "BOOLEAN" => DuckDBType.Boolean,
        _ => null,
    };

    private static ColumnKind KindOf(string duckDbType) => duckDbType switch
    {
        "DOUBLE" or "FLOAT" or "REAL" => ColumnKind.Float,
        "BIGINT" or "INTEGER" or "SMALLINT" or "TINYINT" => ColumnKind.Integer,
        "UBIGINT" or "UINTEGER" or "USMALLINT" or "UTINYINT" => ColumnKind.UInteger,
        "BOOLEAN" => ColumnKind.Boolean,
        _ => ColumnKind.String,
    };

    internal sealed class DatabaseEntry(string name)
    {
        public string Name { get; } = name;

        public ConcurrentDictionary<string, MeasurementEntry> Measurements { get; } = new(StringComparer.OrdinalIgnoreCase);
    }

    internal sealed class MeasurementEntry(string database, string name, Catalog catalog)
    {
        private readonly Lazy<MeasurementSchema> _schema = new(() =>
        {
            var schema = new MeasurementSchema(database, name, catalog._maxColumns, catalog._maxNameBytes);
            catalog.Seed(schema);
            return schema;
        });

        private readonly Lazy<(string Files, string Union, string Memory)> _sources = new(() => (ViewSource(database, name, buffered: false),
            ViewSource(database, name, buffered: true), MemorySource(database, name)));

        public string Database { get; } = database;

        public string Name { get; } = name;

        public MeasurementSchema Schema => _schema.Value;

        /// <summary>What the measurement's view currently covers.</summary>
        public ViewKind View { get; set; }

        /// <summary>The columns of its schema file (set when that is written); a flush with another column rewrites it.</summary>
        public HashSet<string> FileColumns { get; set; } = [];

        /// <summary>
        /// The schema file's columns in its order with their DuckDB types, set with <see cref="FileColumns"/>; null before
        /// it is written or when a type is not plain (<see cref="FileSchemaOf"/>): then a statement reads the schema file.
        /// </summary>
        public (string Name, DuckDBType Type)[]? FileSchema { get; set; }

        /// <summary>The columns writes have claimed, or null when none has been written or seeded since startup.</summary>
        public MeasurementSchema? LoadedSchema => _schema.IsValueCreated ? _schema.Value : null;

        /// <summary>A schema file write failed: the next one is made from every file of the manifest.</summary>
        public bool SchemaStale { get; set; }

        /// <summary><see cref="ViewSource"/> of this measurement, made once.</summary>
        public string Source(bool buffered) => buffered ? _sources.Value.Union : _sources.Value.Files;

        /// <summary><see cref="MemorySource"/> of this measurement, made once.</summary>
        public string SourceInMemory => _sources.Value.Memory;
    }

    internal enum ViewKind
    {
        None,
        Buffer,
        FilesAndBuffer,
    }
}
