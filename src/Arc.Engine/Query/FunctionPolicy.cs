using System.Text.Json;
using System.Text.Json.Nodes;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Query;

/// <summary>How a function may be used in user SQL.</summary>
internal enum FunctionUse
{
    /// <summary>Not available to this caller (or to anyone).</summary>
    Refused,

    /// <summary>Reads only its arguments and the query's own rows: allowed, and the result may be cached.</summary>
    Pure,

    /// <summary>Allowed, but its result changes between runs (<c>random()</c>): the result is not cached.</summary>
    Volatile,

    /// <summary>Reads files or DuckDB's catalog: only for an unrestricted caller (an admin token without database scope).</summary>
    Unrestricted,
}

/// <summary>
/// The allowlist of functions user SQL may call, decided from DuckDB's own catalog (<c>duckdb_functions()</c>) when the
/// engine starts, never from keywords in the text:
/// <list type="bullet">
/// <item>scalar and aggregate functions whose stability DuckDB declares <c>CONSISTENT</c> (a pure function of their
/// arguments) or <c>CONSISTENT_WITHIN_QUERY</c> (<c>now()</c>, <c>current_date</c>); the two that read the connection's
/// or the server's state (<c>getvariable</c>, <c>current_setting</c>: settings hold paths) only for unrestricted callers;</item>
/// <item>of DuckDB's <c>VOLATILE</c> functions only those that produce values and touch nothing (<c>random</c>, the uuid
/// family, <c>error</c>); <c>setseed</c> (changes the pooled connection's generator), <c>nextval</c>, <c>write_log</c>,
/// <c>sleep_ms</c> and the <c>current_query</c> family are refused;</item>
/// <item>macros whose body, parsed by DuckDB, reads no table and calls only allowed functions (so <c>pg_get_viewdef</c>,
/// a subquery over <c>duckdb_views()</c>, is refused);</item>
/// <item>table functions from a fixed list: the ones that generate rows for everyone; the file readers and catalog
/// functions only for unrestricted callers; nothing that executes SQL (<c>query</c>, <c>json_execute_serialized_sql</c>),
/// changes server state (<c>enable_logging</c>, <c>checkpoint</c>, profiling), reads other sessions
/// (<c>duckdb_logs</c>, <c>duckdb_variables</c>, <c>duckdb_prepared_statements</c>, secrets) or takes raw pointers
/// (<c>arrow_scan</c>).</item>
/// </list>
/// </summary>
internal sealed class FunctionPolicy
{
    /// <summary>Table functions that generate rows from their arguments alone.</summary>
    private static readonly string[] PureTableFunctions =
    [
        "range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree", "pg_timezone_names",
        "icu_calendar_names", "duckdb_keywords", "duckdb_types",
    ];

    /// <summary>Table functions that read files under the storage root or DuckDB's catalog (all databases, view SQL, paths).</summary>
    private static readonly string[] UnrestrictedTableFunctions =
    [
        "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata",
        "parquet_full_metadata", "parquet_bloom_probe", "read_csv", "read_csv_auto", "sniff_csv", "read_json", "read_json_auto",
        "read_json_objects", "read_json_objects_auto", "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_text",
        "read_blob", "glob", "duckdb_tables", "duckdb_views", "duckdb_columns", "duckdb_schemas", "duckdb_databases",
        "duckdb_constraints", "duckdb_indexes", "duckdb_dependencies", "duckdb_functions", "duckdb_settings",
        "duckdb_extensions", "duckdb_optimizers", "duckdb_sequences", "duckdb_memory", "duckdb_temporary_files",
        "pragma_table_info", "pragma_show", "pragma_database_size", "pragma_version", "pragma_platform", "pragma_collations",
        "pragma_storage_info", "pragma_metadata_info", "pragma_user_agent", "summary", "histogram", "histogram_values",
    ];

    /// <summary>DuckDB VOLATILE functions that produce a value and change nothing.</summary>
    private static readonly string[] HarmlessVolatile = ["random", "uuid", "uuidv4", "uuidv7", "gen_random_uuid", "error"];

    /// <summary>CONSISTENT functions that nevertheless read state outside the query: connection variables, settings.</summary>
    private static readonly string[] StateReaders = ["getvariable", "current_setting"];

    /// <summary>Forms the parser writes as function calls that DuckDB's binder handles itself (not catalog entries).</summary>
    private static readonly string[] BinderForms = ["unnest", "unlist"];

    private readonly Dictionary<string, FunctionUse> _scalars;
    private readonly Dictionary<string, FunctionUse> _tables;

    private FunctionPolicy(Dictionary<string, FunctionUse> scalars, Dictionary<string, FunctionUse> tables)
    {
        _scalars = scalars;
        _tables = tables;
    }

    /// <summary>How a scalar, aggregate or window function (or macro) named <paramref name="name"/> may be used.</summary>
    public FunctionUse Scalar(string name) => _scalars.GetValueOrDefault(name, FunctionUse.Refused);

    /// <summary>How a table function named <paramref name="name"/> may be used.</summary>
    public FunctionUse Table(string name) => _tables.GetValueOrDefault(name, FunctionUse.Refused);

    /// <summary>Reads DuckDB's function catalog on <paramref name="connection"/> (at startup, before any user SQL).</summary>
    public static FunctionPolicy Load(DuckDbConnection connection)
    {
        var scalars = new Dictionary<string, FunctionUse>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in BinderForms)
        {
            scalars[name] = FunctionUse.Pure;
        }

        var macros = new List<(string Name, string? Tree)>();
        foreach (var row in connection.QueryStrings(
                     "SELECT function_name, function_type, stability, " +
                     "CASE WHEN function_type = 'macro' THEN json_serialize_sql('SELECT ' || macro_definition)::VARCHAR END " +
                     "FROM duckdb_functions() WHERE schema_name IN ('main', 'pg_catalog') AND function_type IN ('scalar', 'aggregate', 'macro')"))
        {
            var (name, type, stability) = (row[0]!, row[1]!, row[2]);
            if (type == "macro")
            {
                macros.Add((name, row[3]));
                continue;
            }

            var use = stability switch
            {
                "CONSISTENT" when StateReaders.Contains(name, StringComparer.OrdinalIgnoreCase) => FunctionUse.Unrestricted,
                "CONSISTENT" or "CONSISTENT_WITHIN_QUERY" => FunctionUse.Pure,
                "VOLATILE" when HarmlessVolatile.Contains(name, StringComparer.OrdinalIgnoreCase) => FunctionUse.Volatile,
                _ => FunctionUse.Refused,
            };

            // Overloads share a name; the name is allowed only if every overload is.
            scalars[name] = scalars.TryGetValue(name, out var seen) ? Weakest(seen, use) : use;
        }

        // A macro is allowed when its body reads no table and calls only allowed functions, other macros included (resolved
        // until nothing changes; a cycle or an unknown call is refused). Overloads of a name share one verdict.
        var pending = new Dictionary<string, List<string>?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, tree) in macros)
        {
            var calls = MacroCalls(tree);
            pending[name] = pending.TryGetValue(name, out var seen) ? (seen is null || calls is null ? null : [.. seen, .. calls]) : calls;
        }

        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var (name, calls) in pending.ToList())
            {
                if (calls is not null && calls.Any(c => !scalars.ContainsKey(c) && pending.ContainsKey(c)))
                {
                    continue; // waits for a macro it calls
                }

                scalars[name] = calls is null || !calls.All(scalars.ContainsKey)
                    ? FunctionUse.Refused
                    : calls.Aggregate(FunctionUse.Pure, (use, c) => Weakest(use, scalars[c]));
                pending.Remove(name);
                changed = true;
            }
        }

        foreach (var name in pending.Keys)
        {
            scalars[name] = FunctionUse.Refused;
        }

        var tables = new Dictionary<string, FunctionUse>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in PureTableFunctions)
        {
            tables[name] = FunctionUse.Pure;
        }

        foreach (var name in UnrestrictedTableFunctions)
        {
            tables[name] = FunctionUse.Unrestricted;
        }

        return new FunctionPolicy(scalars, tables);
    }

    private static FunctionUse Weakest(FunctionUse a, FunctionUse b) =>
        a == FunctionUse.Refused || b == FunctionUse.Refused ? FunctionUse.Refused
        : a == FunctionUse.Unrestricted || b == FunctionUse.Unrestricted ? FunctionUse.Unrestricted
        : a == FunctionUse.Volatile || b == FunctionUse.Volatile ? FunctionUse.Volatile
        : FunctionUse.Pure;

    /// <summary>The functions a macro body calls; null when it reads a table (a subquery or table reference) or did not parse.</summary>
    private static List<string>? MacroCalls(string? tree)
    {
        if (tree is null || JsonNode.Parse(tree) is not JsonObject root || root["error"]?.GetValue<bool>() != false
            || root["statements"]?[0]?["node"]?["select_list"] is not JsonArray body)
        {
            return null;
        }

        var calls = new List<string>();
        return Collect(body, calls) ? calls : null;

        static bool Collect(JsonNode? node, List<string> calls)
        {
            switch (node)
            {
                case JsonObject obj:
                    var kind = obj["class"]?.GetValueKind() == JsonValueKind.String ? obj["class"]!.GetValue<string>() : null;
                    var type = obj["type"]?.GetValueKind() == JsonValueKind.String ? obj["type"]!.GetValue<string>() : null;
                    if (kind == "SUBQUERY" || type is "BASE_TABLE" or "TABLE_FUNCTION")
                    {
                        return false;
                    }

                    if (kind is "FUNCTION" or "WINDOW" && obj["function_name"]?.GetValue<string>() is { } name)
                    {
                        calls.Add(name);
                    }

                    foreach (var (_, child) in obj)
                    {
                        if (!Collect(child, calls))
                        {
                            return false;
                        }
                    }

                    return true;
                case JsonArray array:
                    foreach (var child in array)
                    {
                        if (!Collect(child, calls))
                        {
                            return false;
                        }
                    }

                    return true;
                default:
                    return true;
            }
        }
    }
}
