using System.Buffers;
using System.Text;
using Arc.Protocol.LineProtocol;

namespace Arc.Protocol.Tests.LineProtocol;

/// <summary>
/// Feeds an input to <see cref="LineProtocolReader"/> in every way a pipe can present it and asserts the results are
/// identical: (a) whole, (b) split into two segments at every offset, (c) one byte per segment, (d) arriving in chunks
/// through repeated reads with isFinalBlock=false and then true, re-presenting the unconsumed bytes each time.
/// </summary>
internal static class LineProtocolFeeder
{
    private static readonly int[] ChunkSizes = [1, 2, 3, 5, 7, 16, 64];

    /// <summary>Runs every mode; returns the events of the whole-input mode, followed by "lines=N" (the final line count).</summary>
    public static List<string> Parse(string input, LineProtocolOptions? options = null, bool includeRaw = false)
        => Parse(Encoding.UTF8.GetBytes(input), options, includeRaw);

    public static List<string> Parse(byte[] input, LineProtocolOptions? options = null, bool includeRaw = false)
    {
        var opts = options ?? new LineProtocolOptions();
        var expected = ReadWhole(SequenceBuilder.Create(input), opts, includeRaw);

        for (var split = 0; split <= input.Length; split++)
        {
            var seq = SequenceBuilder.Create(input.AsMemory(0, split), input.AsMemory(split));
            AssertSame(expected, ReadWhole(seq, opts, includeRaw), $"split at {split}");
        }

        AssertSame(expected, ReadWhole(SequenceBuilder.Chunked(input, 1), opts, includeRaw), "one byte per segment");

        foreach (var chunk in ChunkSizes)
        {
            AssertSame(expected, ReadPiped(input, chunk, opts, includeRaw, finalWithLastChunk: false, out _), $"piped in chunks of {chunk}");
            AssertSame(expected, ReadPiped(input, chunk, opts, includeRaw, finalWithLastChunk: true, out _), $"piped in chunks of {chunk}, final with data");
        }

        return expected;
    }

    /// <summary>One read over the whole sequence with isFinalBlock=true.</summary>
    public static List<string> ReadWhole(ReadOnlySequence<byte> data, LineProtocolOptions options, bool includeRaw)
    {
        var handler = new RecordingHandler(includeRaw);
        var reader = new LineProtocolReader(data, isFinalBlock: true, new LineProtocolReaderState(options));
        var points = reader.Read(ref handler);
        Assert.Equal(data.End, reader.Position);
        Assert.Equal(handler.Events.Count(e => e[0] == 'P'), points);
        handler.Events.Add($"lines={reader.CurrentState.LineNumber}");
        return handler.Events;
    }

    /// <summary>
    /// Simulates a PipeReader loop: data arrives <paramref name="chunk"/> bytes at a time; each read gets the unconsumed
    /// bytes (one segment) plus the new chunk (another segment) with isFinalBlock=false, until a last read with
    /// isFinalBlock=true. Reports the most bytes the "pipe" ever had to keep buffered.
    /// </summary>
    public static List<string> ReadPiped(byte[] input, int chunk, LineProtocolOptions options, bool includeRaw, bool finalWithLastChunk, out int maxBuffered)
    {
        var handler = new RecordingHandler(includeRaw);
        var state = new LineProtocolReaderState(options);
        var unconsumed = Array.Empty<byte>();
        maxBuffered = 0;
        var points = 0;
        for (var offset = 0; offset < input.Length; offset += chunk)
        {
            var next = input.AsMemory(offset, Math.Min(chunk, input.Length - offset));
            var isLast = offset + chunk >= input.Length;
            var isFinal = isLast && finalWithLastChunk;
            var data = unconsumed.Length == 0 ? SequenceBuilder.Create(next) : SequenceBuilder.Create(unconsumed, next);
            maxBuffered = Math.Max(maxBuffered, (int)data.Length);
            var reader = new LineProtocolReader(data, isFinal, state);
            points += reader.Read(ref handler);
            state = reader.CurrentState;
            unconsumed = data.Slice(reader.Position).ToArray();
            if (isFinal)
            {
                Assert.Empty(unconsumed);
            }
        }

        if (!finalWithLastChunk || input.Length == 0)
        {
            var data = SequenceBuilder.Create(unconsumed);
            var reader = new LineProtocolReader(data, isFinalBlock: true, state);
            points += reader.Read(ref handler);
            Assert.Equal(data.End, reader.Position);
            state = reader.CurrentState;
        }

        Assert.Equal(handler.Events.Count(e => e[0] == 'P'), points);
        handler.Events.Add($"lines={state.LineNumber}");
        return handler.Events;
    }

    private static void AssertSame(List<string> expected, List<string> actual, string mode)
    {
        if (!expected.SequenceEqual(actual))
        {
            Assert.Fail($"Mode '{mode}' differs from whole input.\nExpected:\n  {string.Join("\n  ", expected)}\nActual:\n  {string.Join("\n  ", actual)}");
        }
    }
}
