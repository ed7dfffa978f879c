namespace Arc.Engine.Query;

/// <summary>Checks shared by the query outputs.</summary>
public static class QueryOutputs
{
    /// <summary>
    /// Throws <see cref="QueryRejectedException"/> when a result column has a type the JSON, CSV and msgpack writers do not
    /// handle, so the endpoint can answer 400 before it sets any response header.
    /// </summary>
    public static void EnsureSupportedTypes(QueryCursor cursor) => _ = cursor.Formats();
}
