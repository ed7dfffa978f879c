using System.Text.Json.Nodes;

namespace Arc.Engine.Query;

/// <summary>
/// Makes the usual time filters bind against <c>time</c>, which is <c>TIMESTAMP_NS</c> (nanoseconds kept). DuckDB has no
/// common type for <c>TIMESTAMP_NS</c> and <c>TIMESTAMP WITH TIME ZONE</c>, so <c>time &gt; now() - INTERVAL 1 HOUR</c>,
/// <c>to_timestamp(…)</c>, <c>current_timestamp</c> and TIMESTAMPTZ literals fail with "Cannot compare values of type
/// TIMESTAMP_NS and type TIMESTAMP WITH TIME ZONE" (a cast registered through the C API with an implicit cost does not
/// change that: comparisons take their type from DuckDB's built-in rules, not the cast registry). In DuckDB's parse tree,
/// every comparison, <c>BETWEEN</c> and <c>IN</c> list of a <c>time</c> column with another expression gets that expression
/// wrapped in <c>CAST(… AS TIMESTAMP_NS)</c>: for the types that already compared (strings such as Grafana's RFC 3339
/// bounds, <c>TIMESTAMP</c>, <c>DATE</c>, <c>TIMESTAMP_NS</c>) this is the cast DuckDB applied implicitly; for
/// <c>TIMESTAMPTZ</c> it is the instant in UTC (the server runs with <c>TimeZone = 'UTC'</c>, locked), which is exactly
/// what comparing against <c>time</c> as a TIMESTAMPTZ would answer, nanoseconds included. The SQL that runs is DuckDB's
/// rendering of the changed tree (<c>json_deserialize_sql</c>); when that does not prepare (a <c>time</c> column that is
/// not a measurement's, say a CTE's TIMESTAMPTZ), the client's text runs unchanged.
/// </summary>
internal static class TimeComparisons
{
    /// <summary>Wraps the other side of each comparison with a <c>time</c> column in place; true when anything changed.</summary>
    public static bool Rewrite(JsonNode? node)
    {
        var changed = false;
        switch (node)
        {
            case JsonArray array:
                foreach (var item in array)
                {
                    changed |= Rewrite(item);
                }

                break;
            case JsonObject obj:
                switch (StatementGuard.Text(obj["class"]))
                {
                    case "COMPARISON":
                        changed |= WrapPair(obj, "left", "right");
                        break;
                    case "BETWEEN" when IsTime(obj["input"]):
                        changed |= Wrap(obj, "lower") | Wrap(obj, "upper");
                        break;
                    case "OPERATOR" when StatementGuard.Text(obj["type"]) is "COMPARE_IN" or "COMPARE_NOT_IN"
                                         && obj["children"] is JsonArray { Count: > 1 } children && IsTime(children[0]):
                        for (var i = 1; i < children.Count; i++)
                        {
                            changed |= WrapAt(children, i);
                        }

                        break;
                }

                foreach (var (_, child) in obj.ToList())
                {
                    changed |= Rewrite(child);
                }

                break;
        }

        return changed;
    }

    private static bool WrapPair(JsonObject comparison, string a, string b) =>
        IsTime(comparison[a]) && !IsTime(comparison[b]) ? Wrap(comparison, b)
        : IsTime(comparison[b]) && !IsTime(comparison[a]) && Wrap(comparison, a);

    private static bool Wrap(JsonObject parent, string property)
    {
        if (parent[property] is not JsonObject expression || NeedsNoCast(expression))
        {
            return false;
        }

        parent[property] = null; // detaches the expression, which the cast then takes
        parent[property] = Cast(expression);
        return true;
    }

    private static bool WrapAt(JsonArray parent, int index)
    {
        if (parent[index] is not JsonObject expression || NeedsNoCast(expression))
        {
            return false;
        }

        parent[index] = null;
        parent[index] = Cast(expression);
        return true;
    }

    private static JsonObject Cast(JsonObject expression)
    {
        var location = expression["query_location"]?.DeepClone();
        return new JsonObject
        {
            ["class"] = "CAST",
            ["type"] = "OPERATOR_CAST",
            ["alias"] = "",
            ["query_location"] = location,
            ["child"] = expression,
            ["cast_type"] = new JsonObject { ["id"] = "TIMESTAMP_NS", ["type_info"] = null },
            ["try_cast"] = false,
        };
    }

    /// <summary>
    /// Already a TIMESTAMP_NS cast, or a plain constant (an RFC 3339 string as Grafana sends, a number): DuckDB casts those
    /// to the column's type itself, so the text can run as written.
    /// </summary>
    private static bool NeedsNoCast(JsonObject expression) =>
        StatementGuard.Text(expression["class"]) == "CONSTANT"
        || (StatementGuard.Text(expression["class"]) == "CAST" && StatementGuard.Text(expression["cast_type"]?["id"]) == "TIMESTAMP_NS");

    /// <summary>A column reference named <c>time</c>, qualified or not.</summary>
    internal static bool IsTime(JsonNode? node) =>
        StatementGuard.Text(node?["class"]) == "COLUMN_REF" && node!["column_names"] is JsonArray { Count: > 0 } parts
        && string.Equals(StatementGuard.Text(parts[^1]), "time", StringComparison.OrdinalIgnoreCase);
}
