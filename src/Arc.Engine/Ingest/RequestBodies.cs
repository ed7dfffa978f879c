using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Pipelines;
using ZstdSharp;

namespace Arc.Engine.Ingest;

/// <summary>How a write request's body is compressed.</summary>
public enum BodyCompression
{
    None,
    Gzip,
    Zstd,

    /// <summary>Not declared: recognised from the body's first bytes.</summary>
    Detect,
}

/// <summary>
/// Compressed write bodies, shared by line protocol and MessagePack: compression recognised from the first bytes
/// (<c>1f 8b</c> gzip, <c>28 b5 2f fd</c> zstd, as Arc does), and decompression as a stream over the request body, so
/// nothing holds the compressed body; the reader bounds the output with a <see cref="LimitedReadStream"/> at
/// <c>ingest.max_decompressed_size</c>.
/// </summary>
internal static class RequestBodies
{
    public const string MaxDecompressedKey = "ingest.max_decompressed_size";

    /// <summary>
    /// The compression of the body from its first bytes, which are left unread. Reads until four bytes have arrived (or
    /// the body ended), so a body sent a byte at a time is recognised too.
    /// </summary>
    /// <remarks>
    /// Request body reads take no cancellation token, here and in the endpoints: Kestrel fails them itself when the
    /// connection goes (and a slow body with its minimum data rate), while a read cancelled through a token leaves
    /// Kestrel's connection pipe in its reading state, so the connection then ends with a "Reading is already in progress"
    /// warning (dotnet/aspnetcore#17840).
    /// </remarks>
    public static async ValueTask<BodyCompression> DetectAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length >= 4 || result.IsCompleted)
            {
                var compression = Detect(buffer);
                reader.AdvanceTo(buffer.Start);
                return compression;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>A stream of the decompressed body, reading the compressed one from <paramref name="compressed"/>.</summary>
    public static Stream Decompress(Stream compressed, BodyCompression compression) => compression switch
    {
        BodyCompression.Gzip => new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: true),
        BodyCompression.Zstd => new DecompressionStream(compressed, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "not a compression"),
    };

    /// <summary>Whether <paramref name="e"/> is a zstd decoder's complaint about its input (answered 400).</summary>
    public static bool IsCorruptZstd(Exception e) => e is ZstdException or EndOfStreamException;

    private static BodyCompression Detect(ReadOnlySequence<byte> buffer)
    {
        Span<byte> first = stackalloc byte[4];
        var length = (int)Math.Min(buffer.Length, 4);
        buffer.Slice(0, length).CopyTo(first);
        if (length >= 2 && first[0] == 0x1f && first[1] == 0x8b)
        {
            return BodyCompression.Gzip;
        }

        return length == 4 && BinaryPrimitives.ReadUInt32LittleEndian(first) == 0xFD2FB528 ? BodyCompression.Zstd : BodyCompression.None;
    }
}
