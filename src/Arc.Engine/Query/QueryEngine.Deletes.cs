using System.Text.Json.Nodes;

namespace Arc.Engine.Query;

/// <summary>A delete's predicate, checked on DuckDB's parse tree (<see cref="QueryEngine.CheckDeletePredicateAsync"/>).</summary>
/// <param name="Where">The client's expression, for logs and the delete's record.</param>
/// <param name="MatchSql">
/// DuckDB's rendering of <c>SELECT * FROM __arc_rows WHERE {where}</c> (with <see cref="TimeComparisons"/> applied): the
/// rows to delete, from a CTE named <see cref="QueryEngine.DeleteRowsTable"/> the caller defines over one file.
/// </param>
/// <param name="MatchesAll">
/// The expression names no column, so it matches every row or none (<c>1=1</c>, <c>true</c>): Arc's full-table delete,
/// which needs <c>confirm</c>.
/// </param>
public sealed record DeletePredicate(string Where, string MatchSql, bool MatchesAll);

public sealed partial class QueryEngine
{
    /// <summary>The CTE name <see cref="DeletePredicate.MatchSql"/> reads its rows from.</summary>
    public const string DeleteRowsTable = "__arc_rows";

    /// <summary>
    /// Checks a delete's <c>where</c> as <see cref="MeasurementSqlAsync"/> checks its filter (DuckDB's parse tree must be
    /// exactly <c>SELECT * FROM t WHERE expression</c>; no subquery, parameter, window, star or function off the list), and
    /// also refuses volatile functions (<c>random()</c>): a delete interrupted by a crash runs its predicate again at the
    /// next start and must match the same rows. Table functions and other tables can appear only in a subquery, so they are
    /// refused with it. Binding to the measurement's columns happens when the rows are read.
    /// </summary>
    public async ValueTask<DeletePredicate> CheckDeletePredicateAsync(string where, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(where))
        {
            throw new QueryRejectedException("WHERE clause is required. To delete all data, use WHERE clause '1=1' with confirm=true");
        }

        var connection = await _pool.RentAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var root = CheckedFilter(connection, where, allowVolatile: false);
            var node = (JsonObject)root["statements"]![0]!["node"]!;
            var matchesAll = !NamesColumn(node["where_clause"]);
            ((JsonObject)node["from_table"]!)["table_name"] = DeleteRowsTable;
            TimeComparisons.Rewrite(node["where_clause"]);
            var sql = ScalarString(connection, "SELECT json_deserialize_sql($1::JSON)", root.ToJsonString())
                      ?? throw new QueryRejectedException("invalid where: DuckDB could not render it");
            return new DeletePredicate(where, sql, matchesAll);
        }
        finally
        {
            _pool.Return(connection);
        }
    }

    private static bool NamesColumn(JsonNode? node) => node switch
    {
        JsonObject obj => Text(obj["class"]) == "COLUMN_REF" || obj.Any(p => NamesColumn(p.Value)),
        JsonArray array => array.Any(NamesColumn),
        _ => false,
    };
}
