using System.Collections.Concurrent;
using System.Text.Json;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
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
    private readonly DuckDbConnection _ddl;
    private readonly Lock _ddlLock = new();
    private readonly EngineOptions _options;
    private readonly ILogger _logger;

    public Catalog(LocalStore store, DuckDbConnection ddl, EngineOptions options, ILogger logger)
    {
        _store = store;
        _ddl = ddl;
        _options = options;
        _logger = logger;
    }

    /// <summary>
    /// Held for reading while a query binds (expanding Parquet globs and copying buffers) and for writing while a flush
    /// moves rows from a buffer into files, so every query sees each row exactly once.
    /// </summary>
    public ReaderWriterLockSlim Visibility { get; } = new();

    /// <summary>Which queries may still read files that compaction replaced.</summary>
    public QueryEpochs Epochs { get; } = new();

    /// <summary>Per-measurement versions that move when data changes (commits, compaction), for the query result cache.</summary>
    public Query.DataVersions Versions { get; } = new();

    /// <summary>Creates the views of the measurements already on storage (after the buffer function is registered).</summary>
    public void LoadExisting()
    {
        foreach (var database in _store.Databases())
        {
            foreach (var measurement in _store.Measurements(database))
            {
                if (_store.Files(database, measurement).Any() && ResolveMeasurement(database, measurement, out _) is { } entry)
                {
                    EnsureView(entry, withFiles: true);
                }
            }
        }
    }

    public IEnumerable<string> Databases => _databases.Values.Select(d => d.Name).Order(StringComparer.Ordinal);

    public IEnumerable<MeasurementEntry> Measurements(string database) =>
        _databases.TryGetValue(database, out var entry)
            ? entry.Measurements.Values.Where(m => m.View != ViewKind.None).OrderBy(m => m.Name, StringComparer.Ordinal)
            : [];

    /// <summary>The queryable measurement <paramref name="name"/> of <paramref name="database"/>, matched ignoring case as DuckDB does.</summary>
    public MeasurementEntry? FindMeasurement(string database, string name) =>
        _databases.TryGetValue(database, out var db) && db.Measurements.TryGetValue(name, out var entry) && entry.View != ViewKind.None
            ? entry
            : null;

    /// <summary>Whether <paramref name="database"/> has a queryable measurement (its schema exists in DuckDB).</summary>
    public bool HasDatabase(string database) => Measurements(database).Any();

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
    /// over its Parquet files too. Idempotent; a flush calls it while holding <see cref="Visibility"/> for writing.
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

            var schema = Names.QuoteIdentifier(entry.Database);
            var buffer = $"SELECT * FROM {Query.BufferScan.FunctionName}({Names.QuoteLiteral(entry.Database)}, {Names.QuoteLiteral(entry.Name)})";
            var files = $"SELECT * FROM read_parquet({Names.QuoteLiteral(_store.Glob(entry.Database, entry.Name))}, union_by_name = true)";
            _ddl.Execute($"CREATE SCHEMA IF NOT EXISTS {schema}");
            _ddl.Execute($"CREATE OR REPLACE VIEW {schema}.{Names.QuoteIdentifier(entry.Name)} AS " +
                         (withFiles ? $"{files} UNION ALL BY NAME {buffer}" : buffer));
            entry.View = wanted;
        }
    }

    /// <summary>Reads the column kinds of a measurement's existing files (once per process, on its first write).</summary>
    private void Seed(MeasurementSchema schema)
    {
        if (!_store.Files(schema.Database, schema.Measurement).Any())
        {
            return;
        }

        var glob = Names.QuoteLiteral(_store.Glob(schema.Database, schema.Measurement));
        lock (_ddlLock)
        {
            var tags = new HashSet<string>(StringComparer.Ordinal);
            foreach (var row in _ddl.QueryStrings(
                         $"SELECT DISTINCT decode(value) FROM parquet_kv_metadata({glob}) WHERE decode(key) = '{ParquetFileWriter.TagsMetadataKey}'"))
            {
                if (row[0] is { } json && JsonSerializer.Deserialize(json, EngineJsonContext.Default.ListString) is { } names)
                {
                    tags.UnionWith(names);
                }
            }

            foreach (var row in _ddl.QueryStrings($"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({glob}, union_by_name = true))"))
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
            var schema = new MeasurementSchema(database, name, catalog._options.MaxColumnsPerMeasurement, catalog._options.MaxNameBytes);
            catalog.Seed(schema);
            return schema;
        });

        public string Database { get; } = database;

        public string Name { get; } = name;

        public MeasurementSchema Schema => _schema.Value;

        /// <summary>What the measurement's view currently covers.</summary>
        public ViewKind View { get; set; }
    }

    internal enum ViewKind
    {
        None,
        Buffer,
        FilesAndBuffer,
    }
}
