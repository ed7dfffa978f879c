namespace Arc.Protocol;

/// <summary>
/// The instants a point may carry: what DuckDB's <c>TIMESTAMP_NS</c> holds (the time column's type), 1677-09-22 00:00:00
/// to 2262-04-11 23:47:16.854775806 UTC in Unix nanoseconds (DuckDB's <c>test_all_types()</c> minimum and maximum; casting
/// anything earlier to <c>TIMESTAMP_NS</c> is "out of range", and ±(2^63−1) are its ±infinity). Both parsers reject a
/// timestamp outside it, so a stored time is never an infinity or a value DuckDB cannot convert.
/// </summary>
public static class TimestampRange
{
    /// <summary>1677-09-22T00:00:00Z in Unix nanoseconds.</summary>
    public const long MinNanoseconds = -9_223_286_400_000_000_000;

    /// <summary>2262-04-11T23:47:16.854775806Z in Unix nanoseconds (2^63−2: 2^63−1 is +infinity).</summary>
    public const long MaxNanoseconds = long.MaxValue - 1;

    /// <summary>Whether <paramref name="nanoseconds"/> is a finite instant DuckDB can store.</summary>
    public static bool Contains(long nanoseconds) => nanoseconds is >= MinNanoseconds and <= MaxNanoseconds;
}
