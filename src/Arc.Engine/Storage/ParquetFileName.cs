using System.Globalization;

namespace Arc.Engine.Storage;

/// <summary>
/// Names of flushed Parquet files: <c>{measurement}_{UTC yyyyMMdd_HHmmss_fff}_{firstLsn}-{lastLsn}_{part}of{parts}_{random}.parquet</c>.
/// The LSN range says which write-ahead-log commits the flush holds (0-0 without a WAL); a flush spanning several hours
/// writes one part per hour, and only a complete set of parts counts as having stored the range. The rename that puts a
/// file in place is the commit point, so recovery needs directory listings, not file reads.
/// </summary>
internal readonly record struct ParquetFileName(string Measurement, string Stamp, long FirstLsn, long LastLsn, int Part, int Parts, string Random)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Measurement}_{Stamp}_{FirstLsn}-{LastLsn}_{Part}of{Parts}_{Random}.parquet");

    /// <summary>Identifies the flush the file belongs to (all its parts share it).</summary>
    public string FlushKey => string.Create(CultureInfo.InvariantCulture, $"{Stamp}_{FirstLsn}-{LastLsn}_{Parts}");

    /// <summary>
    /// The wall clock on purpose, not the engine's <see cref="TimeProvider"/>: the stamp orders flushes that share an LSN
    /// range (no WAL: all 0-0), and a test's fake clock standing still would make them tie.
    /// </summary>
    public static string NewStamp() => DateTime.UtcNow.ToString("yyyyMMdd_HHmmss_fff", CultureInfo.InvariantCulture);

    public static string NewRandom() => Convert.ToHexStringLower(BitConverter.GetBytes(System.Random.Shared.Next()));

    /// <summary>Parses a file name of this form; other names (compacted files, foreign files) return false.</summary>
    public static bool TryParse(string fileName, out ParquetFileName name)
    {
        name = default;
        if (!fileName.EndsWith(".parquet", StringComparison.Ordinal))
        {
            return false;
        }

        var parts = fileName[..^".parquet".Length].Split('_');
        // The measurement may contain '_': the last six fields are date, time, milliseconds, LSN range, part and random.
        if (parts.Length < 7)
        {
            return false;
        }

        var random = parts[^1];
        var part = parts[^2].Split("of");
        var range = parts[^3].Split('-');
        if (part.Length != 2 || range.Length != 2
            || !int.TryParse(part[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || !int.TryParse(part[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            || !long.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            || !long.TryParse(range[1], NumberStyles.None, CultureInfo.InvariantCulture, out var last)
            || index < 1 || index > count || first > last)
        {
            return false;
        }

        var stamp = string.Join('_', parts[^6..^3]);
        name = new ParquetFileName(string.Join('_', parts[..^6]), stamp, first, last, index, count, random);
        return true;
    }
}
