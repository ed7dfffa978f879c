using Arc.Engine.Storage;

namespace Arc.Engine.Query;

/// <summary>The measurements a query reads and their versions before it bound its data; null on a cursor means "not cacheable".</summary>
public sealed class QueryDependencies(IReadOnlyList<(string Database, string Measurement, long Version)> measurements)
{
    public IReadOnlyList<(string Database, string Measurement, long Version)> Measurements { get; } = measurements;

    /// <summary>Whether no measurement read changed since the versions were taken.</summary>
    public bool IsCurrent(DataVersions versions)
    {
        foreach (var (database, measurement, version) in Measurements)
        {
            if (versions.Current(database, measurement) != version)
            {
                return false;
            }
        }

        return true;
    }
}
