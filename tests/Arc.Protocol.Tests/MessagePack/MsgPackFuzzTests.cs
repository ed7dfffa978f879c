using System.Diagnostics;
using Arc.Protocol.MessagePack;
using static Arc.Protocol.Tests.MessagePack.Pack;

namespace Arc.Protocol.Tests.MessagePack;

/// <summary>
/// Hostile input: every truncation and random byte flips of realistic payloads. The decoder must return (no exception
/// escapes, no hang), and a rejected body must not have reached the write pass.
/// </summary>
public sealed class MsgPackFuzzTests
{
    public static TheoryData<string> Payloads => ["columnar", "columns-last", "telegraf", "row", "batch"];

    [Theory]
    [MemberData(nameof(Payloads))]
    public void EveryTruncationIsRejected(string name)
    {
        var body = Payload(name);
        Assert.True(TryDecode(body, out _));
        for (var length = 0; length < body.Length; length++)
        {
            Assert.False(TryDecode(body.AsSpan(0, length).ToArray(), out var error, out var state), $"prefix of {length} bytes was accepted");
            Assert.InRange(error.Offset, 0, Math.Max(0, length));
            if (name is "columnar" or "columns-last" or "row")
            {
                // One record, cut short: the handler never hears of it (resolving its measurement would create a database).
                Assert.Equal(0, state.RecordsValidated);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Payloads))]
    public void RandomByteFlipsNeverEscapeTheDecoder(string name)
    {
        var original = Payload(name);
        var random = new Random(name.GetHashCode(StringComparison.Ordinal) ^ 12345);
        var watch = Stopwatch.StartNew();
        var rejected = 0;
        for (var i = 0; i < 3000; i++)
        {
            var body = (byte[])original.Clone();
            var flips = random.Next(1, 4);
            for (var f = 0; f < flips; f++)
            {
                var at = random.Next(body.Length);
                body[at] = random.Next(3) switch
                {
                    0 => (byte)random.Next(256),
                    1 => (byte)(body[at] ^ (1 << random.Next(8))),
                    _ => (byte)(0xc0 + random.Next(32)), // a format byte: nil, lengths, ext, ...
                };
            }

            if (!TryDecode(body, out var error))
            {
                rejected++;
                Assert.InRange(error.Offset, 0, body.Length);
                Assert.False(string.IsNullOrEmpty(error.Message));
            }
        }

        Assert.True(rejected > 100, $"only {rejected} of 3000 mutations were rejected");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"3000 mutations took {watch.Elapsed}");
    }

    private static bool TryDecode(byte[] body, out MsgPackError error) => TryDecode(body, out error, out _);

    private static bool TryDecode(byte[] body, out MsgPackError error, out RecordingMsgPackHandlerState state)
    {
        state = new RecordingMsgPackHandlerState();
        var handler = new RecordingMsgPackHandler(state);
        var ok = MsgPackDecoder.TryDecode(body, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = 1 }, out _, out error);
        if (!ok)
        {
            Assert.False(state.Writing, $"rejected in the write pass: {error}");
            Assert.Empty(state.Rows);
        }

        return ok;
    }

    internal static byte[] Payload(string name) => name switch
    {
        "columnar" => Serialize(Map(
            ("m", "cpu"),
            ("columns", Map(
                ("time", Array(1700000000000L, 1700000001000L, 1700000002000L)),
                ("host", Array("server01", "server02", null)),
                ("usage_idle", Array(97.5, 88.0, 12.25)),
                ("count", Array(1L, 2L, ulong.MaxValue)),
                ("ok", Array(true, null, false)))),
            ("tags", Array("host")))),
        "columns-last" => Serialize(Map(
            ("m", "cpu"),
            ("tags", Array("host")),
            ("columns", Map(
                ("time", Array(1700000000000L, 1700000001000L)),
                ("host", Array("server01", "server02")),
                ("usage_idle", Array(97.5, 88.0)),
                ("ok", Array(true, null)))))),
        "telegraf" => Serialize(Array(
            Map(("m", "cpu"), ("columns", Map(("time", Array(1700000000000L, 1700000010000L)), ("cpu", Array("cpu0", "cpu1")), ("usage_user", Array(1.5, 0.0))))),
            Map(("m", "mem"), ("columns", Map(("time", Array(1700000000000L)), ("host", Array("h")), ("used", Array(1024L)), ("free", new object?[] { null })))))),
        "row" => Serialize(Map(("m", "cpu"), ("t", 1700000000L), ("h", "server01"), ("tags", Map(("region", "eu"))),
            ("fields", Map(("usage", 0.5), ("n", 3L), ("up", true), ("msg", "hello"))))),
        _ => Serialize(Map(("batch", Array(
            Map(("m", "a"), ("f", Array(1.5, 2L))),
            Map(("m", "b"), ("columns", Map(("v", Array(1L, 2L)), ("s", Array("x", "y")))), ("tags", Array("s"))),
            Map(("m", "a"), ("t", null), ("fields", Map(("field_0", 2.5)))))))),
    };
}
