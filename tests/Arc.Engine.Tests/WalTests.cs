using System.Buffers;
using System.Text;
using Arc.Engine.Buffers;
using Arc.Engine.Storage;
using Arc.Engine.Wal;

namespace Arc.Engine.Tests;

public sealed class WalTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-wal-" + Guid.NewGuid().ToString("N"));

    public WalTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void CodecRoundTripsEveryColumnKindWithNulls()
    {
        using var set = Sample("db", "m", 0, 300);
        using var other = Sample("db", "n", 1000, 5);
        var buffer = new ArrayBufferWriter<byte>();
        WalCodec.Encode(buffer, 42, [set, other]);
        var (lsn, sets) = WalCodec.Decode(buffer.WrittenSpan);
        Assert.Equal(42, lsn);
        Assert.Equal(2, sets.Count);
        AssertEqual(set, sets[0]);
        AssertEqual(other, sets[1]);
        sets.ForEach(s => s.Dispose());
    }

    [Fact]
    public void DecodingRejectsTruncatedBodies()
    {
        using var set = Sample("db", "m", 0, 10);
        var buffer = new ArrayBufferWriter<byte>();
        WalCodec.Encode(buffer, 1, [set]);
        var body = buffer.WrittenSpan.ToArray();
        for (var length = 0; length < body.Length; length++)
        {
            Assert.Throws<WalFormatException>(() => WalCodec.Decode(body.AsSpan(0, length)));
        }
    }

    [Fact]
    public void SegmentsStopAtATornOrCorruptEntry()
    {
        var path = Path.Combine(_directory, WalSegment.FileName(1));
        using (var handle = WalSegment.Create(path))
        {
            long offset = WalSegment.HeaderSize;
            foreach (var body in new[] { "first"u8.ToArray(), "second"u8.ToArray(), "third"u8.ToArray() })
            {
                var entry = new byte[WalSegment.EntryHeaderSize + body.Length];
                body.CopyTo(entry, WalSegment.EntryHeaderSize);
                WalSegment.SealEntry(entry);
                RandomAccess.Write(handle, entry, offset);
                offset += entry.Length;
            }
        }

        var entries = WalSegment.ReadEntries(path, out var valid, out var torn);
        Assert.Equal(["first", "second", "third"], entries.Select(e => Encoding.ASCII.GetString(e)));
        Assert.False(torn);

        // A crash in the middle of the last write: the torn entry is dropped, the others stay.
        var full = File.ReadAllBytes(path);
        File.WriteAllBytes(path, full[..^2]);
        entries = WalSegment.ReadEntries(path, out valid, out torn);
        Assert.Equal(["first", "second"], entries.Select(e => Encoding.ASCII.GetString(e)));
        Assert.True(torn);
        Assert.Equal(WalSegment.HeaderSize + (2 * WalSegment.EntryHeaderSize) + 11, valid);

        // A flipped bit fails the CRC: reading stops before the damaged entry.
        full[WalSegment.HeaderSize + WalSegment.EntryHeaderSize + 1] ^= 0x10;
        File.WriteAllBytes(path, full);
        Assert.Empty(WalSegment.ReadEntries(path, out _, out torn));
        Assert.True(torn);
    }

    [Fact]
    public void FileNamesCarryTheLsnRangeAndParts()
    {
        var name = new ParquetFileName("cpu_total", "20261126_101500_123", 17, 42, 2, 3, "0a1b2c3d");
        Assert.Equal("cpu_total_20261126_101500_123_17-42_2of3_0a1b2c3d.parquet", name.ToString());
        Assert.True(ParquetFileName.TryParse(name.ToString(), out var parsed));
        Assert.Equal(name, parsed);
        Assert.False(ParquetFileName.TryParse("cpu_20261126_101500_123_42-17_1of1_x.parquet", out _));
        Assert.False(ParquetFileName.TryParse("cpu_compacted.parquet", out _));
        Assert.False(ParquetFileName.TryParse("cpu_20261126_101500_123_1-2_3of2_x.parquet", out _));
    }

    [Fact]
    public async Task RecoveryReplaysOnlyWhatNoCompleteFlushCoversAndRemovesPartialFlushes()
    {
        var data = Path.Combine(_directory, "data");
        var wal = Path.Combine(_directory, "wal");
        // Three commits logged: LSN 10 (m), 11 (m), 12 (m).
        Directory.CreateDirectory(wal);
        using (var handle = WalSegment.Create(Path.Combine(wal, WalSegment.FileName(10))))
        {
            long offset = WalSegment.HeaderSize;
            for (var lsn = 10; lsn <= 12; lsn++)
            {
                using var set = Sample("db", "m", lsn * 100, 3);
                var buffer = new ArrayBufferWriter<byte>();
                buffer.GetSpan(WalSegment.EntryHeaderSize);
                buffer.Advance(WalSegment.EntryHeaderSize);
                WalCodec.Encode(buffer, lsn, [set]);
                var entry = buffer.WrittenSpan.ToArray();
                WalSegment.SealEntry(entry);
                RandomAccess.Write(handle, entry, offset);
                offset += entry.Length;
            }
        }

        // LSN 10 reached Parquet completely; the flush of 11-12 only placed one of its two parts before the crash.
        var store = new LocalStore(data);
        var hour = Path.Combine(data, "db", "m", "1970", "01", "01", "00");
        Directory.CreateDirectory(hour);
        File.WriteAllText(Path.Combine(hour, new ParquetFileName("m", "19700101_000000_000", 10, 10, 1, 1, "aaaaaaaa").ToString()), "");
        var partial = Path.Combine(hour, new ParquetFileName("m", "19700101_000001_000", 11, 12, 1, 2, "bbbbbbbb").ToString());
        File.WriteAllText(partial, "");
        // A flush older than the log (LSNs 3-5) lost a part to compaction: complete when it was placed, so kept.
        var compactedAway = Path.Combine(hour, new ParquetFileName("m", "19700101_000000_000", 3, 5, 2, 3, "cccccccc").ToString());
        File.WriteAllText(compactedAway, "");

        var (lastLsn, replays, segments, deleted) = await WalRecovery.ReadAsync(wal, store, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal(12, lastLsn);
        Assert.Single(segments);
        Assert.Equal([11L, 12L], replays.Select(r => r.Lsn));
        Assert.All(replays, r => Assert.Equal(3, Assert.Single(r.Sets).RowCount));
        Assert.False(File.Exists(partial));
        Assert.Equal([partial], deleted);
        Assert.True(File.Exists(compactedAway));
        replays.ForEach(r => r.Sets.ForEach(s => s.Dispose()));
    }

    private static ColumnSet Sample(string database, string measurement, long timeBase, int rows)
    {
        var set = new ColumnSet(database, measurement);
        var tag = set.AddColumn("host", ColumnKind.Tag);
        var f = set.AddColumn("f", ColumnKind.Float);
        var i = set.AddColumn("i", ColumnKind.Integer);
        var u = set.AddColumn("u", ColumnKind.UInteger);
        var b = set.AddColumn("b", ColumnKind.Boolean);
        var s = set.AddColumn("s", ColumnKind.String);
        for (var row = 0; row < rows; row++)
        {
            set.Time.SetInt64(row, timeBase + row);
            if (row % 3 != 0)
            {
                set.Columns[tag].SetBytes(row, Encoding.UTF8.GetBytes($"h{row % 5}é"));
            }

            if (row % 4 != 1)
            {
                set.Columns[f].SetDouble(row, row * 0.5);
                set.Columns[i].SetInt64(row, -row);
                set.Columns[u].SetInt64(row, unchecked((long)(ulong.MaxValue - (ulong)row)));
            }

            if (row % 5 != 2)
            {
                set.Columns[b].SetBoolean(row, row % 2 == 0);
                set.Columns[s].SetBytes(row, row % 7 == 0 ? ""u8 : Encoding.UTF8.GetBytes($"value {row}"));
            }

            set.EndRow(timeBase + row);
        }

        return set;
    }

    private static void AssertEqual(ColumnSet expected, ColumnSet actual)
    {
        Assert.Equal(expected.Database, actual.Database);
        Assert.Equal(expected.Measurement, actual.Measurement);
        Assert.Equal(expected.RowCount, actual.RowCount);
        Assert.Equal(expected.MinTime, actual.MinTime);
        Assert.Equal(expected.MaxTime, actual.MaxTime);
        Assert.Equal(expected.Columns.Select(c => (c.Name, c.Kind)), actual.Columns.Select(c => (c.Name, c.Kind)));
        for (var c = 0; c < expected.Columns.Count; c++)
        {
            var (e, a) = (expected.Columns[c], actual.Columns[c]);
            Assert.Equal(e.NullCount, a.NullCount);
            for (var row = 0; row < expected.RowCount; row++)
            {
                Assert.Equal(e.IsValid(row), a.IsValid(row));
                if (!e.IsValid(row))
                {
                    continue;
                }

                switch (e.Kind)
                {
                    case ColumnKind.Tag or ColumnKind.String:
                        Assert.Equal(e.GetBytes(row).ToArray(), a.GetBytes(row).ToArray());
                        break;
                    case ColumnKind.Boolean:
                        Assert.Equal(e.GetBoolean(row), a.GetBoolean(row));
                        break;
                    default:
                        Assert.Equal(e.GetInt64(row), a.GetInt64(row));
                        break;
                }
            }
        }
    }
}
