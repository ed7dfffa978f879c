using System.Globalization;
using System.Text;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>
/// The reads behind export jobs: a measurement's columns split into tags and typed fields, and batches of rows in
/// (time, tie-breaker) order after a high-water mark (the shapes in ExportBatch.cs). Lives here, below the export jobs
/// that call it, because it needs the catalog's schemas and the where-clause validation of
/// <c>GET /api/v1/query/{measurement}</c>.
/// </summary>
public sealed partial class QueryEngine
{
    private const string TimeColumn = "__arc_export_t";
    private const string KeyColumn = "__arc_export_k";

    /// <summary>Throws <see cref="QueryRejectedException"/> when <paramref name="filter"/> is not a plain boolean expression.</summary>
    public async ValueTask ValidateExportFilterAsync(string filter, CancellationToken cancellationToken)
    {
        var connection = await _pool.RentAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            FilterSql(connection, filter, "db", "m");
        }
        finally
        {
            _pool.Return(connection);
        }
    }

    /// <summary>The measurement's export columns, or null when it does not exist (yet).</summary>
    public async ValueTask<ExportSchema?> ExportSchemaAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        var entry = _catalog.Measurements(database).FirstOrDefault(m => m.Name.Equals(measurement, StringComparison.OrdinalIgnoreCase));
        if (entry is null)
        {
            return null;
        }

        var connection = await _pool.RentAsync(cancellationToken).ConfigureAwait(false);
        List<string?[]> described;
        try
        {
            described = connection.QueryStrings(
                $"SELECT column_name, column_type FROM (DESCRIBE {Names.QuoteIdentifier(entry.Database)}.{Names.QuoteIdentifier(entry.Name)})");
        }
        finally
        {
            _pool.Return(connection);
        }

        var tags = new List<ExportColumn>();
        var fields = new List<ExportColumn>();
        foreach (var row in described)
        {
            var name = row[0]!;
            if (name.Equals(ColumnSet.TimeColumn, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            // A VARCHAR column is a tag when the measurement's schema would accept it as one (it knows every column's kind).
            if (row[1] == "VARCHAR" && entry.Schema.Check(name, ColumnKind.Tag, claim: false) is null)
            {
                tags.Add(new ExportColumn(name, ColumnKind.Tag));
                continue;
            }

            fields.Add(new ExportColumn(name, row[1] switch
            {
                "DOUBLE" or "FLOAT" => ColumnKind.Float,
                "BIGINT" or "INTEGER" or "SMALLINT" or "TINYINT" => ColumnKind.Integer,
                "UBIGINT" or "UINTEGER" or "USMALLINT" or "UTINYINT" => ColumnKind.UInteger,
                "BOOLEAN" => ColumnKind.Boolean,
                _ => ColumnKind.String,
            }));
        }

        tags.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        fields.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return new ExportSchema(entry.Database, entry.Name, [.. tags, .. fields]);
    }

    /// <summary>
    /// Up to <paramref name="limit"/> rows with time at most <paramref name="horizonNs"/> and (time, key) after the mark
    /// (<paramref name="afterTime"/>, <paramref name="afterKey"/>; null for the start), in (time, key) order. The key is the
    /// row's tag and field values as a JSON array in schema order: deterministic, so rows sharing a timestamp are neither
    /// skipped nor repeated across batches.
    /// </summary>
    public async ValueTask<ExportBatch> ReadExportBatchAsync(ExportSchema schema, string? filter, long? afterTime, string? afterKey, long horizonNs,
        int limit, CancellationToken cancellationToken)
    {
        var table = $"{Names.QuoteIdentifier(schema.Database)}.{Names.QuoteIdentifier(schema.Measurement)}";
        var source = table;
        if (!string.IsNullOrWhiteSpace(filter))
        {
            var connection = await _pool.RentAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                source = $"({FilterSql(connection, filter, schema.Database, schema.Measurement)})";
            }
            finally
            {
                _pool.Return(connection);
            }
        }

        var sql = new StringBuilder();
        var time = Names.QuoteIdentifier(ColumnSet.TimeColumn);
        sql.Append(CultureInfo.InvariantCulture, $"SELECT epoch_ns({time}) AS {TimeColumn}, {KeyColumn}");
        foreach (var column in schema.Columns)
        {
            var quoted = Names.QuoteIdentifier(column.Name);
            sql.Append(", ").Append(column.Kind switch
            {
                ColumnKind.Float => $"CAST({quoted} AS DOUBLE)",
                ColumnKind.Integer => $"CAST({quoted} AS BIGINT)",
                ColumnKind.UInteger => $"CAST({quoted} AS UBIGINT)",
                ColumnKind.Boolean => $"CAST({quoted} AS BOOLEAN)",
                _ => $"CAST({quoted} AS VARCHAR)",
            });
        }

        sql.Append(CultureInfo.InvariantCulture, $" FROM (SELECT *, CAST(json_array({string.Join(", ", schema.Columns.Select(c => Names.QuoteIdentifier(c.Name)))}) AS VARCHAR) AS {KeyColumn} FROM {source}) AS s");
        sql.Append(CultureInfo.InvariantCulture, $" WHERE {time} <= make_timestamp_ns({horizonNs})");
        if (afterTime is { } t)
        {
            sql.Append(CultureInfo.InvariantCulture,
                $" AND {time} >= make_timestamp_ns({t}) AND ({time} > make_timestamp_ns({t}) OR {KeyColumn} > {Names.QuoteLiteral(afterKey ?? "")})");
        }

        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY {time}, {KeyColumn} LIMIT {limit}");

        var rows = new List<ExportRow>(Math.Min(limit, 65_536));
        string firstKey = "", lastKey = "";
        long lastTime = 0;
        // Background work: low priority, so a busy pool serves dashboards first.
        using var cursor = await OpenAsync(sql.ToString(), schema.Database, cancellationToken, priority: QueryPriority.Low).ConfigureAwait(false);
        while (cursor.Next() is { } chunk)
        {
            using (chunk)
            {
                ReadChunk(chunk, schema, rows, ref firstKey, ref lastKey, ref lastTime);
            }
        }

        return new ExportBatch(schema, rows, lastTime, lastKey, firstKey);
    }

    private static unsafe void ReadChunk(DuckDBDataChunk chunk, ExportSchema schema, List<ExportRow> rows, ref string firstKey, ref string lastKey,
        ref long lastTime)
    {
        var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
        var columns = schema.Columns.Count;
        var times = (long*)NativeMethods.Vectors.DuckDBVectorGetData(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, 0));
        var keys = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, 1);
        var vectors = new IntPtr[columns];
        for (var c = 0; c < columns; c++)
        {
            vectors[c] = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, c + 2);
        }

        for (var r = 0; r < size; r++)
        {
            var values = new object?[columns];
            for (var c = 0; c < columns; c++)
            {
                values[c] = ReadValue(vectors[c], schema.Columns[c].Kind, r);
            }

            rows.Add(new ExportRow(times[r], values));
        }

        if (size > 0)
        {
            var keyData = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(keys);
            if (rows.Count == size)
            {
                firstKey = DuckDbStrings.Read(keyData);
            }

            lastKey = DuckDbStrings.Read(keyData + ((size - 1) * 16));
            lastTime = times[size - 1];
        }
    }

    private static unsafe object? ReadValue(IntPtr vector, ColumnKind kind, int row)
    {
        var validity = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);
        if (validity != null && (validity[row >> 6] & (1UL << (row & 63))) == 0)
        {
            return null;
        }

        var data = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(vector);
        return kind switch
        {
            ColumnKind.Float => ((double*)data)[row],
            ColumnKind.Integer => ((long*)data)[row],
            ColumnKind.UInteger => ((ulong*)data)[row],
            ColumnKind.Boolean => data[row] != 0,
            _ => DuckDbStrings.Read(data + (row * 16)),
        };
    }
}
