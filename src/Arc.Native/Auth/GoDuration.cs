using System.Globalization;

namespace Arc.Native.Auth;

/// <summary>
/// Token lifetimes as Arc reads them: a Go duration (<c>time.ParseDuration</c>: one or more decimal numbers each with a
/// unit of <c>ns</c>, <c>us</c>/<c>µs</c>, <c>ms</c>, <c>s</c>, <c>m</c> or <c>h</c>, as in <c>1h30m</c> or <c>1.5h</c>),
/// or, as Arc falls back to, a whole number of days written <c>7d</c>.
/// </summary>
internal static class GoDuration
{
    /// <summary>The longest text read: Arc's forms are a few characters, so anything longer is not one.</summary>
    private const int MaxLength = 64;

    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (text.Length is 0 or > MaxLength)
        {
            return false;
        }

        if (text[^1] == 'd')
        {
            if (!int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var days))
            {
                return false;
            }

            duration = TimeSpan.FromDays(days);
            return true;
        }

        var rest = text.AsSpan();
        var negative = rest[0] == '-';
        if (rest[0] is '-' or '+')
        {
            rest = rest[1..];
        }

        if (rest.Length == 0)
        {
            return false;
        }

        double seconds = 0;
        while (rest.Length > 0)
        {
            var numberLength = rest.IndexOfAnyExcept("0123456789.");
            if (numberLength <= 0 || !double.TryParse(rest[..numberLength], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                return false;
            }

            rest = rest[numberLength..];
            var unitLength = rest.IndexOfAny("0123456789.");
            var unit = unitLength < 0 ? rest : rest[..unitLength];
            double? scale = unit switch
            {
                "ns" => 1e-9,
                "us" or "µs" or "μs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => null,
            };
            if (scale is null)
            {
                return false;
            }

            seconds += value * scale.Value;
            rest = rest[unit.Length..];
        }

        if (seconds > TimeSpan.MaxValue.TotalSeconds)
        {
            return false;
        }

        duration = TimeSpan.FromSeconds(negative ? -seconds : seconds);
        return true;
    }
}
