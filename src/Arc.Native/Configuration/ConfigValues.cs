using System.Globalization;

namespace Arc.Native.Configuration;

/// <summary>Parsers for configuration values; each failure names the key and what was expected.</summary>
internal static class ConfigValues
{
    public static int Int(string key, string value, int min, int max)
    {
        if (!int.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var result) || result < min || result > max)
        {
            throw new ConfigException($"{key}: expected an integer from {min} to {max}, got \"{value}\"");
        }

        return result;
    }

    public static bool Bool(string key, string value) => value.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "on" => true,
        "false" or "0" or "no" or "off" => false,
        _ => throw new ConfigException($"{key}: expected true or false, got \"{value}\""),
    };

    /// <summary>A size such as <c>1GB</c>, <c>512MB</c>, <c>64KB</c> or a plain number of bytes (1024-based units).</summary>
    public static long Size(string key, string value, long min)
    {
        var text = value.Trim().ToUpperInvariant().Replace(" ", "", StringComparison.Ordinal);
        long multiplier = 1;
        foreach (var (suffix, factor) in new (string, long)[] { ("TB", 1L << 40), ("GB", 1L << 30), ("MB", 1L << 20), ("KB", 1L << 10), ("B", 1) })
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                text = text[..^suffix.Length];
                multiplier = factor;
                break;
            }
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || number < 0
            || number * multiplier > long.MaxValue || (long)(number * multiplier) < min)
        {
            throw new ConfigException($"{key}: expected a size such as 512MB or 1GB (at least {min} bytes), got \"{value}\"");
        }

        return (long)(number * multiplier);
    }

    public static string OneOf(string key, string value, params string[] allowed)
    {
        var normalized = value.Trim().ToLowerInvariant();
        return Array.IndexOf(allowed, normalized) >= 0
            ? normalized
            : throw new ConfigException($"{key}: expected one of {string.Join(", ", allowed)}, got \"{value}\"");
    }
}
