using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.Query;

/// <summary>A column of a measurement that a statement's filter requires to equal one of <paramref name="Values"/>.</summary>
internal sealed record ColumnMatch(string Column, string[] Values);

/// <summary>One measurement a query reads and the time range of it that it needs (Unix ns, inclusive; all when unknown).</summary>
internal readonly record struct MeasurementRange(string Database, string Measurement, long Low, long High)
{
    public long FromHour => Low == long.MinValue ? long.MinValue : LocalStore.HourOf(Low);

    public long ToHour => High == long.MaxValue ? long.MaxValue : LocalStore.HourOf(High);
}

/// <summary>
/// Which measurements a statement reads and which time range of each, from DuckDB's parse tree, so a query lists only the
/// files it needs (<see cref="FileListFunction"/>) and object storage fetches only those. A range is taken only where it
/// is certain: a measurement named exactly once in the statement, as the FROM of the top-level SELECT (not through a CTE),
/// bounded by the top-level AND of that SELECT's WHERE, comparing <c>time</c> with an expression DuckDB evaluates to a
/// constant (literals, casts, <c>now() - INTERVAL …</c>; no <c>VOLATILE</c> function such as <c>random()</c>, which the
/// statement evaluates anew for each row). Anything else means all of it, which is always correct. The same conjuncts give
/// the string values the statement requires of the measurement's other columns (<see cref="QueryFilePlan.Matches"/>),
/// which the buffer scan uses to skip rows.
/// </summary>
internal static partial class QueryFiles
{
    /// <summary>The longest <c>IN</c> list the buffer scan checks itself (<see cref="QueryFilePlan.Matches"/>).</summary>
    private const int MaxMatchValues = 64;

    private const string EmptyFrom = """{"type":"EMPTY","alias":"","sample":null,"query_location":18446744073709551615}""";

    public static QueryFilePlan Plan(DuckDbConnection connection, CheckedStatement statement, FunctionPolicy functions)
    {
        var ranges = statement.Measurements.Select(m => new MeasurementRange(m.Database, m.Measurement, long.MinValue, long.MaxValue)).ToList();
        var node = statement.Node;
        if (node["from_table"] is not JsonObject from || statement.References.Count(r => r.Table == from) != 1)
        {
            return new QueryFilePlan(ranges);
        }

        var (_, db, measurement) = statement.References.First(r => r.Table == from);
        if (statement.References.Count(r => MeasurementNames.Comparer.Equals((r.Database, r.Measurement), (db, measurement))) != 1)
        {
            return new QueryFilePlan(ranges); // named again elsewhere (a subquery, a join): the filter does not bound that reference
        }

        if (node["type"]?.GetValue<string>() != "SELECT_NODE" || node["where_clause"] is not JsonObject where)
        {
            return new QueryFilePlan(ranges);
        }

        var names = new[] { from["alias"]?.GetValue<string>() ?? "", from["table_name"]?.GetValue<string>() ?? "" };
        var conjuncts = Conjuncts(where).ToList();
        var bounds = conjuncts.SelectMany(c => TimeBounds(c, names)).ToList();
        var values = Evaluate(connection, statement.Sql, bounds.Select(b => b.Expression).ToList(), functions, out var evaluated);
        var index = ranges.FindIndex(r => MeasurementNames.Comparer.Equals((r.Database, r.Measurement), (db, measurement)));
        return new QueryFilePlan(ranges, index, bounds.Select(b => (b.Lower, b.Strict)).ToList(), values, evaluated)
        {
            Matches = conjuncts.Select(c => Match(c, names)).OfType<ColumnMatch>().ToList(),
        };
    }

    /// <summary>
    /// A conjunct <c>column = 'text'</c> (either way round) or <c>column IN ('text', …)</c> on a column of the measurement
    /// other than <c>time</c>, with string literals only; null for anything else.
    /// </summary>
    private static ColumnMatch? Match(JsonObject conjunct, string[] names)
    {
        var type = conjunct["type"]?.GetValue<string>();
        if (type == "COMPARE_EQUAL" && conjunct["left"] is { } left && conjunct["right"] is { } right)
        {
            var (column, value) = Column(left, names) is { } l ? (l, right) : Column(right, names) is { } r ? (r, left) : (null, null);
            return column is not null && Text(value) is { } text ? new ColumnMatch(column, [text]) : null;
        }

        // A list is compared value by value for each buffered row: a long one is left to DuckDB, which hashes it.
        if (type == "COMPARE_IN" && conjunct["children"] is JsonArray { Count: >= 2 and <= MaxMatchValues + 1 } children
            && Column(children[0], names) is { } input)
        {
            var texts = children.Skip(1).Select(Text).ToList();
            return texts.TrueForAll(t => t is not null) ? new ColumnMatch(input, texts.Select(t => t!).ToArray()) : null;
        }

        return null;

        static string? Column(JsonNode? node, string[] names) =>
            ColumnOf(node, names) is { } name && !name.Equals("time", StringComparison.OrdinalIgnoreCase) ? name : null;

        static string? Text(JsonNode? node) =>
            node?["class"]?.GetValue<string>() == "CONSTANT" && node["value"] is JsonObject value
            && StatementGuard.Text(value["type"]?["id"]) == "VARCHAR" && value["is_null"]?.GetValue<bool>() == false
                ? StatementGuard.Text(value["value"])
                : null;
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
        string.Equals(ColumnOf(node, names), "time", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The column <paramref name="node"/> names when it is a reference to a column of the table called
    /// <paramref name="names"/> (unqualified, or qualified by one of them); null otherwise.
    /// </summary>
    private static string? ColumnOf(JsonNode? node, string[] names) =>
        node?["type"]?.GetValue<string>() == "COLUMN_REF" && node["column_names"] is JsonArray { Count: 1 or 2 } parts
        && (parts.Count == 1 || names.Contains(parts[0]?.GetValue<string>() ?? "", StringComparer.OrdinalIgnoreCase))
            ? parts[^1]?.GetValue<string>()
            : null;

    /// <summary>
    /// The SELECT that evaluates a statement's bound expressions as Unix nanoseconds, by statement text: the rendering is
    /// the same for every run of the text, only the values (<c>now()</c>) change.
    /// </summary>
    private static readonly TextCache<string?> BoundQueries = new(16 << 20, query => query?.Length ?? 0);

    /// <summary>
    /// The expressions as Unix nanoseconds, evaluated by DuckDB in one query (their SQL rendered once per statement text);
    /// null for one that is not a constant timestamp (it names a column, or is no time): no bound from it.
    /// <paramref name="evaluated"/> is the queries that gave values and the expressions each gave, to run again
    /// (<see cref="QueryFilePlan.Reevaluate"/>); empty when every bound was a literal read here.
    /// </summary>
    private static long?[] Evaluate(DuckDbConnection connection, string text, List<JsonNode> expressions, FunctionPolicy functions,
        out List<(string Sql, int[] Indices)> evaluated)
    {
        evaluated = [];
        var values = new long?[expressions.Count];
        for (var i = 0; i < expressions.Count; i++)
        {
            values[i] = LiteralInstant(expressions[i]);
        }

        var constant = Enumerable.Range(0, expressions.Count).Where(i => values[i] is null && IsConstant(expressions[i], functions)).ToList();
        if (constant.Count == 0)
        {
            return values;
        }

        var sql = BoundQueries.GetOrAdd(text, _ => Render(connection, constant.Select(i => expressions[i])));
        if (sql is null)
        {
            return values;
        }

        try
        {
            Run(connection, sql, [.. constant], values);
            evaluated.Add((sql, [.. constant]));
        }
        catch (DuckDbException)
        {
            // One of them is no time (say an integer): each alone, so the others still bound the query.
            foreach (var i in constant)
            {
                if (Render(connection, [expressions[i]]) is { } single)
                {
                    try
                    {
                        Run(connection, single, [i], values);
                        evaluated.Add((single, [i]));
                    }
                    catch (DuckDbException)
                    {
                        // no time: no bound from it
                    }
                }
            }
        }

        return values;
    }

    /// <summary>Runs a bound query: its row's values go to <paramref name="values"/> at <paramref name="indices"/>.</summary>
    internal static void Run(DuckDbConnection connection, string sql, int[] indices, long?[] values)
    {
        var row = connection.QueryStrings(sql)[0];
        for (var i = 0; i < indices.Length; i++)
        {
            values[indices[i]] = row[i] is { } value ? long.Parse(value, CultureInfo.InvariantCulture) : null;
        }
    }

    /// <summary><c>SELECT epoch_ns(CAST((e1) AS TIMESTAMP_NS)), …</c> as DuckDB renders it; null if it cannot.</summary>
    private static string? Render(DuckDbConnection connection, IEnumerable<JsonNode> expressions)
    {
        var statement = JsonNode.Parse($$"""
            {"error":false,"statements":[{"node":{"type":"SELECT_NODE","modifiers":[],"cte_map":{"map":[]},"select_list":[],
            "from_table":{{EmptyFrom}},"where_clause":null,"group_expressions":[],"group_sets":[],"aggregate_handling":"STANDARD_HANDLING",
            "having":null,"sample":null,"qualify":null},"named_param_map":[]}]}
            """)!;
        var list = statement["statements"]![0]!["node"]!["select_list"]!.AsArray();
        foreach (var expression in expressions)
        {
            list.Add((JsonNode)new JsonObject
            {
                ["class"] = "FUNCTION",
                ["type"] = "FUNCTION",
                ["alias"] = "",
                ["query_location"] = 18446744073709551615UL,
                ["function_name"] = "epoch_ns",
                ["schema"] = "",
                ["catalog"] = "",
                ["children"] = new JsonArray(new JsonObject
                {
                    ["class"] = "CAST",
                    ["type"] = "OPERATOR_CAST",
                    ["alias"] = "",
                    ["query_location"] = 18446744073709551615UL,
                    ["child"] = expression.DeepClone(),
                    ["cast_type"] = new JsonObject { ["id"] = "TIMESTAMP_NS", ["type_info"] = null },
                    ["try_cast"] = false,
                }),
                ["filter"] = null,
                ["order_bys"] = new JsonObject { ["type"] = "ORDER_MODIFIER", ["orders"] = new JsonArray() },
                ["distinct"] = false,
                ["is_operator"] = false,
                ["export_state"] = false,
            });
        }

        try
        {
            return QueryEngine.ScalarString(connection, "SELECT json_deserialize_sql($1::JSON)", statement.ToJsonString());
        }
        catch (DuckDbException)
        {
            return null;
        }
    }

    /// <summary>An RFC 3339 / ISO 8601 instant, or a date, written out in full.</summary>
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")]
    private static partial Regex IsoInstant();

    /// <summary>
    /// A string constant that is a plain ISO 8601 instant (Grafana's <c>$__timeFilter</c> bounds), read without a round trip
    /// to DuckDB, as Unix ns (UTC when no offset is written, as DuckDB reads it into TIMESTAMP_NS); null for anything else,
    /// which DuckDB then evaluates. Digits beyond the 100 ns .NET keeps are dropped, which moves a bound by less than 100 ns
    /// toward the start of its own hour, never across an hour boundary: the partitions listed are the same.
    /// </summary>
    private static long? LiteralInstant(JsonNode expression)
    {
        if (StatementGuard.Text(expression["class"]) != "CONSTANT" || expression["value"] is not JsonObject value
            || StatementGuard.Text(value["type"]?["id"]) != "VARCHAR" || StatementGuard.Text(value["value"]) is not { } text
            || !IsoInstant().IsMatch(text))
        {
            return null;
        }

        var digits = text.IndexOf('.', StringComparison.Ordinal) is var dot and >= 0 ? text[(dot + 1)..].TakeWhile(char.IsAsciiDigit).Count() : 0;
        var trimmed = digits > 7 ? text.Remove(text.IndexOf('.', StringComparison.Ordinal) + 8, digits - 7) : text;
        return DateTimeOffset.TryParse(trimmed, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
            out var instant)
            ? (instant.UtcTicks - DateTime.UnixEpoch.Ticks) * 100
            : null;
    }

    /// <summary>
    /// Whether DuckDB evaluates <paramref name="node"/> to one value for the whole statement: no column, no subquery, no
    /// function DuckDB declares <c>VOLATILE</c> (evaluated once here, it would bound the files by one draw of what the
    /// statement draws per row).
    /// </summary>
    private static bool IsConstant(JsonNode? node, FunctionPolicy functions) => node switch
    {
        JsonObject obj => StatementGuard.Text(obj["class"]) is not ("COLUMN_REF" or "SUBQUERY")
                          && !(StatementGuard.Text(obj["class"]) == "FUNCTION"
                               && functions.Scalar(StatementGuard.Text(obj["function_name"]) ?? "") == FunctionUse.Volatile)
                          && obj.All(p => IsConstant(p.Value, functions)),
        JsonArray array => array.All(n => IsConstant(n, functions)),
        _ => true,
    };
}

/// <summary>
/// The time ranges a statement needs (<see cref="QueryFiles.Plan"/>), and what it takes to compute them again. A bound
/// DuckDB evaluated (<c>now() - INTERVAL 1 HOUR</c>) holds the clock of the transaction it was evaluated in: the query
/// engine evaluates it again inside the statement's own transaction (<see cref="Reevaluate"/>), so the files chosen are
/// those of the statement's own <c>now()</c>, not of an instant before it.
/// </summary>
internal sealed class QueryFilePlan
{
    private readonly List<MeasurementRange> _whole;
    private readonly int _bounded;
    private readonly List<(bool Lower, bool Strict)> _bounds;
    private readonly long?[] _values;
    private readonly List<(string Sql, int[] Indices)> _evaluated;

    /// <summary>Every measurement whole: no bound from the filter.</summary>
    public QueryFilePlan(List<MeasurementRange> whole)
        : this(whole, -1, [], [], [])
    {
    }

    public QueryFilePlan(List<MeasurementRange> whole, int bounded, List<(bool Lower, bool Strict)> bounds, long?[] values,
        List<(string Sql, int[] Indices)> evaluated)
    {
        _whole = whole;
        _bounded = bounded;
        _bounds = bounds;
        _values = values;
        _evaluated = evaluated;
        Ranges = Compute();
    }

    /// <summary>Each measurement the statement reads and the range of it it needs, from the last evaluation.</summary>
    public List<MeasurementRange> Ranges { get; private set; }

    /// <summary>Each measurement the statement reads, whole.</summary>
    public List<MeasurementRange> Whole => _whole;

    /// <summary>
    /// Columns of the bounded measurement (the top-level SELECT's only table) its filter requires to equal one of some
    /// strings: only its rows with such a value can be in the answer (<see cref="BufferScan"/> skips the others).
    /// </summary>
    public List<ColumnMatch> Matches { get; init; } = [];

    /// <summary>The measurement <see cref="Matches"/> apply to, if any.</summary>
    public MeasurementRange? Matched => _bounded >= 0 && Matches.Count > 0 ? _whole[_bounded] : null;

    /// <summary>Whether a bound came from DuckDB (rather than a literal read here), so its value depends on the transaction.</summary>
    public bool EvaluatedByDuckDb => _evaluated.Count > 0;

    /// <summary>
    /// Evaluates DuckDB's bounds again on <paramref name="connection"/> (the statement's transaction) and updates
    /// <see cref="Ranges"/>. The queries gave values a moment ago; should one fail now, the transaction is started over and
    /// the ranges are whole (a failed statement can leave DuckDB's transaction unusable).
    /// </summary>
    public void Reevaluate(DuckDbConnection connection)
    {
        try
        {
            foreach (var (sql, indices) in _evaluated)
            {
                QueryFiles.Run(connection, sql, indices, _values);
            }

            Ranges = Compute();
        }
        catch (DuckDbException)
        {
            connection.BeginTransaction();
            Ranges = _whole;
        }
    }

    private List<MeasurementRange> Compute()
    {
        if (_bounded < 0)
        {
            return _whole;
        }

        var (low, high) = (long.MinValue, long.MaxValue);
        for (var i = 0; i < _bounds.Count; i++)
        {
            if (_values[i] is not { } value)
            {
                continue;
            }

            if (_bounds[i].Lower)
            {
                low = Math.Max(low, _bounds[i].Strict && value < long.MaxValue ? value + 1 : value);
            }
            else
            {
                high = Math.Min(high, _bounds[i].Strict && value > long.MinValue ? value - 1 : value);
            }
        }

        var ranges = _whole.ToList();
        ranges[_bounded] = ranges[_bounded] with { Low = low, High = high };
        return ranges;
    }

    /// <summary>Whether the hours of <paramref name="fetched"/> include those of every range in <see cref="Ranges"/>.</summary>
    public bool Within(List<MeasurementRange> fetched) =>
        Ranges.All(r => fetched.Any(f => MeasurementNames.Comparer.Equals((f.Database, f.Measurement), (r.Database, r.Measurement))
                                         && f.FromHour <= r.FromHour && f.ToHour >= r.ToHour));

    /// <summary>Each measurement's range widened to include its range in <see cref="Ranges"/>.</summary>
    public List<MeasurementRange> Hull(List<MeasurementRange> fetched) =>
        Ranges.Select(r => fetched.FirstOrDefault(f => MeasurementNames.Comparer.Equals((f.Database, f.Measurement), (r.Database, r.Measurement)))
            is { Measurement: not null } f
            ? r with { Low = Math.Min(r.Low, f.Low), High = Math.Max(r.High, f.High) }
            : r).ToList();
}
