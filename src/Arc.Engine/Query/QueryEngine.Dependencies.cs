using Arc.Engine.Storage;

namespace Arc.Engine.Query;

public sealed partial class QueryEngine
{
    /// <summary>The data versions of the engine's measurements (the query result cache subscribes to their changes).</summary>
    public DataVersions Versions => _catalog.Versions;

    /// <summary>
    /// The measurements a checked statement reads, with their current versions; null when its result may not be cached:
    /// it is an EXPLAIN, reads something other than measurements (a catalog view, a file, a table function that reads data),
    /// calls a volatile function (<see cref="FunctionPolicy"/>: DuckDB's VOLATILE ones; time functions such as <c>now()</c>
    /// are cached for the TTL, as in Arc), or reads no measurement at all. Must run before the statement binds its data.
    /// </summary>
    private QueryDependencies? Dependencies(CheckedStatement statement) =>
        statement is { OnlyMeasurements: true, IsExplain: false }
            ? new QueryDependencies(statement.Measurements
                .Select(m => (m.Database, m.Measurement, _catalog.Versions.Current(m.Database, m.Measurement))).ToList())
            : null;
}
