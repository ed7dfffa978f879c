using System.Buffers;

namespace Arc.Protocol.Tests.LineProtocol;

/// <summary>Builds <see cref="ReadOnlySequence{T}"/> instances from linked segments.</summary>
internal static class SequenceBuilder
{
    public static ReadOnlySequence<byte> Create(params ReadOnlyMemory<byte>[] parts)
    {
        if (parts.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(parts[0], 0);
        var last = first;
        for (var i = 1; i < parts.Length; i++)
        {
            last = last.Append(parts[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Splits <paramref name="data"/> into segments of <paramref name="size"/> bytes (each in its own array).</summary>
    public static ReadOnlySequence<byte> Chunked(ReadOnlySpan<byte> data, int size)
    {
        if (data.IsEmpty)
        {
            return Create(Array.Empty<byte>());
        }

        var parts = new List<ReadOnlyMemory<byte>>();
        for (var i = 0; i < data.Length; i += size)
        {
            parts.Add(data.Slice(i, Math.Min(size, data.Length - i)).ToArray());
        }

        return Create([.. parts]);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
