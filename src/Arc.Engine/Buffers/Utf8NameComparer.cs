using System.Buffers;
using System.Text;

namespace Arc.Engine.Buffers;

/// <summary>
/// Ordinal string comparer that can also look up by UTF-8 bytes, so the ingest path finds columns and measurements by the
/// bytes it parsed without creating strings. Both sides hash the UTF-8 encoding.
/// </summary>
internal sealed class Utf8NameComparer : IEqualityComparer<string>, IAlternateEqualityComparer<ReadOnlySpan<byte>, string>
{
    public static readonly Utf8NameComparer Instance = new();

    public bool Equals(string? x, string? y) => string.Equals(x, y, StringComparison.Ordinal);

    public int GetHashCode(string obj)
    {
        var max = Encoding.UTF8.GetMaxByteCount(obj.Length);
        byte[]? rented = null;
        var buffer = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var length = Encoding.UTF8.GetBytes(obj, buffer);
        var hash = Hash(buffer[..length]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return hash;
    }

    public bool Equals(ReadOnlySpan<byte> alternate, string other)
    {
        // Cheap length screen before transcoding: a UTF-8 string has at least as many bytes as UTF-16 chars.
        if (alternate.Length < other.Length || alternate.Length > other.Length * 3)
        {
            return false;
        }

        return Encoding.UTF8.GetCharCount(alternate) == other.Length && Utf8Equals(alternate, other);
    }

    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

    public string Create(ReadOnlySpan<byte> alternate) => Encoding.UTF8.GetString(alternate);

    private static bool Utf8Equals(ReadOnlySpan<byte> utf8, string other)
    {
        Span<char> chars = other.Length <= 256 ? stackalloc char[other.Length] : new char[other.Length];
        Encoding.UTF8.GetChars(utf8, chars);
        return chars.SequenceEqual(other);
    }

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var hash = new HashCode();
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }
}
