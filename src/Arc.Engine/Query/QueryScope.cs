using System.Text.Json;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.Query;

/// <summary>
/// Keeps a database-scoped token inside its databases, using DuckDB's own parse tree (<c>json_serialize_sql</c>), not
/// the SQL text: every table the statement names — in joins, CTEs, subqueries, set operations, DESCRIBE/SHOW — must be a
/// measurement of an allowed database (an unqualified name means the request's database) or a CTE of the statement, and
/// table functions (<c>read_parquet</c>, <c>read_csv</c>, <c>glob</c>, ...) and file paths used as tables are refused,
/// since they could reach other databases' files.
/// </summary>
internal static class QueryScope
{
    public static void Check(DuckDbConnection connection, string sql, string? database, IReadOnlySet<string> allowed)
    {
        if (database is not null && !allowed.Contains(database))
        {
            throw new QueryForbiddenException($"this token may not read database '{database}'");
        }

        var rows = connection.QueryStrings($"SELECT json_serialize_sql({Names.QuoteLiteral(sql)})");
        using var document = JsonDocument.Parse(rows[0][0] ?? "{}");
        var root = document.RootElement;
        if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.True)
        {
            throw new QueryForbiddenException("a database-scoped token may only run SELECT statements over its databases");
        }

        var ctes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        Collect(root, ctes);
        Walk(root, database, allowed, ctes);
    }

    private static void Collect(JsonElement element, HashSet<string> ctes)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                if (element.TryGetProperty("cte_map", out var map) && map.TryGetProperty("map", out var entries))
                {
                    foreach (var entry in entries.EnumerateArray())
                    {
                        if (entry.TryGetProperty("key", out var key) && key.GetString() is { } name)
                        {
                            ctes.Add(name);
                        }
                    }
                }

                foreach (var property in element.EnumerateObject())
                {
                    Collect(property.Value, ctes);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, ctes);
                }

                break;
        }
    }

    private static void Walk(JsonElement element, string? database, IReadOnlySet<string> allowed, HashSet<string> ctes)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                if (element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String)
                {
                    switch (type.GetString())
                    {
                        case "BASE_TABLE":
                            CheckTable(element, database, allowed, ctes);
                            break;
                        case "TABLE_FUNCTION":
                            throw new QueryForbiddenException("table functions are not available to a database-scoped token");
                    }
                }

                foreach (var property in element.EnumerateObject())
                {
                    Walk(property.Value, database, allowed, ctes);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Walk(item, database, allowed, ctes);
                }

                break;
        }
    }

    private static void CheckTable(JsonElement table, string? database, IReadOnlySet<string> allowed, HashSet<string> ctes)
    {
        var catalog = table.GetProperty("catalog_name").GetString() ?? "";
        var schema = table.GetProperty("schema_name").GetString() ?? "";
        var name = table.GetProperty("table_name").GetString() ?? "";
        if (catalog.Length == 0 && schema.Length == 0 && ctes.Contains(name))
        {
            return;
        }

        // A qualified name a.b may mean catalog a or schema a; both must name an allowed database.
        var owner = schema.Length > 0 ? schema : database;
        if ((catalog.Length > 0 && catalog != "memory") || owner is null || !allowed.Contains(owner) || !Names.IsValidMeasurement(name))
        {
            throw new QueryForbiddenException($"this token may not read '{Qualified(catalog, schema, name)}'");
        }
    }

    private static string Qualified(string catalog, string schema, string name) =>
        string.Join('.', new[] { catalog, schema, name }.Where(p => p.Length > 0));
}
