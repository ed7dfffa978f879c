using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace Arc.Engine.Wal;

/// <summary>
/// One WAL segment file, <c>{first LSN:D20}.wal</c>: an 8-byte magic, then entries
/// <c>length:u32 crc32:u32 body</c> (little-endian; the CRC covers the body). A torn or corrupt entry ends the segment.
/// </summary>
internal static class WalSegment
{
    public const int HeaderSize = 8;
    public const int EntryHeaderSize = 8;
    public const int MaxEntryBytes = 1 << 30;
    private static ReadOnlySpan<byte> Magic => "ARCWAL01"u8;

    public static string FileName(long firstLsn) => firstLsn.ToString("D20", CultureInfo.InvariantCulture) + ".wal";

    /// <summary>The segments in <paramref name="directory"/>, oldest first.</summary>
    public static List<(long FirstLsn, string Path)> List(string directory) =>
        Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, "*.wal")
                .Select(path => (Ok: long.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.None, CultureInfo.InvariantCulture, out var lsn), lsn, path))
                .Where(s => s.Ok)
                .Select(s => (s.lsn, s.path))
                .OrderBy(s => s.lsn)
                .ToList()
            : [];

    public static SafeFileHandle Create(string path)
    {
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        RandomAccess.Write(handle, Magic, 0);
        return handle;
    }

    /// <summary>Writes the entry header (length and CRC) for a body already placed after it.</summary>
    public static void SealEntry(Span<byte> entry)
    {
        var body = entry[EntryHeaderSize..];
        BinaryPrimitives.WriteUInt32LittleEndian(entry, (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[4..], Crc32.HashToUInt32(body));
    }

    /// <summary>
    /// Reads the bodies of a segment's entries in order. Reading stops at the first entry that is incomplete or fails its
    /// CRC; <paramref name="validLength"/> is the length of the intact prefix and <paramref name="torn"/> says whether bytes
    /// followed it.
    /// </summary>
    public static List<byte[]> ReadEntries(string path, out long validLength, out bool torn)
    {
        var bytes = File.ReadAllBytes(path);
        var entries = new List<byte[]>();
        if (bytes.Length < HeaderSize || !bytes.AsSpan(0, HeaderSize).SequenceEqual(Magic))
        {
            validLength = 0;
            torn = bytes.Length > 0;
            return entries;
        }

        var offset = HeaderSize;
        while (offset + EntryHeaderSize <= bytes.Length)
        {
            var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset));
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset + 4));
            if (length == 0 || length > MaxEntryBytes || offset + EntryHeaderSize + (long)length > bytes.Length)
            {
                break;
            }

            var body = bytes.AsSpan(offset + EntryHeaderSize, (int)length);
            if (Crc32.HashToUInt32(body) != crc)
            {
                break;
            }

            entries.Add(body.ToArray());
            offset += EntryHeaderSize + (int)length;
        }

        validLength = offset;
        torn = offset < bytes.Length;
        return entries;
    }
}
