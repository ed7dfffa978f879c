using System.Globalization;
using System.Text;
using Arc.Protocol.LineProtocol;

namespace Arc.Protocol.Tests.LineProtocol;

public class LineNumbersTests
{
    /// <summary>The exact fast path and the fallback must both round exactly like double.Parse.</summary>
    [Fact]
    public void FloatParsingIsCorrectlyRounded()
    {
        var random = new Random(11);
        string[] formats = ["R", "G17", "G15", "F2", "F6", "E10", "E3", "G5"];
        for (var i = 0; i < 50_000; i++)
        {
            var value = random.Next(4) switch
            {
                0 => random.NextDouble() * 100,
                1 => BitConverter.Int64BitsToDouble(random.NextInt64() & 0x7FEF_FFFF_FFFF_FFFF),
                2 => random.Next(-1_000_000, 1_000_000) / Math.Pow(10, random.Next(0, 12)),
                _ => random.NextInt64() / 1e3,
            };
            var text = value.ToString(formats[random.Next(formats.Length)], CultureInfo.InvariantCulture).Replace("E+", "e", StringComparison.Ordinal);
            AssertParsesLikeDoubleParse(text);
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("-0.0e-5")]
    [InlineData("9007199254740993")] // 2^53 + 1: not exact, must round to even
    [InlineData("9007199254740992")]
    [InlineData("0.1")]
    [InlineData("1e22")]
    [InlineData("1e23")]
    [InlineData("8.98846567431158e307")]
    [InlineData("4.9e-324")]
    [InlineData("2.2250738585072011e-308")]
    [InlineData("1234567890123456789")]
    [InlineData("12345678901234567890")]
    [InlineData("0.00000000000000000000000000001")]
    [InlineData("1.00000000000000000000000000001")]
    [InlineData("99.8997995991984")]
    [InlineData("97.49498997995992")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("1E5")]
    [InlineData("1e+5")]
    [InlineData("1e-5")]
    public void ParsesFloatEdgeCases(string text) => AssertParsesLikeDoubleParse(text);

    [Fact]
    public void BooleansAreExact()
    {
        foreach (var t in new[] { "t", "T", "true", "True", "TRUE" })
        {
            Assert.True(LineNumbers.TryParseBoolean(Encoding.ASCII.GetBytes(t), out var v) && v, t);
        }

        foreach (var f in new[] { "f", "F", "false", "False", "FALSE" })
        {
            Assert.True(LineNumbers.TryParseBoolean(Encoding.ASCII.GetBytes(f), out var v) && !v, f);
        }

        foreach (var bad in new[] { "", "tr", "tRue", "FALSe", "yes", "1", "truex" })
        {
            Assert.False(LineNumbers.TryParseBoolean(Encoding.ASCII.GetBytes(bad), out _), bad);
        }
    }

    [Theory]
    [InlineData("ns", TimestampPrecision.Nanoseconds)]
    [InlineData("n", TimestampPrecision.Nanoseconds)]
    [InlineData("us", TimestampPrecision.Microseconds)]
    [InlineData("u", TimestampPrecision.Microseconds)]
    [InlineData("\u00B5s", TimestampPrecision.Microseconds)]
    [InlineData("\u03BCs", TimestampPrecision.Microseconds)]
    [InlineData("ms", TimestampPrecision.Milliseconds)]
    [InlineData("s", TimestampPrecision.Seconds)]
    [InlineData("m", TimestampPrecision.Minutes)]
    [InlineData("h", TimestampPrecision.Hours)]
    public void ParsesPrecisionNames(string name, TimestampPrecision expected)
    {
        Assert.True(TimestampPrecisions.TryParse(name, out var precision));
        Assert.Equal(expected, precision);
    }

    [Theory]
    [InlineData("")]
    [InlineData("NS")]
    [InlineData("sec")]
    [InlineData("d")]
    [InlineData(" s")]
    public void RejectsUnknownPrecisionNames(string name) => Assert.False(TimestampPrecisions.TryParse(name, out _));

    private static void AssertParsesLikeDoubleParse(string text)
    {
        var expected = double.Parse(text, CultureInfo.InvariantCulture);
        Assert.Equal(NumberStatus.Ok, LineNumbers.ParseFloat(Encoding.ASCII.GetBytes(text), out var actual));
        Assert.True(
            BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual),
            $"{text}: expected {expected:R}, got {actual:R}");
    }
}
