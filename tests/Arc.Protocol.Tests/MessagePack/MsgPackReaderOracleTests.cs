using System.Buffers;
using System.Globalization;
using System.Text;
using Arc.Protocol.MessagePack;
using MessagePack;

namespace Arc.Protocol.Tests.MessagePack;

/// <summary>
/// The reader against MessagePack-CSharp's <c>MessagePackReader</c> (the oracle): random documents using every format
/// (all integer widths, float32/64, str/bin/ext of every header size, nested arrays and maps) must read as the same tokens,
/// and <see cref="MsgPackReader.Skip"/> must end where the oracle's Skip ends.
/// </summary>
public sealed class MsgPackReaderOracleTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void RandomDocumentsReadLikeMessagePackCSharp(int seed)
    {
        var random = new Random(seed);
        for (var document = 0; document < 200; document++)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new MessagePackWriter(buffer);
            WriteRandom(ref writer, random, 0);
            writer.Flush();
            var bytes = buffer.WrittenSpan.ToArray();

            var expected = new List<string>();
            var oracle = new MessagePackReader(bytes);
            OracleWalk(ref oracle, expected);
            var actual = new List<string>();
            var reader = new MsgPackReader(bytes);
            Walk(ref reader, actual);
            Assert.Equal(expected, actual);
            Assert.True(reader.End);

            var skipper = new MsgPackReader(bytes);
            skipper.Skip();
            Assert.True(skipper.End);
        }
    }

    [Fact]
    public void LongHeadersOfArraysMapsStringsAndBinariesAreRead()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(70_000); // array32
        for (var i = 0; i < 70_000; i++)
        {
            writer.WriteNil();
        }

        writer.WriteMapHeader(20); // map16
        for (var i = 0; i < 20; i++)
        {
            writer.Write(i);
            writer.Write(new string('k', 70_000)); // str32
        }

        writer.Write(new byte[70_000]); // bin32
        writer.WriteExtensionFormat(new ExtensionResult(7, new byte[300])); // ext16
        writer.Flush();
        var bytes = buffer.WrittenSpan.ToArray();

        var reader = new MsgPackReader(bytes);
        Assert.Equal(70_000, reader.ReadArrayHeader());
        for (var i = 0; i < 70_000; i++)
        {
            Assert.True(reader.TryReadNil());
        }

        Assert.Equal(20, reader.ReadMapHeader());
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(i, reader.ReadInt64());
            Assert.Equal(70_000, reader.ReadString().Length);
        }

        Assert.Equal(70_000, reader.ReadBinary().Length);
        Assert.Equal(300, reader.ReadExtension(out var type).Length);
        Assert.Equal(7, type);
        Assert.True(reader.End);
    }

    [Fact]
    public void EveryProperPrefixOfADocumentIsReportedTruncated()
    {
        var random = new Random(42);
        for (var document = 0; document < 50; document++)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new MessagePackWriter(buffer);
            WriteRandom(ref writer, random, 0, small: true);
            writer.Flush();
            var bytes = buffer.WrittenSpan.ToArray();
            for (var length = 0; length < bytes.Length; length++)
            {
                var error = Assert.Throws<MsgPackFormatException>(() =>
                {
                    var reader = new MsgPackReader(bytes.AsSpan(0, length));
                    reader.Skip();
                });
                Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
                Assert.InRange(error.Offset, 0, length);
            }
        }
    }

    [Fact]
    public void TypedReadsRefuseOtherTypes()
    {
        var bytes = new byte[] { 0xa1, 0x61 };
        Assert.Throws<MsgPackFormatException>(() => new MsgPackReader(bytes).ReadInt64());
        Assert.Throws<MsgPackFormatException>(() => new MsgPackReader(bytes).ReadBoolean());
        Assert.Throws<MsgPackFormatException>(() => new MsgPackReader(bytes).ReadDouble());
        Assert.Throws<MsgPackFormatException>(() => new MsgPackReader(bytes).ReadArrayHeader());
        Assert.Throws<MsgPackFormatException>(() => new MsgPackReader([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).ReadInt64());
        Assert.Throws<MsgPackFormatException>(() => new MsgPackReader([0xff]).ReadUInt64());
        Assert.Throws<MsgPackFormatException>(() => new MsgPackReader([0xc1]).PeekType());
        Assert.Equal(ulong.MaxValue, new MsgPackReader([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).ReadUInt64());
    }

    private static void WriteRandom(ref MessagePackWriter writer, Random random, int depth, bool small = false)
    {
        var choice = random.Next(depth >= 4 ? 20 : 24);
        switch (choice)
        {
            case 0:
                writer.WriteNil();
                break;
            case 1:
                writer.Write(random.Next(2) == 0);
                break;
            case 2:
                writer.Write(random.NextInt64(long.MinValue, long.MaxValue) >> random.Next(64));
                break;
            case 3:
                writer.WriteInt8((sbyte)random.Next(-128, 128));
                break;
            case 4:
                writer.WriteInt16((short)random.Next(short.MinValue, short.MaxValue));
                break;
            case 5:
                writer.WriteInt32(random.Next(int.MinValue, int.MaxValue));
                break;
            case 6:
                writer.WriteInt64(random.NextInt64(long.MinValue, long.MaxValue));
                break;
            case 7:
                writer.WriteUInt8((byte)random.Next(256));
                break;
            case 8:
                writer.WriteUInt16((ushort)random.Next(65536));
                break;
            case 9:
                writer.WriteUInt32((uint)random.NextInt64(0, uint.MaxValue));
                break;
            case 10:
                writer.WriteUInt64((ulong)random.NextInt64(long.MinValue, long.MaxValue));
                break;
            case 11:
                writer.Write((float)(random.NextDouble() * 1e6));
                break;
            case 12:
                writer.Write(random.NextDouble() * Math.Pow(10, random.Next(-300, 300)));
                break;
            case 13 or 14:
                writer.Write(RandomText(random, random.Next(4) switch { 0 => 0, 1 => 31, 2 => random.Next(32, 300), _ => small ? 40 : random.Next(300, 70_000) }));
                break;
            case 15:
                writer.Write(RandomBytes(random, small ? random.Next(0, 300) : random.Next(3) switch { 0 => random.Next(0, 255), 1 => random.Next(256, 70_000), _ => 70_000 }));
                break;
            case 16 or 17:
                writer.WriteExtensionFormat(new ExtensionResult((sbyte)random.Next(-128, 128),
                    RandomBytes(random, random.Next(4) switch { 0 => 1 << random.Next(5), 1 => random.Next(0, 255), 2 => random.Next(256, 1000), _ => small ? 300 : 70_000 })));
                break;
            case 18 or 19:
                writer.Write(-random.Next(1, 33)); // negative fixint
                break;
            case 20 or 21:
                var count = random.Next(3) == 0 ? random.Next(16, 40) : random.Next(0, 6);
                writer.WriteArrayHeader(count);
                for (var i = 0; i < count; i++)
                {
                    WriteRandom(ref writer, random, depth + 1, small);
                }

                break;
            default:
                var pairs = random.Next(3) == 0 ? random.Next(16, 30) : random.Next(0, 6);
                writer.WriteMapHeader(pairs);
                for (var i = 0; i < pairs; i++)
                {
                    writer.Write(RandomText(random, random.Next(1, 12)));
                    WriteRandom(ref writer, random, depth + 1, small);
                }

                break;
        }
    }

    private static string RandomText(Random random, int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = random.Next(10) == 0 ? 'é' : (char)random.Next('a', 'z' + 1);
        }

        return new string(chars);
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static void OracleWalk(ref MessagePackReader reader, List<string> tokens)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                tokens.Add("nil");
                break;
            case MessagePackType.Boolean:
                tokens.Add("b:" + reader.ReadBoolean());
                break;
            case MessagePackType.Integer:
                if (reader.NextCode == MessagePackCode.UInt64)
                {
                    var value = reader.ReadUInt64();
                    tokens.Add(value > long.MaxValue ? "u:" + value.ToString(CultureInfo.InvariantCulture) : "i:" + ((long)value).ToString(CultureInfo.InvariantCulture));
                }
                else
                {
                    tokens.Add("i:" + reader.ReadInt64().ToString(CultureInfo.InvariantCulture));
                }

                break;
            case MessagePackType.Float:
                tokens.Add("f:" + reader.ReadDouble().ToString("R", CultureInfo.InvariantCulture));
                break;
            case MessagePackType.String:
                tokens.Add("s:" + reader.ReadString());
                break;
            case MessagePackType.Binary:
                tokens.Add("bin:" + Convert.ToHexString(reader.ReadBytes()!.Value.ToArray()));
                break;
            case MessagePackType.Extension:
                var extension = reader.ReadExtensionFormat();
                tokens.Add($"x:{extension.TypeCode}:{Convert.ToHexString(extension.Data.ToArray())}");
                break;
            case MessagePackType.Array:
                var count = reader.ReadArrayHeader();
                tokens.Add("a:" + count);
                for (var i = 0; i < count; i++)
                {
                    OracleWalk(ref reader, tokens);
                }

                break;
            case MessagePackType.Map:
                var pairs = reader.ReadMapHeader();
                tokens.Add("m:" + pairs);
                for (var i = 0; i < pairs * 2; i++)
                {
                    OracleWalk(ref reader, tokens);
                }

                break;
            default:
                throw new InvalidOperationException("unknown type");
        }
    }

    private static void Walk(ref MsgPackReader reader, List<string> tokens)
    {
        switch (reader.PeekType())
        {
            case MsgPackType.Nil:
                Assert.True(reader.TryReadNil());
                tokens.Add("nil");
                break;
            case MsgPackType.Boolean:
                tokens.Add("b:" + reader.ReadBoolean());
                break;
            case MsgPackType.Integer:
                var bits = reader.ReadIntegerBits(out var large);
                tokens.Add(large ? "u:" + bits.ToString(CultureInfo.InvariantCulture) : "i:" + ((long)bits).ToString(CultureInfo.InvariantCulture));
                break;
            case MsgPackType.Float:
                tokens.Add("f:" + reader.ReadDouble().ToString("R", CultureInfo.InvariantCulture));
                break;
            case MsgPackType.String:
                tokens.Add("s:" + Encoding.UTF8.GetString(reader.ReadString()));
                break;
            case MsgPackType.Binary:
                tokens.Add("bin:" + Convert.ToHexString(reader.ReadBinary()));
                break;
            case MsgPackType.Extension:
                var data = reader.ReadExtension(out var type);
                tokens.Add($"x:{type}:{Convert.ToHexString(data)}");
                break;
            case MsgPackType.Array:
                var count = reader.ReadArrayHeader();
                tokens.Add("a:" + count);
                for (var i = 0; i < count; i++)
                {
                    Walk(ref reader, tokens);
                }

                break;
            case MsgPackType.Map:
                var pairs = reader.ReadMapHeader();
                tokens.Add("m:" + pairs);
                for (var i = 0; i < pairs * 2; i++)
                {
                    Walk(ref reader, tokens);
                }

                break;
            default:
                throw new InvalidOperationException("unknown type");
        }
    }
}
