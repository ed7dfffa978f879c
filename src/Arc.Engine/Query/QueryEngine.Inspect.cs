using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Arc.Engine.DuckDb;
using Arc.Engine.Errors;
using Arc.Engine.Storage;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>A measurement the server does not have (the measurement endpoint answers 404).</summary>
public sealed class MeasurementNotFoundException(string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.NotFound;
}

/// <summary>What a query would read, from DuckDB's plan (nothing is executed).</summary>
/// <param name="EstimatedRows">The optimizer's row estimate for the result (EXPLAIN's root cardinality).</param>
/// <param name="Measurements">The measurements the query references, with their Parquet files.</param>
public sealed record QueryEstimate(long EstimatedRows, IReadOnlyList<MeasurementFiles> Measurements)
{
    public long Files => Measurements.Sum(m => (long)m.Files);

    public long Bytes => Measurements.Sum(m => m.Bytes);
}

/// <summary>A measurement and its Parquet files.</summary>
public sealed record MeasurementFiles(string Database, string Measurement, int Files, long Bytes, string StoragePath);

/// <summary>The parts of <c>GET /api/v1/query/{measurement}</c>, each validated before any SQL is built.</summary>
public sealed record MeasurementQuery(string Database, string Measurement, long Limit, long Offset, string OrderBy, string? Where);

public sealed partial class QueryEngine
{
    /// <summary>The longest <c>where</c> expression accepted by <see cref="MeasurementSqlAsync"/>.</summary>
    public const int MaxWhereLength = 4096;

    private const string WherePlaceholderTable = "__arc_measurement";

    /// <summary>Every measurement that has files, optionally of one database, ordered by database then name.</summary>
    public async Task<IReadOnlyList<MeasurementFiles>> ListMeasurementsAsync(string? database, CancellationToken cancellationToken)
    {
        var databases = database is null ? _catalog.Databases : _catalog.Databases.Where(d => d.Equals(database, StringComparison.OrdinalIgnoreCase));
        var list = new List<MeasurementFiles>();
        foreach (var d in databases)
        {
            foreach (var m in _catalog.Measurements(d))
            {
                list.Add(await FilesAsync(d, m.Name, cancellationToken).ConfigureAwait(false));
            }
        }

        return list;
    }

    private async Task<MeasurementFiles> FilesAsync(string database, string measurement, CancellationToken cancellationToken)
    {
        var (count, bytes) = await FileStatsAsync(database, measurement, cancellationToken).ConfigureAwait(false);
        return new MeasurementFiles(database, measurement, count, bytes, StoragePath(database, measurement));
    }

    /// <summary>
    /// Estimates a query without running it: the row estimate is the root cardinality of DuckDB's optimized plan
    /// (<c>EXPLAIN (FORMAT json)</c>), the files and bytes are those of the measurements the query references (found in
    /// DuckDB's own parse tree, <c>json_serialize_sql</c>). The query must be a SELECT; errors are those of the real query.
    /// </summary>
    public async ValueTask<QueryEstimate> EstimateAsync(string sql, string? database, CancellationToken cancellationToken,
        QueryAccess? access = null)
    {
        access ??= QueryAccess.Full;
        var show = CheckShow(sql, database, access);
        if (database is not null && !access.MayRead(database))
        {
            throw new QueryForbiddenException($"this token may not read database '{database}'");
        }

        if (show is { } listing)
        {
            // Answered from the catalog: the listing's rows are the estimate, and it reads no measurement's files.
            using var rows = await ListingAsync(listing, database, access.Databases, cancellationToken).ConfigureAwait(false);
            return new QueryEstimate(rows.RowCount, []);
        }

        var connection = await _pool.RentAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            UseDatabase(connection, database);
            var statement = StatementGuard.Check(connection, sql, database, access, _catalog, _functions, _options);
            if (statement.IsExplain)
            {
                throw new QueryRejectedException("only SELECT queries can be estimated");
            }

            // The text was parsed as exactly one SELECT, so prefixing EXPLAIN yields exactly one EXPLAIN (checked again).
            long rows;
            using (Scope(connection, statement, _functions, out _).Activate())
            using (var explain = PrepareExplain(connection, statement.Sql, statement.FallbackSql))
            using (var result = DuckDbQueryResult.ExecuteStreaming(explain))
            {
                var plan = new StringBuilder();
                foreach (var row in Strings(result, 1))
                {
                    plan.Append(row);
                }

                using var document = JsonDocument.Parse(plan.ToString());
                rows = document.RootElement.ValueKind == JsonValueKind.Array && document.RootElement.GetArrayLength() > 0
                    ? EstimatedRows(document.RootElement[0])
                    : 0;
            }

            var measurements = new List<MeasurementFiles>();
            foreach (var m in statement.Measurements)
            {
                measurements.Add(await FilesAsync(m.Database, m.Measurement, cancellationToken).ConfigureAwait(false));
            }

            return new QueryEstimate(rows, measurements);
        }
        finally
        {
            _pool.Return(connection);
        }
    }

    private static DuckDBPreparedStatement PrepareExplain(DuckDbConnection connection, string sql, string? fallback)
    {
        try
        {
            return Prepare(connection, "EXPLAIN (FORMAT json) " + sql, explain: true);
        }
        catch (DuckDbException) when (fallback is not null)
        {
            return Prepare(connection, "EXPLAIN (FORMAT json) " + fallback, explain: true);
        }
    }

    /// <summary>
    /// The row estimate of a plan node: its own "Estimated Cardinality" when positive (DuckDB prints 0 for some nodes it
    /// did not estimate, e.g. a projection above an ORDER BY), 1 for an aggregate without groups, the "Top" of a TOP_N,
    /// for a semi join its first input, or its smaller input when it joins on row numbers (DuckDB's late materialization of
    /// a TOP_N over Parquet: the rows the TOP_N kept, fetched again), otherwise the largest estimate among its children.
    /// </summary>
    private static long EstimatedRows(JsonElement node)
    {
        var info = node.TryGetProperty("extra_info", out var extra) && extra.ValueKind == JsonValueKind.Object ? extra : default;
        if (Number(info, "Estimated Cardinality") is > 0 and var own)
        {
            return own;
        }

        var name = node.TryGetProperty("name", out var n) ? n.GetString() : null;
        if (name == "UNGROUPED_AGGREGATE")
        {
            return 1;
        }

        var inputs = node.TryGetProperty("children", out var children) && children.ValueKind == JsonValueKind.Array
            ? children.EnumerateArray().Select(EstimatedRows).ToList()
            : [];
        if (inputs.Count == 2 && info.ValueKind == JsonValueKind.Object && info.TryGetProperty("Join Type", out var join) && join.GetString() == "SEMI")
        {
            return info.TryGetProperty("Conditions", out var conditions) && conditions.GetRawText().Contains("file_row_number", StringComparison.Ordinal)
                ? inputs.Min()
                : inputs[0];
        }

        var rows = inputs.Count == 0 ? 0 : inputs.Max();
        return name == "TOP_N" && Number(info, "Top") is { } top ? Math.Min(rows, top) : rows;

        static long? Number(JsonElement info, string property) =>
            info.ValueKind == JsonValueKind.Object && info.TryGetProperty(property, out var value)
            && long.TryParse(value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText(), NumberStyles.None, CultureInfo.InvariantCulture, out var number)
                ? number
                : null;
    }

    /// <summary>
    /// Builds the SQL of <c>GET /api/v1/query/{measurement}</c> from validated parts: names checked against Arc's rules and
    /// the catalog and quoted, limit and offset integers, <c>order_by</c> columns that exist (DESCRIBE) with ASC/DESC, and
    /// <c>where</c> parsed by DuckDB as the filter of <c>SELECT * FROM t WHERE ...</c>. The parse tree must be exactly that
    /// statement (one SELECT, no ORDER BY/LIMIT/GROUP BY/UNION/CTE added by the text) and the expression must contain no
    /// subquery or parameter; the SQL then uses DuckDB's rendering of that tree (<c>json_deserialize_sql</c>), never the
    /// client's text, so comments, semicolons and unbalanced quotes cannot reach the executed query.
    /// </summary>
    public async ValueTask<string> MeasurementSqlAsync(MeasurementQuery query, CancellationToken cancellationToken)
    {
        if (Names.ValidateDatabase(query.Database) is { } badDatabase)
        {
            throw new QueryRejectedException(badDatabase);
        }

        if (!Names.IsValidMeasurement(query.Measurement))
        {
            throw new QueryRejectedException($"invalid measurement name '{query.Measurement}': it must start with a letter and contain only letters, digits, '_' and '-'");
        }

        var entry = _catalog.Measurements(query.Database).FirstOrDefault(m => m.Name.Equals(query.Measurement, StringComparison.OrdinalIgnoreCase))
                    ?? throw new MeasurementNotFoundException($"measurement '{query.Measurement}' not found in database '{query.Database}'");
        var table = $"{Names.QuoteIdentifier(entry.Database)}.{Names.QuoteIdentifier(entry.Name)}";

        var connection = await _pool.RentAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var columns = connection.QueryStrings($"SELECT column_name FROM (DESCRIBE {table})").Select(r => r[0]!).ToList();
            var orderBy = OrderByClause(query.OrderBy, columns);
            var source = table;
            if (!string.IsNullOrWhiteSpace(query.Where))
            {
                source = $"({FilterSql(connection, query.Where, entry.Database, entry.Name)}) AS q";
            }

            return string.Create(CultureInfo.InvariantCulture, $"SELECT * FROM {source} ORDER BY {orderBy} LIMIT {query.Limit} OFFSET {query.Offset}");
        }
        finally
        {
            _pool.Return(connection);
        }
    }

    /// <summary><c>column [ASC|DESC]</c>, comma-separated; each column must exist (matched ignoring case, then quoted).</summary>
    private static string OrderByClause(string orderBy, List<string> columns)
    {
        var parts = new List<string>();
        foreach (var item in orderBy.Split(',', StringSplitOptions.TrimEntries))
        {
            var tokens = item.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length is 0 or > 2)
            {
                throw new QueryRejectedException($"invalid order_by '{orderBy}': use column [ASC|DESC], comma-separated");
            }

            var name = tokens[0].Length > 1 && tokens[0][0] == '"' && tokens[0][^1] == '"' ? tokens[0][1..^1] : tokens[0];
            var column = columns.FirstOrDefault(c => c.Equals(name, StringComparison.OrdinalIgnoreCase))
                         ?? throw new QueryRejectedException($"invalid order_by: no column '{name}' (columns: {string.Join(", ", columns)})");
            var direction = tokens.Length == 1 ? "ASC" : tokens[1].ToUpperInvariant();
            if (direction is not ("ASC" or "DESC"))
            {
                throw new QueryRejectedException($"invalid order_by direction '{tokens[1]}': use ASC or DESC");
            }

            parts.Add($"{Names.QuoteIdentifier(column)} {direction}");
        }

        return string.Join(", ", parts);
    }

    /// <summary>Validates <paramref name="where"/> as described on <see cref="MeasurementSqlAsync"/>; returns DuckDB's SQL of the filtered scan.</summary>
    private string FilterSql(DuckDbConnection connection, string where, string database, string measurement)
    {
        var root = CheckedFilter(connection, where, allowVolatile: true);
        var from = (JsonObject)root["statements"]![0]!["node"]!["from_table"]!;
        from["schema_name"] = database;
        from["table_name"] = measurement;
        return ScalarString(connection, "SELECT json_deserialize_sql($1::JSON)", root.ToJsonString())
               ?? throw new QueryRejectedException("invalid where: DuckDB could not render it");
    }

    /// <summary>
    /// DuckDB's parse tree of <c>SELECT * FROM __arc_measurement WHERE {where}</c>, checked to be exactly that statement with
    /// an expression free of subqueries, parameters, windows, stars and functions off <see cref="FunctionPolicy"/>'s list
    /// (volatile ones too unless <paramref name="allowVolatile"/>).
    /// </summary>
    private JsonObject CheckedFilter(DuckDbConnection connection, string where, bool allowVolatile)
    {
        if (where.Length > MaxWhereLength)
        {
            throw new QueryRejectedException($"invalid where: longer than {MaxWhereLength} characters");
        }

        var json = ScalarString(connection, "SELECT json_serialize_sql($1::VARCHAR)", $"SELECT * FROM {WherePlaceholderTable} WHERE {where}")
                   ?? throw new QueryRejectedException("invalid where: DuckDB could not parse it");
        var root = JsonNode.Parse(json) as JsonObject ?? throw new QueryRejectedException("invalid where: DuckDB could not parse it");
        if (root["error"]?.GetValueKind() == JsonValueKind.True)
        {
            throw new QueryRejectedException($"invalid where: {root["error_message"]?.GetValue<string>() ?? "syntax error"}");
        }

        if (root["statements"] is not JsonArray { Count: 1 } statements || statements[0]?["node"] is not JsonObject node)
        {
            throw new QueryRejectedException("invalid where: it must be a single expression");
        }

        if (!IsPlainFilteredScan(node))
        {
            throw new QueryRejectedException("invalid where: it must be a single boolean expression over the measurement's columns " +
                                             "(no ORDER BY, LIMIT, GROUP BY, UNION, or anything after the expression)");
        }

        if (FindForbidden(node["where_clause"], allowVolatile) is { } forbidden)
        {
            throw new QueryRejectedException($"invalid where: {forbidden} is not allowed");
        }

        return root;
    }

    private static bool IsPlainFilteredScan(JsonObject node) =>
        Text(node["type"]) == "SELECT_NODE"
        && node["modifiers"] is JsonArray { Count: 0 }
        && (node["cte_map"]?["map"] is null or JsonArray { Count: 0 })
        && node["select_list"] is JsonArray { Count: 1 } select && Text(select[0]?["class"]) == "STAR" && select[0]?["expr"] is null
        && node["from_table"] is JsonObject from && Text(from["type"]) == "BASE_TABLE"
        && Text(from["table_name"]) == WherePlaceholderTable && Text(from["schema_name"]) is "" or null
        && Text(from["catalog_name"]) is "" or null && Text(from["alias"]) is "" or null && from["sample"] is null
        && node["where_clause"] is JsonObject
        && node["group_expressions"] is null or JsonArray { Count: 0 }
        && node["group_sets"] is null or JsonArray { Count: 0 }
        && node["having"] is null && node["sample"] is null && node["qualify"] is null
        && Text(node["aggregate_handling"]) is "STANDARD_HANDLING" or null;

    private static string? Text(JsonNode? node) => node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null;

    /// <summary>
    /// The first construct an expression may not contain: a subquery, a parameter, a window, a star, or a function not on
    /// <see cref="FunctionPolicy"/>'s list.
    /// </summary>
    private string? FindForbidden(JsonNode? node, bool allowVolatile)
    {
        switch (node)
        {
            case JsonObject obj:
                switch (Text(obj["class"]))
                {
                    case "SUBQUERY":
                        return "a subquery";
                    case "PARAMETER":
                        return "a parameter";
                    case "WINDOW":
                        return "a window function";
                    case "STAR":
                        return "*";
                    case "FUNCTION" when Text(obj["function_name"]) is { } name && Text(obj["schema"]) is "" or "main" or null
                                         && _functions.Scalar(name) is var use
                                         && (use == FunctionUse.Pure || (allowVolatile && use == FunctionUse.Volatile)):
                        break;
                    case "FUNCTION":
                        return $"function {Text(obj["function_name"])}()";
                }

                foreach (var (_, value) in obj)
                {
                    if (FindForbidden(value, allowVolatile) is { } found)
                    {
                        return found;
                    }
                }

                return null;
            case JsonArray array:
                foreach (var item in array)
                {
                    if (FindForbidden(item, allowVolatile) is { } found)
                    {
                        return found;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    /// <summary>Runs a one-parameter statement and returns the first column of its first row as text.</summary>
    internal static string? ScalarString(DuckDbConnection connection, string sql, string parameter)
    {
        if (NativeMethods.PreparedStatements.DuckDBPrepare(connection.Handle, sql, out var statement) != DuckDBState.Success)
        {
            var error = NativeMethods.PreparedStatements.DuckDBPrepareError(statement);
            statement.Dispose();
            throw new DuckDbException(error ?? "could not prepare the statement");
        }

        using (statement)
        {
            if (NativeMethods.PreparedStatements.DuckDBBindVarchar(statement, 1, parameter) != DuckDBState.Success)
            {
                throw new DuckDbException("could not bind the statement's parameter");
            }

            using var result = DuckDbQueryResult.ExecuteStreaming(statement);
            return Strings(result, 0).FirstOrDefault();
        }
    }

    /// <summary>The values of one VARCHAR column of a result.</summary>
    private static List<string?> Strings(DuckDbQueryResult result, int column)
    {
        var values = new List<string?>();
        while (result.FetchChunk() is { } chunk)
        {
            using (chunk)
            {
                var size = (int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk);
                var vector = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, column);
                for (var row = 0; row < size; row++)
                {
                    values.Add(VectorText.Format(vector, DuckDBType.Varchar, row));
                }
            }
        }

        return values;
    }
}
