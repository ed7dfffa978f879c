namespace Arc.Protocol.LineProtocol;

/// <summary>Parsing of InfluxDB's <c>precision</c> query parameter.</summary>
public static class TimestampPrecisions
{
    /// <summary>
    /// Parses InfluxDB's precision names: <c>ns n us u µs ms s m h</c> (case-sensitive, as InfluxDB).
    /// Returns false for anything else, including an empty value: the caller decides the default.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> value, out TimestampPrecision precision)
    {
        switch (value)
        {
            case "ns":
            case "n":
                precision = TimestampPrecision.Nanoseconds;
                return true;
            case "us":
            case "u":
            case "\u00B5s": // MICRO SIGN
            case "\u03BCs": // GREEK SMALL LETTER MU
                precision = TimestampPrecision.Microseconds;
                return true;
            case "ms":
                precision = TimestampPrecision.Milliseconds;
                return true;
            case "s":
                precision = TimestampPrecision.Seconds;
                return true;
            case "m":
                precision = TimestampPrecision.Minutes;
                return true;
            case "h":
                precision = TimestampPrecision.Hours;
                return true;
            default:
                precision = TimestampPrecision.Nanoseconds;
                return false;
        }
    }

    /// <summary>Nanoseconds per unit of <paramref name="precision"/>.</summary>
    internal static long NanosecondsPerUnit(TimestampPrecision precision) => precision switch
    {
        TimestampPrecision.Nanoseconds => 1L,
        TimestampPrecision.Microseconds => 1_000L,
        TimestampPrecision.Milliseconds => 1_000_000L,
        TimestampPrecision.Seconds => 1_000_000_000L,
        TimestampPrecision.Minutes => 60_000_000_000L,
        TimestampPrecision.Hours => 3_600_000_000_000L,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown timestamp precision."),
    };
}
