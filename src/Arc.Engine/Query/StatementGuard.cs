using System.Text.Json;
using System.Text.Json.Nodes;
using Arc.Engine.DuckDb;
using Arc.Engine.Errors;
using Arc.Engine.Storage;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>What a caller may read through SQL.</summary>
/// <param name="Unrestricted">
/// May read DuckDB's catalog (views' SQL, settings, every database) and files under the storage root through table
/// functions: an admin token without a database scope, or a server without authentication.
/// </param>
/// <param name="Databases">The databases the caller may read; null for all.</param>
public sealed record QueryAccess(bool Unrestricted, IReadOnlySet<string>? Databases)
{
    /// <summary>No restriction (admin, or authentication off).</summary>
    public static QueryAccess Full { get; } = new(true, null);

    /// <summary>Measurements of every database, nothing else (a plain read token).</summary>
    public static QueryAccess AllDatabases { get; } = new(false, null);

    public bool MayRead(string database) => Databases is null || Databases.Contains(database);
}

/// <summary>A query too large to consider (<c>query.max_sql_length</c>); answered 413.</summary>
public sealed class QueryTooLargeException(string message) : QueryRejectedException(message)
{
    public override ErrorReason Reason => ErrorReason.TooLarge;
}

/// <summary>A statement that passed <see cref="StatementGuard"/>: what to prepare, and what it reads.</summary>
internal sealed class CheckedStatement
{
    /// <summary>
    /// The text to prepare: the client's SELECT, or the EXPLAIN rebuilt around it; DuckDB's rendering of the tree when
    /// <see cref="TimeComparisons"/> changed it.
    /// </summary>
    public required string Sql { get; init; }

    /// <summary>The client's own text (EXPLAIN rebuilt), to prepare when <see cref="Sql"/> is a rendering that does not.</summary>
    public required string? FallbackSql { get; init; }

    /// <summary>The SELECT's query node in DuckDB's parse tree (the explained statement for EXPLAIN).</summary>
    public required JsonObject Node { get; init; }

    public required bool IsExplain { get; init; }

    /// <summary>The measurements the statement reads (distinct), as the catalog names them.</summary>
    public required IReadOnlyList<(string Database, string Measurement)> Measurements { get; init; }

    /// <summary>Every reference to a measurement in the parse tree (a measurement named twice appears twice).</summary>
    public required IReadOnlyList<(JsonObject Table, string Database, string Measurement)> References { get; init; }

    /// <summary>A <c>DESCRIBE</c>: it binds its measurements for their columns and reads no row.</summary>
    public bool DescribesOnly => Text(Node["from_table"]?["type"]) == "SHOW_REF" && Text(Node["from_table"]?["show_type"]) == "DESCRIBE";

    private static string? Text(JsonNode? node) => StatementGuard.Text(node);

    /// <summary>Whether the result depends only on measurement data and the time: no catalog, file or volatile function.</summary>
    public required bool OnlyMeasurements { get; init; }
}

/// <summary>
/// Decides whether a statement may run, on DuckDB's own parse tree (<c>json_serialize_sql</c>, which serializes SELECT
/// statements only) before anything is prepared — an allowlist, not a search for bad words:
/// <list type="bullet">
/// <item>exactly one statement, and it is a SELECT (including <c>WITH</c>, <c>VALUES</c>, <c>FROM</c>-first, <c>DESCRIBE</c>,
/// <c>SUMMARIZE</c>, <c>PIVOT</c>) or an <c>EXPLAIN [ANALYZE]</c> of one; the EXPLAIN that runs is rebuilt from its options
/// and the checked SELECT's text (<see cref="ExplainPrefix"/>), so <c>EXPLAIN ANALYZE COPY …</c> never reaches DuckDB;</item>
/// <item>every function is on <see cref="FunctionPolicy"/>'s list, every table function too;</item>
/// <item>every table name resolves to a CTE in scope (with DuckDB's scoping: a CTE sees the ones before it, not itself
/// unless recursive) or to a measurement of a database the caller may read, resolved as DuckDB does (an unqualified name
/// in the request's database, <c>db.m</c>, <c>memory.db.m</c>); only unrestricted callers may name anything else (catalog
/// views such as <c>duckdb_views</c> or <c>information_schema.tables</c>, files);</item>
/// <item>the tree has at most <c>query.max_query_blocks</c> query blocks and table references, and the text at most
/// <c>query.max_sql_length</c> characters: DuckDB's planner is not interruptible and grows quadratically with a long
/// UNION chain (20,000 branches: 79 s and 7.5 GB inside DuckDB before a row).</item>
/// </list>
/// </summary>
internal static class StatementGuard
{
    /// <summary>Deepest parse tree accepted (DuckDB's own expression depth limit, 1000, keeps real trees far below).</summary>
    internal const int MaxTreeDepth = 4000;

    public static CheckedStatement Check(DuckDbConnection connection, string sql, string? database, QueryAccess access, Catalog catalog,
        FunctionPolicy functions, IQuerySettings options)
    {
        if (sql.Length > options.MaxSqlLength)
        {
            throw new QueryTooLargeException(
                $"the query is {sql.Length} characters long; the limit is {options.MaxSqlLength} (query.max_sql_length)");
        }

        var text = sql;
        ExplainPrefix? explain = null;
        var node = Parse(connection, text);
        if (node is null && CountStatements(connection, sql) is > 1 and var count)
        {
            throw new QueryRejectedException($"one statement per query is accepted; this query has {count}");
        }

        if (node is null && ExplainPrefix.TryParse(sql, out var prefix, out var inner, out var explainError))
        {
            if (explainError is not null)
            {
                throw new QueryRejectedException(explainError);
            }

            explain = prefix;
            text = inner;
            node = Parse(connection, text)
                   ?? throw new QueryRejectedException(
                       $"only SELECT statements can be explained{(prefix.Analyze ? " (EXPLAIN ANALYZE runs its statement)" : "")}; " +
                       $"this is {Article(ExplainPrefix.FirstWord(inner))} statement");
        }

        if (node is null)
        {
            throw new QueryRejectedException(
                $"only read-only queries are accepted (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW); this is {Article(ExplainPrefix.FirstWord(sql))} statement");
        }

        var walker = new Walker(database, access, catalog, functions, options.MaxQueryBlocks);
        walker.Walk(node, null, 0);
        var explainText = explain is { } e ? e.Render() : "";
        var rendered = Renderings.GetOrAdd(text, _ => RenderWithTimeCasts(connection, node));
        return new CheckedStatement
        {
            Sql = explainText + (rendered ?? text),
            FallbackSql = rendered is null ? null : explainText + text,
            Node = node,
            IsExplain = explain is not null,
            Measurements = walker.Measurements,
            References = walker.References,
            OnlyMeasurements = walker.OnlyMeasurements && !walker.Volatile && walker.Measurements.Count > 0,
        };
    }

    /// <summary>DuckDB's SQL for the statement with <see cref="TimeComparisons"/> applied; null when nothing needed it.</summary>
    private static string? RenderWithTimeCasts(DuckDbConnection connection, JsonObject node)
    {
        var copy = node.DeepClone();
        if (!TimeComparisons.Rewrite(copy))
        {
            return null;
        }

        var statement = new JsonObject
        {
            ["error"] = false,
            ["statements"] = new JsonArray(new JsonObject { ["node"] = copy, ["named_param_map"] = new JsonArray() }),
        };
        try
        {
            return QueryEngine.ScalarString(connection, "SELECT json_deserialize_sql($1::JSON)", statement.ToJsonString());
        }
        catch (DuckDbException)
        {
            return null; // DuckDB could not render it: the client's text runs as written
        }
    }

    private static string Article(string word) => word.Length == 0 ? "another" : $"a {word}";

    /// <summary>How many statements DuckDB's parser finds (parsing only, nothing is prepared); a syntax error throws.</summary>
    private static int CountStatements(DuckDbConnection connection, string sql)
    {
        var count = NativeMethods.ExtractStatements.DuckDBExtractStatements(connection.Handle, sql, out var extracted);
        using (extracted)
        {
            if (count == 0)
            {
                var error = NativeMethods.ExtractStatements.DuckDBExtractStatementsError(extracted);
                throw string.IsNullOrEmpty(error) ? new QueryRejectedException("the query is empty") : new DuckDbException(error);
            }

            return count;
        }
    }

    private static readonly TextCache<string?> Renderings = new(16 << 20, rendering => rendering?.Length ?? 0);

    /// <summary>The SELECT's query node, or null when DuckDB's parser says the text is not a SELECT.</summary>
    private static JsonObject? Parse(DuckDbConnection connection, string sql)
    {
        var json = ParseTrees.Get(connection, sql);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = MaxTreeDepth }) as JsonObject
                   ?? throw new QueryRejectedException("DuckDB could not parse the query");
        }
        catch (JsonException)
        {
            throw new QueryRejectedException("the query is nested too deeply");
        }

        if (root["error"]?.GetValue<bool>() == true)
        {
            var type = root["error_type"]?.GetValue<string>();
            var message = root["error_message"]?.GetValue<string>() ?? "the query could not be parsed";
            return type == "not implemented" ? null : throw new DuckDbException($"Parser Error: {message}");
        }

        return root["statements"] switch
        {
            JsonArray { Count: 1 } statements when statements[0]?["node"] is JsonObject node => node,
            JsonArray { Count: 0 } => throw new QueryRejectedException("the query is empty"),
            JsonArray statements => throw new QueryRejectedException($"one statement per query is accepted; this query has {statements.Count}"),
            _ => throw new QueryRejectedException("DuckDB could not parse the query"),
        };
    }

    /// <summary>The CTE names visible at a point of the tree: a chain from the innermost definition outwards.</summary>
    private sealed record CteScope(string Name, CteScope? Outer)
    {
        public static bool Contains(CteScope? scope, string name)
        {
            for (; scope is not null; scope = scope.Outer)
            {
                if (scope.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }

            return false;
        }
    }

    private sealed class Walker(string? database, QueryAccess access, Catalog catalog, FunctionPolicy functions, int maxBlocks)
    {
        private int _blocks;

        public List<(string Database, string Measurement)> Measurements { get; } = [];

        public List<(JsonObject Table, string Database, string Measurement)> References { get; } = [];

        public bool OnlyMeasurements { get; private set; } = true;

        public bool Volatile { get; private set; }

        public void Walk(JsonNode? node, CteScope? scope, int depth)
        {
            if (depth > MaxTreeDepth)
            {
                throw new QueryRejectedException("the query is nested too deeply");
            }

            switch (node)
            {
                case JsonArray array:
                    foreach (var item in array)
                    {
                        Walk(item, scope, depth + 1);
                    }

                    break;
                case JsonObject obj:
                    WalkObject(obj, scope, depth);
                    break;
            }
        }

        private void WalkObject(JsonObject obj, CteScope? scope, int depth)
        {
            var type = Text(obj["type"]);
            var kind = Text(obj["class"]);
            if (obj["cte_map"] is JsonObject || type is "BASE_TABLE" or "TABLE_FUNCTION" or "JOIN" or "SUBQUERY" or "SHOW_REF")
            {
                if (++_blocks > maxBlocks)
                {
                    throw new QueryRejectedException(
                        $"the query has more than {maxBlocks} query blocks and table references (query.max_query_blocks); " +
                        "DuckDB's planning time grows with their square");
                }
            }

            // A query node's CTEs: each sees the ones defined before it; the node's body sees them all.
            if (obj["cte_map"]?["map"] is JsonArray ctes)
            {
                foreach (var cte in ctes)
                {
                    Walk(cte?["value"], scope, depth + 1);
                    if (Text(cte?["key"]) is { } name)
                    {
                        scope = new CteScope(name, scope);
                    }
                }
            }

            if (type == "RECURSIVE_CTE_NODE" && Text(obj["cte_name"]) is { } recursive)
            {
                scope = new CteScope(recursive, scope);
            }

            switch (type)
            {
                case "BASE_TABLE":
                    Table(obj, scope);
                    break;
                case "TABLE_FUNCTION":
                    TableFunction(obj);
                    break;
                case "SHOW_REF" when obj["query"] is not JsonObject:
                    if (!access.Unrestricted)
                    {
                        throw new QueryForbiddenException(
                            "DuckDB's catalog listings are for unrestricted admin tokens; use SHOW TABLES, SHOW DATABASES or DESCRIBE <measurement>");
                    }

                    OnlyMeasurements = false;
                    break;
            }

            if (kind is "FUNCTION" || (kind is "WINDOW" && type == "WINDOW_AGGREGATE"))
            {
                Function(obj);
            }

            foreach (var (name, child) in obj)
            {
                // A table function's call node was checked against the table functions; its arguments are walked.
                var next = type == "TABLE_FUNCTION" && name == "function" ? child?["children"] : child;
                if (name != "cte_map" && next is JsonObject or JsonArray)
                {
                    Walk(next, scope, depth + 1);
                }
            }
        }

        private void Function(JsonObject obj)
        {
            var name = Text(obj["function_name"]) ?? "";
            var schema = Text(obj["schema"]) ?? "";
            var catalogName = Text(obj["catalog"]) ?? "";
            var use = schema is "" or "main" or "pg_catalog" && catalogName is "" or "system" ? functions.Scalar(name) : FunctionUse.Refused;
            switch (use)
            {
                case FunctionUse.Pure:
                    break;
                case FunctionUse.Volatile:
                    Volatile = true;
                    break;
                case FunctionUse.Unrestricted when access.Unrestricted:
                    OnlyMeasurements = false;
                    break;
                case FunctionUse.Unrestricted:
                    throw new QueryForbiddenException($"function {name}() reads the server's settings or state; it is for unrestricted admin tokens");
                default:
                    throw new QueryRejectedException($"function {Qualified(catalogName, schema, name)}() is not available in queries");
            }
        }

        private void TableFunction(JsonObject obj)
        {
            var function = obj["function"] as JsonObject;
            var name = Text(function?["function_name"]) ?? "";
            var schema = Text(function?["schema"]) ?? "";
            var catalogName = Text(function?["catalog"]) ?? "";
            var use = schema is "" or "main" && catalogName is "" or "system" ? functions.Table(name) : FunctionUse.Refused;
            switch (use)
            {
                case FunctionUse.Pure:
                    break;
                case FunctionUse.Unrestricted when access.Unrestricted:
                    OnlyMeasurements = false;
                    break;
                case FunctionUse.Unrestricted:
                    throw new QueryForbiddenException(
                        $"table function {name}() reads files or DuckDB's catalog; it is for unrestricted admin tokens");
                default:
                    throw new QueryRejectedException($"table function {Qualified(catalogName, schema, name)}() is not available in queries");
            }
        }

        /// <summary>Resolves a table name the way DuckDB's binder does, against the measurements the caller may read.</summary>
        private void Table(JsonObject table, CteScope? scope)
        {
            var catalogName = Text(table["catalog_name"]) ?? "";
            var schema = Text(table["schema_name"]) ?? "";
            var name = Text(table["table_name"]) ?? "";
            if (catalogName.Length == 0 && schema.Length == 0 && CteScope.Contains(scope, name))
            {
                return;
            }

            // An unqualified name is looked up in the search path, which is the request's database when it has measurements.
            var owner = schema.Length > 0 ? schema : database;
            var entry = catalogName is "" or "memory" && owner is not null && catalog.FindMeasurement(owner, name) is { } found ? found : null;
            if (entry is not null)
            {
                if (!access.MayRead(entry.Database))
                {
                    throw new QueryForbiddenException($"this token may not read database '{entry.Database}'");
                }

                References.Add((table, entry.Database, entry.Name));
                if (!Measurements.Contains((entry.Database, entry.Name)))
                {
                    Measurements.Add((entry.Database, entry.Name));
                }

                return;
            }

            if (access.Unrestricted)
            {
                OnlyMeasurements = false;
                return;
            }

            if (catalogName is "" or "memory" && owner is not null && catalog.HasDatabase(owner) && Names.IsValidMeasurement(name))
            {
                throw access.MayRead(owner)
                    ? new QueryRejectedException($"Catalog Error: measurement '{name}' not found in database '{owner}'")
                    : new QueryForbiddenException($"this token may not read database '{owner}'");
            }

            throw new QueryForbiddenException($"'{Qualified(catalogName, schema, name)}' is not a measurement of a database this token may read; " +
                                              "DuckDB's catalog and files are for unrestricted admin tokens");
        }

        private static string Qualified(string catalogName, string schema, string name) =>
            string.Join('.', new[] { catalogName, schema, name }.Where(p => p.Length > 0));
    }

    internal static string? Text(JsonNode? node) => node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null;
}

/// <summary>DuckDB's parse tree of a text (<c>json_serialize_sql</c>), through a bound parameter.</summary>
internal static class ParseTree
{
    public static string Serialize(DuckDbConnection connection, string sql) =>
        QueryEngine.ScalarString(connection, "SELECT json_serialize_sql($1::VARCHAR)", sql)
        ?? throw new DuckDbException("json_serialize_sql returned nothing");
}
