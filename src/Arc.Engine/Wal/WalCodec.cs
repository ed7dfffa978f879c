using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Arc.Engine.Buffers;

namespace Arc.Engine.Wal;

/// <summary>A WAL entry that cannot be decoded (only a torn tail is expected; anything else is corruption).</summary>
public sealed class WalFormatException(string message) : Exception(message);

/// <summary>
/// The body of a WAL entry: the rows one commit added, per measurement, in the column buffers' own layout (validity
/// bitmap, values, UTF-8 data), so encoding and decoding are block copies.
/// <code>
/// body   := lsn:u64 sets:u16 set*
/// set    := database:str measurement:str rows:u32 columns:u16 column*
/// column := name:str kind:u8 validity:bytes values:bytes data:bytes       (bytes := length:u32 byte*; str := length:u16 utf8)
/// </code>
/// </summary>
internal static class WalCodec
{
    public static void Encode(IBufferWriter<byte> output, long lsn, IEnumerable<ColumnSet> sets)
    {
        var count = 0;
        foreach (var set in sets)
        {
            if (set.RowCount > 0)
            {
                count++;
            }
        }

        WriteUInt64(output, (ulong)lsn);
        WriteUInt16(output, (ushort)count);
        foreach (var set in sets)
        {
            if (set.RowCount == 0)
            {
                continue;
            }

            WriteString(output, set.Database);
            WriteString(output, set.Measurement);
            WriteUInt32(output, (uint)set.RowCount);
            WriteUInt16(output, (ushort)set.Columns.Count);
            foreach (var column in set.Columns)
            {
                WriteString(output, column.Name);
                output.GetSpan(1)[0] = (byte)column.Kind;
                output.Advance(1);
                WriteBytes(output, column.ValidityBytes);
                WriteBytes(output, column.ValueBytes);
                WriteBytes(output, column.DataBytes);
            }
        }
    }

    /// <summary>Decodes a body into new column sets (owned by the caller).</summary>
    public static (long Lsn, List<ColumnSet> Sets) Decode(ReadOnlySpan<byte> body)
    {
        var reader = new Reader(body);
        var lsn = (long)reader.UInt64();
        var count = reader.UInt16();
        var sets = new List<ColumnSet>(count);
        try
        {
            for (var s = 0; s < count; s++)
            {
                var set = new ColumnSet(reader.String(), reader.String());
                sets.Add(set);
                var rows = (int)reader.UInt32();
                var columns = reader.UInt16();
                for (var c = 0; c < columns; c++)
                {
                    var name = reader.String();
                    var kind = (ColumnKind)reader.Byte();
                    if (kind > ColumnKind.Boolean || (c == 0) != (kind == ColumnKind.Time))
                    {
                        throw new WalFormatException($"column {name} has an invalid kind {(int)kind}");
                    }

                    var validity = reader.Bytes();
                    var values = reader.Bytes();
                    var data = reader.Bytes();
                    if (validity.Length != ColumnBuffer.BitmapBytes(rows) || values.Length != ColumnBuffer.UsedValueBytes(kind, rows))
                    {
                        throw new WalFormatException($"column {name} has {values.Length} value bytes for {rows} rows");
                    }

                    var column = kind == ColumnKind.Time ? set.Time : set.Columns[set.AddColumn(name, kind)];
                    column.AppendRaw(rows, validity, values, data);
                }

                set.CompleteRows(rows);
            }
        }
        catch
        {
            sets.ForEach(set => set.Dispose());
            throw;
        }

        if (!reader.AtEnd)
        {
            sets.ForEach(set => set.Dispose());
            throw new WalFormatException("trailing bytes after the last set");
        }

        return (lsn, sets);
    }

    private static void WriteUInt16(IBufferWriter<byte> output, ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(output.GetSpan(2), value);
        output.Advance(2);
    }

    private static void WriteUInt32(IBufferWriter<byte> output, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(output.GetSpan(4), value);
        output.Advance(4);
    }

    private static void WriteUInt64(IBufferWriter<byte> output, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(output.GetSpan(8), value);
        output.Advance(8);
    }

    private static void WriteString(IBufferWriter<byte> output, string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteUInt16(output, checked((ushort)length));
        Encoding.UTF8.GetBytes(value, output.GetSpan(length));
        output.Advance(length);
    }

    private static void WriteBytes(IBufferWriter<byte> output, ReadOnlySpan<byte> value)
    {
        WriteUInt32(output, (uint)value.Length);
        value.CopyTo(output.GetSpan(value.Length));
        output.Advance(value.Length);
    }

    private ref struct Reader(ReadOnlySpan<byte> body)
    {
        private ReadOnlySpan<byte> _rest = body;

        public readonly bool AtEnd => _rest.IsEmpty;

        public byte Byte() => Take(1)[0];

        public ushort UInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

        public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public ulong UInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

        public string String() => Encoding.UTF8.GetString(Take(UInt16()));

        public ReadOnlySpan<byte> Bytes() => Take(checked((int)UInt32()));

        private ReadOnlySpan<byte> Take(int length)
        {
            if ((uint)length > (uint)_rest.Length)
            {
                throw new WalFormatException($"entry truncated: {length} bytes wanted, {_rest.Length} left");
            }

            var taken = _rest[..length];
            _rest = _rest[length..];
            return taken;
        }
    }
}
