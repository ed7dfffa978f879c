using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.Query;

/// <summary>One measurement a query reads and the hours of it that it needs (all hours when unknown).</summary>
internal readonly record struct MeasurementRange(string Database, string Measurement, long FromHour, long ToHour);

/// <summary>
/// Which measurements a statement reads and which hours of them, from DuckDB's parse tree (<c>json_serialize_sql</c>), so
/// object-storage files can be fetched before DuckDB binds. Time bounds are taken only where they are certain: a query
/// over exactly one measurement, from the top-level AND of its WHERE clause, comparing <c>time</c> with an expression
/// DuckDB evaluates to a constant (literals, casts, <c>now() - INTERVAL …</c>). Anything else means every hour, which is
/// always correct, only slower the first time.
/// </summary>
internal static class QueryFiles
{
    private const string EmptyFrom = """{"type":"EMPTY","alias":"","sample":null,"query_location":18446744073709551615}""";

    public static List<MeasurementRange> Plan(DuckDbConnection connection, CheckedStatement statement)
    {
        if (statement.Measurements.Count != 1)
        {
            return statement.Measurements.Select(t => new MeasurementRange(t.Database, t.Measurement, long.MinValue, long.MaxValue)).ToList();
        }

        var (db, measurement) = statement.Measurements[0];
        var (low, high) = (long.MinValue, long.MaxValue);
        var node = statement.Node;
        if (node["type"]?.GetValue<string>() == "SELECT_NODE"
            && node["from_table"] is JsonObject from && from["type"]?.GetValue<string>() == "BASE_TABLE" && node["where_clause"] is JsonObject where)
        {
            var names = new[] { from["alias"]?.GetValue<string>() ?? "", from["table_name"]?.GetValue<string>() ?? "" };
            foreach (var conjunct in Conjuncts(where))
            {
                foreach (var (isLower, strict, expression) in TimeBounds(conjunct, names))
                {
                    if (Evaluate(connection, expression) is not { } value)
                    {
                        continue;
                    }

                    if (isLower)
                    {
                        low = Math.Max(low, strict && value < long.MaxValue ? value + 1 : value);
                    }
                    else
                    {
                        high = Math.Min(high, strict && value > long.MinValue ? value - 1 : value);
                    }
                }
            }
        }

        return [new MeasurementRange(db, measurement,
            low == long.MinValue ? long.MinValue : LocalStore.HourOf(low),
            high == long.MaxValue ? long.MaxValue : LocalStore.HourOf(high))];
    }

    private static IEnumerable<JsonObject> Conjuncts(JsonObject expression)
    {
        if (expression["type"]?.GetValue<string>() == "CONJUNCTION_AND" && expression["children"] is JsonArray children)
        {
            foreach (var child in children.OfType<JsonObject>())
            {
                foreach (var conjunct in Conjuncts(child))
                {
                    yield return conjunct;
                }
            }
        }
        else
        {
            yield return expression;
        }
    }

    /// <summary>(is it a lower bound, is it strict, the bounding expression) for comparisons of <c>time</c> in one conjunct.</summary>
    private static IEnumerable<(bool Lower, bool Strict, JsonNode Expression)> TimeBounds(JsonObject conjunct, string[] names)
    {
        var type = conjunct["type"]?.GetValue<string>();
        if (type == "COMPARE_BETWEEN" && IsTime(conjunct["input"], names) && conjunct["lower"] is { } low && conjunct["upper"] is { } high)
        {
            yield return (true, false, low);
            yield return (false, false, high);
            yield break;
        }

        if (conjunct["left"] is not { } left || conjunct["right"] is not { } right)
        {
            yield break;
        }

        var (timeLeft, other) = IsTime(left, names) ? (true, right) : IsTime(right, names) ? (false, left) : (false, null!);
        if (other is null)
        {
            yield break;
        }

        var strict = type is "COMPARE_GREATERTHAN" or "COMPARE_LESSTHAN";
        switch (type)
        {
            case "COMPARE_EQUAL":
                yield return (true, false, other);
                yield return (false, false, other);
                break;
            case "COMPARE_GREATERTHAN" or "COMPARE_GREATERTHANOREQUALTO":
                yield return (timeLeft, strict, other);
                break;
            case "COMPARE_LESSTHAN" or "COMPARE_LESSTHANOREQUALTO":
                yield return (!timeLeft, strict, other);
                break;
        }
    }

    private static bool IsTime(JsonNode? node, string[] names) =>
        node?["type"]?.GetValue<string>() == "COLUMN_REF" && node["column_names"] is JsonArray parts
        && parts.Count is 1 or 2 && string.Equals(parts[^1]?.GetValue<string>(), "time", StringComparison.OrdinalIgnoreCase)
        && (parts.Count == 1 || names.Contains(parts[0]?.GetValue<string>() ?? "", StringComparer.OrdinalIgnoreCase));

    /// <summary>The expression as Unix nanoseconds, evaluated by DuckDB; null when it is not a constant timestamp.</summary>
    private static long? Evaluate(DuckDbConnection connection, JsonNode expression)
    {
        var statement = JsonNode.Parse($$"""
            {"error":false,"statements":[{"node":{"type":"SELECT_NODE","modifiers":[],"cte_map":{"map":[]},"select_list":[],
            "from_table":{{EmptyFrom}},"where_clause":null,"group_expressions":[],"group_sets":[],"aggregate_handling":"STANDARD_HANDLING",
            "having":null,"sample":null,"qualify":null},"named_param_map":[]}]}
            """)!;
        statement["statements"]![0]!["node"]!["select_list"]!.AsArray().Add(expression.DeepClone());
        try
        {
            var select = connection.QueryStrings($"SELECT json_deserialize_sql({Names.QuoteLiteral(statement.ToJsonString())})")[0][0];
            if (select is null || !select.StartsWith("SELECT ", StringComparison.Ordinal))
            {
                return null;
            }

            var value = connection.QueryStrings($"SELECT epoch_ns(CAST(({select["SELECT ".Length..]}) AS TIMESTAMP_NS))")[0][0];
            return value is null ? null : long.Parse(value, CultureInfo.InvariantCulture);
        }
        catch (DuckDbException)
        {
            return null; // refers to columns, or is not a time: no bound from it
        }
    }
}
