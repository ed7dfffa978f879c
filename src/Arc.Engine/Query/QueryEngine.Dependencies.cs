using System.Text.Json;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Query;

public sealed partial class QueryEngine
{
    /// <summary>
    /// Functions whose result changes between two runs over the same data: a query calling one is not cached. (Time
    /// functions such as <c>now()</c> are allowed: their results are cached for the TTL, as in Arc.)
    /// </summary>
    private static readonly HashSet<string> VolatileFunctions = new(StringComparer.OrdinalIgnoreCase)
    {
        "random", "setseed", "uuid", "gen_random_uuid", "uuidv4", "uuidv7", "nextval", "currval",
    };

    /// <summary>Table functions that read nothing but their arguments.</summary>
    private static readonly HashSet<string> PureTableFunctions = new(StringComparer.OrdinalIgnoreCase)
    {
        "range", "generate_series", "unnest",
    };

    /// <summary>The data versions of the engine's measurements (the query result cache subscribes to their changes).</summary>
    public DataVersions Versions => _catalog.Versions;

    /// <summary>
    /// The measurements <paramref name="sql"/> reads, with their current versions, from DuckDB's parse tree
    /// (<c>json_serialize_sql</c>); null when its result may not be cached: it is not a plain SELECT, names something other
    /// than a measurement (a catalog view, a file, a table function that reads data such as <c>read_parquet</c> or
    /// <c>arc_buffer</c>), calls a volatile function, or reads no measurement at all. Unqualified names resolve in the
    /// connection's search path (the request's database). Must run before the statement binds its data.
    /// </summary>
    private QueryDependencies? CaptureDependencies(DuckDbConnection connection, string sql, string? database)
    {
        string? json;
        try
        {
            json = ScalarString(connection, "SELECT json_serialize_sql($1::VARCHAR)", sql);
        }
        catch (DuckDbException)
        {
            return null;
        }

        if (json is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.True)
        {
            return null;
        }

        var ctes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var tables = new List<(string Catalog, string Schema, string Table)>();
        if (!Walk(root, tables, ctes))
        {
            return null;
        }

        var searchDatabase = connection.SearchPath == "main" ? null : database;
        var measurements = new List<(string, string, long)>();
        foreach (var (catalogName, schema, table) in tables)
        {
            if (catalogName.Length == 0 && schema.Length == 0 && ctes.Contains(table))
            {
                continue;
            }

            var db = schema.Length > 0 ? schema : searchDatabase;
            var entry = (catalogName.Length == 0 || catalogName == "memory") && db is not null
                ? _catalog.Measurements(db).FirstOrDefault(m => m.Name.Equals(table, StringComparison.OrdinalIgnoreCase))
                : null;
            if (entry is null)
            {
                return null;
            }

            if (!measurements.Exists(m => m.Item1 == entry.Database && m.Item2 == entry.Name))
            {
                measurements.Add((entry.Database, entry.Name, _catalog.Versions.Current(entry.Database, entry.Name)));
            }
        }

        return measurements.Count == 0 ? null : new QueryDependencies(measurements);

        // False when the tree holds something that makes the result uncacheable.
        static bool Walk(JsonElement element, List<(string, string, string)> tables, HashSet<string> ctes)
        {
            if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray())
                {
                    if (!Walk(item, tables, ctes))
                    {
                        return false;
                    }
                }

                return true;
            }

            if (element.ValueKind != JsonValueKind.Object)
            {
                return true;
            }

            if (element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String)
            {
                switch (type.GetString())
                {
                    case "BASE_TABLE":
                        tables.Add((Text(element, "catalog_name"), Text(element, "schema_name"), Text(element, "table_name")));
                        break;
                    case "TABLE_FUNCTION":
                        if (!element.TryGetProperty("function", out var function) || !PureTableFunctions.Contains(Text(function, "function_name")))
                        {
                            return false;
                        }

                        break;
                    case "FUNCTION":
                        if (VolatileFunctions.Contains(Text(element, "function_name")))
                        {
                            return false;
                        }

                        break;
                }
            }

            if (element.TryGetProperty("cte_map", out var cteMap) && cteMap.TryGetProperty("map", out var map) && map.ValueKind == JsonValueKind.Array)
            {
                foreach (var cte in map.EnumerateArray())
                {
                    if (cte.TryGetProperty("key", out var key) && key.GetString() is { } name)
                    {
                        ctes.Add(name);
                    }
                }
            }

            foreach (var property in element.EnumerateObject())
            {
                if (!Walk(property.Value, tables, ctes))
                {
                    return false;
                }
            }

            return true;
        }

        static string Text(JsonElement element, string property) =>
            element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";
    }
}
