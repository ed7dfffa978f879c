using System.Buffers;
using Arc.Engine.Query;
using MessagePack;

namespace Arc.Engine.Tests;

/// <summary>The msgpack output's encoders, byte for byte against MessagePack-CSharp's writer (the oracle).</summary>
[Collection(AllocationSensitiveCollection.Name)]
public sealed class MsgPackBufferTests
{
    private static byte[] Ours(Action<MsgPackBuffer> write)
    {
        using var buffer = new MsgPackBuffer();
        write(buffer);
        var bytes = new List<byte>();
        buffer.DrainTo(bytes, static (list, segment) => list.AddRange(segment.ToArray()));
        return bytes.ToArray();
    }

    private delegate void OracleWrite(ref MessagePackWriter writer);

    private static byte[] Oracle(OracleWrite write)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        write(ref writer);
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

    public static TheoryData<long> Integers => new()
    {
        0, 1, 127, 128, 255, 256, 65535, 65536, uint.MaxValue, (long)uint.MaxValue + 1, long.MaxValue,
        -1, -32, -33, -128, -129, short.MinValue, short.MinValue - 1, int.MinValue, (long)int.MinValue - 1, long.MinValue,
    };

    [Theory]
    [MemberData(nameof(Integers))]
    public void IntegersUseTheSmallestEncoding(long value) =>
        Assert.Equal(Oracle((ref MessagePackWriter w) => w.Write(value)), Ours(b => b.WriteInt(value)));

    [Theory]
    [InlineData(0UL)]
    [InlineData(200UL)]
    [InlineData(ulong.MaxValue)]
    public void UnsignedIntegers(ulong value) =>
        Assert.Equal(Oracle((ref MessagePackWriter w) => w.Write(value)), Ours(b => b.WriteUInt(value)));

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(255)]
    [InlineData(256)]
    [InlineData(65535)]
    [InlineData(65536)]
    [InlineData(200_000)]
    public void StringsBinariesAndContainerHeaders(int length)
    {
        var text = new string('x', length);
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        Assert.Equal(Oracle((ref MessagePackWriter w) => w.Write(text)), Ours(b => b.WriteString(bytes)));
        Assert.Equal(Oracle((ref MessagePackWriter w) => w.Write(bytes)), Ours(b => b.WriteBinary(bytes)));
        Assert.Equal(Oracle((ref MessagePackWriter w) => w.WriteArrayHeader(length)), Ours(b => b.WriteArrayHeader(length)));
        Assert.Equal(Oracle((ref MessagePackWriter w) => w.WriteMapHeader(length)), Ours(b => b.WriteMapHeader(length)));
    }

    [Fact]
    public void ScalarsAndFloats()
    {
        Assert.Equal(Oracle((ref MessagePackWriter w) =>
        {
            w.WriteNil();
            w.Write(true);
            w.Write(false);
            w.Write(1.5f);
            w.Write(double.NaN);
            w.Write(-0.1);
        }), Ours(b =>
        {
            b.WriteNil();
            b.WriteBool(true);
            b.WriteBool(false);
            b.WriteFloat32(1.5f);
            b.WriteFloat64(double.NaN);
            b.WriteFloat64(-0.1);
        }));
    }

    [Theory]
    [InlineData("1970-01-01T00:00:00Z")]
    [InlineData("2106-02-07T06:28:15Z")]
    [InlineData("2106-02-07T06:28:16Z")]
    [InlineData("2023-11-14T22:13:20.1234567Z")]
    [InlineData("2514-05-30T01:53:03.9999999Z")]
    [InlineData("2514-05-30T01:53:04Z")]
    [InlineData("1969-12-31T23:59:59.9999999Z")]
    [InlineData("0001-01-01T00:00:00Z")]
    public void TimestampsMatchTheExtensionSpec(string text)
    {
        var time = DateTime.Parse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal);
        var ticks = time.Ticks - DateTime.UnixEpoch.Ticks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += TimeSpan.TicksPerSecond;
        }

        Assert.Equal(Oracle((ref MessagePackWriter w) => w.Write(time)), Ours(b => b.WriteTimestamp(seconds, (uint)(remainder * 100))));
    }

    [Fact]
    public void LargeValuesSpanSegments()
    {
        var big = new byte[(MsgPackBuffer.SegmentSize * 2) + 7];
        new Random(1).NextBytes(big);
        Assert.Equal(Oracle((ref MessagePackWriter w) =>
        {
            w.Write(1);
            w.Write(big);
            w.Write(2);
        }), Ours(b =>
        {
            b.WriteInt(1);
            b.WriteBinary(big);
            b.WriteInt(2);
        }));
    }
}
