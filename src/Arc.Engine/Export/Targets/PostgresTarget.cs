using Arc.Engine.Buffers;
using Arc.Engine.Query;
using Npgsql;
using NpgsqlTypes;

namespace Arc.Engine.Export.Targets;

/// <summary>
/// PostgreSQL and TimescaleDB. The table (default: the measurement's name) is created when absent — <c>time
/// timestamptz</c>, one <c>text NOT NULL DEFAULT ''</c> column per tag (a missing tag is the empty string, as in InfluxDB),
/// one typed column per field, and a primary key on (tags…, time) — and made a hypertable when the timescaledb extension
/// is installed in the database. Columns that appear later are added. A batch is written in one transaction: binary COPY
/// into a temporary table, then <c>INSERT … ON CONFLICT (tags…, time) DO UPDATE</c>, so a batch sent again after a crash
/// leaves the same rows. PostgreSQL keeps microseconds: rows whose times differ only below that share one row.
/// </summary>
internal sealed class PostgresTarget : IExportTarget
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _schema;
    private readonly string _table;
    private readonly string _qualified;
    private ExportSchema? _prepared;

    public PostgresTarget(ExportTargetSpec spec, string measurement, TimeSpan timeout)
    {
        var builder = new NpgsqlSlimDataSourceBuilder(spec.ConnectionString!);
        builder.ConnectionStringBuilder.CommandTimeout = Math.Max(1, (int)timeout.TotalSeconds);
        builder.ConnectionStringBuilder.Timeout = Math.Clamp((int)timeout.TotalSeconds, 1, 1024);
        builder.ConnectionStringBuilder.ApplicationName ??= "arc-native export";
        _dataSource = builder.Build();
        _schema = string.IsNullOrEmpty(spec.Schema) ? "public" : spec.Schema;
        _table = string.IsNullOrEmpty(spec.Table) ? measurement : spec.Table;
        _qualified = Quote(_schema) + "." + Quote(_table);
    }

    public async Task PrepareAsync(ExportSchema schema, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            var existing = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (var command = new NpgsqlCommand(
                             "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2", connection))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = _schema, NpgsqlDbType = NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter { Value = _table, NpgsqlDbType = NpgsqlDbType.Text });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    existing[reader.GetString(0)] = reader.GetString(1);
                }
            }

            var key = string.Join(", ", schema.Tags.Select(t => Quote(t.Name)).Append(Quote("time")));
            if (existing.Count == 0)
            {
                var columns = new List<string> { Quote("time") + " timestamptz NOT NULL" };
                columns.AddRange(schema.Columns.Select(Definition));
                columns.Add($"PRIMARY KEY ({key})");
                if (_schema != "public")
                {
                    await ExecuteAsync(connection, $"CREATE SCHEMA IF NOT EXISTS {Quote(_schema)}", cancellationToken).ConfigureAwait(false);
                }

                await ExecuteAsync(connection, $"CREATE TABLE IF NOT EXISTS {_qualified} ({string.Join(", ", columns)})", cancellationToken).ConfigureAwait(false);
                if (await ScalarAsync(connection, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'", cancellationToken).ConfigureAwait(false) > 0)
                {
                    await ExecuteAsync(connection, $"SELECT create_hypertable({Literal(_qualified)}, 'time', if_not_exists => TRUE, migrate_data => TRUE)",
                        cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                var missing = schema.Columns.Where(c => !existing.ContainsKey(c.Name)).ToList();
                foreach (var column in missing)
                {
                    await ExecuteAsync(connection, $"ALTER TABLE {_qualified} ADD COLUMN IF NOT EXISTS {Definition(column)}", cancellationToken).ConfigureAwait(false);
                }

                if (missing.Any(c => c.Kind == ColumnKind.Tag))
                {
                    // A new tag is part of the series key: the primary key (and so the upsert's conflict target) grows with it.
                    await ExecuteAsync(connection, $"""
                        DO $$ DECLARE pk text; BEGIN
                          SELECT conname INTO pk FROM pg_constraint WHERE conrelid = {Literal(_qualified)}::regclass AND contype = 'p';
                          IF pk IS NOT NULL THEN EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', {Literal(_qualified)}, pk); END IF;
                        END $$
                        """, cancellationToken).ConfigureAwait(false);
                    await ExecuteAsync(connection, $"ALTER TABLE {_qualified} ADD PRIMARY KEY ({key})", cancellationToken).ConfigureAwait(false);
                }
            }

            _prepared = schema;
        }
        catch (Exception e) when (Classify(e) is { } error)
        {
            throw error;
        }
    }

    public async Task WriteAsync(ExportBatch batch, CancellationToken cancellationToken)
    {
        var schema = batch.Schema;
        if (!ReferenceEquals(schema, _prepared))
        {
            await PrepareAsync(schema, cancellationToken).ConfigureAwait(false);
        }

        var names = schema.Columns.Select(c => Quote(c.Name)).Prepend(Quote("time")).ToList();
        var key = string.Join(", ", schema.Tags.Select(t => Quote(t.Name)).Append(Quote("time")));
        var fields = schema.Fields.Select(f => $"{Quote(f.Name)} = EXCLUDED.{Quote(f.Name)}").ToList();
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, $"CREATE TEMP TABLE arc_export_stage (LIKE {_qualified} INCLUDING DEFAULTS, arc_seq bigint) ON COMMIT DROP",
                cancellationToken).ConfigureAwait(false);
            var copy = $"COPY arc_export_stage ({string.Join(", ", names)}, arc_seq) FROM STDIN (FORMAT BINARY)";
            await using (var importer = await connection.BeginBinaryImportAsync(copy, cancellationToken).ConfigureAwait(false))
            {
                long seq = 0;
                foreach (var row in batch.Rows)
                {
                    await importer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                    await importer.WriteAsync(ToDateTime(row.Time), NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
                    for (var c = 0; c < schema.Columns.Count; c++)
                    {
                        await WriteValueAsync(importer, schema.Columns[c].Kind, row.Values[c], cancellationToken).ConfigureAwait(false);
                    }

                    await importer.WriteAsync(seq++, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                }

                await importer.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }

            // One statement may not update a row twice: within the batch, the last row of a series and time wins.
            var select = string.Join(", ", names);
            await ExecuteAsync(connection,
                $"INSERT INTO {_qualified} ({select}) SELECT DISTINCT ON ({key}) {select} FROM arc_export_stage ORDER BY {key}, arc_seq DESC " +
                $"ON CONFLICT ({key}) DO {(fields.Count == 0 ? "NOTHING" : "UPDATE SET " + string.Join(", ", fields))}",
                cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (Classify(e) is { } error)
        {
            throw error;
        }
    }

    private static async Task WriteValueAsync(NpgsqlBinaryImporter importer, ColumnKind kind, object? value, CancellationToken cancellationToken)
    {
        switch (value)
        {
            case null when kind == ColumnKind.Tag:
                await importer.WriteAsync("", NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                break;
            case null:
                await importer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
                break;
            case string s:
                await importer.WriteAsync(s, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                break;
            case double d:
                await importer.WriteAsync(d, NpgsqlDbType.Double, cancellationToken).ConfigureAwait(false);
                break;
            case long l:
                await importer.WriteAsync(l, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                break;
            case ulong u:
                await importer.WriteAsync((decimal)u, NpgsqlDbType.Numeric, cancellationToken).ConfigureAwait(false);
                break;
            case bool b:
                await importer.WriteAsync(b, NpgsqlDbType.Boolean, cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>Unix nanoseconds as a UTC DateTime (100 ns ticks, rounded down; PostgreSQL keeps microseconds).</summary>
    internal static DateTime ToDateTime(long unixNanos) =>
        DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(Math.DivRem(unixNanos, 100, out var rest) - (rest < 0 ? 1 : 0)), DateTimeKind.Utc);

    private static string Definition(ExportColumn column) => Quote(column.Name) + " " + column.Kind switch
    {
        ColumnKind.Tag => "text NOT NULL DEFAULT ''",
        ColumnKind.Float => "double precision",
        ColumnKind.Integer => "bigint",
        ColumnKind.UInteger => "numeric(20,0)",
        ColumnKind.Boolean => "boolean",
        _ => "text",
    };

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Server errors are permanent unless PostgreSQL calls them transient (connection, resources, shutdown, serialization).</summary>
    private static ExportTargetException? Classify(Exception e) => e switch
    {
        PostgresException pg => new ExportTargetException($"PostgreSQL: {pg.SqlState}: {pg.MessageText}", permanent: !pg.IsTransient, pg),
        NpgsqlException npgsql => new ExportTargetException($"PostgreSQL: {npgsql.Message}", permanent: false, npgsql),
        TimeoutException or IOException => new ExportTargetException($"PostgreSQL: {e.Message}", permanent: false, e),
        ArgumentException => new ExportTargetException($"PostgreSQL: {e.Message}", permanent: true, e),
        _ => null,
    };

    internal static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Literal(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
