using System.Buffers.Binary;
using System.Text;
using Arc.Engine.Ingest;
using Arc.Protocol.MessagePack;

namespace Arc.Engine.Tests;

/// <summary>
/// MessagePack bodies decode into a write batch without allocating per record or per value once pools are warm: only
/// per-request objects (the batch's column sets, the plan) are allocated, so 10× the records costs no more.
/// </summary>
public sealed class MsgPackIngestAllocationTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-mpalloc-" + Guid.NewGuid().ToString("N"));
    private ArcEngine _engine = null!;

    public Task InitializeAsync()
    {
        _engine = ArcEngine.Start(new EngineOptions { DataPath = _directory, MaxBufferAge = TimeSpan.FromHours(1), MaxBufferRows = 10_000_000 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Theory]
    [InlineData("columnar")]
    [InlineData("rows")]
    public void DecodingIntoABatchAllocatesNothingPerRecord(string shape)
    {
        var small = shape == "columnar" ? Columnar(2_000) : Rows(2_000);
        var large = shape == "columnar" ? Columnar(20_000) : Rows(20_000);
        Ingest(small);
        Ingest(large); // warm-up: pools hold buffers of the sizes needed

        var smallBytes = Measure(small);
        var largeBytes = Measure(large);
        Assert.True(largeBytes - smallBytes < 4096,
            $"2,000 records allocated {smallBytes} B and 20,000 records {largeBytes} B: {(largeBytes - smallBytes) / 18_000.0:0.00} B per extra record");
    }

    private long Measure(byte[] body)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        Ingest(body);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private void Ingest(byte[] body)
    {
        var batch = _engine.RentBatch("alloc");
        var handler = new MsgPackBatchHandler(batch);
        Assert.True(MsgPackDecoder.TryDecode(body, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = 1 }, out _, out var error), error.ToString());
        _engine.ReturnBatch(batch);
    }

    /// <summary>One columnar record: time (int64 ms), host (tag), usage_user, usage_system (float64), procs (int).</summary>
    internal static byte[] Columnar(int rows)
    {
        var w = new Writer();
        w.Map(3).Str("m").Str("cpu").Str("tags").Array(1).Str("host").Str("columns").Map(5);
        w.Str("time").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Int64(1_700_000_000_000L + i);
        }

        w.Str("host").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Str("host-" + (i % 50));
        }

        w.Str("usage_user").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Float64(i % 100 + 0.5);
        }

        w.Str("usage_system").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Float64(1.25);
        }

        w.Str("procs").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Int64(i % 300);
        }

        return w.ToArray();
    }

    /// <summary>A batch of row-form records with the same columns.</summary>
    private static byte[] Rows(int rows)
    {
        var w = new Writer();
        w.Map(1).Str("batch").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Map(4).Str("m").Str("cpu").Str("t").Int64(1_700_000_000_000L + i).Str("h").Str("host-" + (i % 50))
                .Str("fields").Map(3).Str("usage_user").Float64(i % 100 + 0.5).Str("usage_system").Float64(1.25).Str("procs").Int64(i % 300);
        }

        return w.ToArray();
    }

    /// <summary>A minimal MessagePack writer for building test bodies.</summary>
    private sealed class Writer
    {
        private readonly MemoryStream _out = new();

        public byte[] ToArray() => _out.ToArray();

        public Writer Map(int count) => Header(0x80, 0xdf, count);

        public Writer Array(int count) => Header(0x90, 0xdd, count);

        public Writer Str(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            _out.WriteByte((byte)(0xa0 | bytes.Length));
            _out.Write(bytes);
            return this;
        }

        public Writer Int64(long value)
        {
            Span<byte> bytes = stackalloc byte[9];
            bytes[0] = 0xd3;
            BinaryPrimitives.WriteInt64BigEndian(bytes[1..], value);
            _out.Write(bytes);
            return this;
        }

        public Writer Float64(double value)
        {
            Span<byte> bytes = stackalloc byte[9];
            bytes[0] = 0xcb;
            BinaryPrimitives.WriteDoubleBigEndian(bytes[1..], value);
            _out.Write(bytes);
            return this;
        }

        private Writer Header(byte fix, byte code32, int count)
        {
            if (count < 16)
            {
                _out.WriteByte((byte)(fix | count));
                return this;
            }

            Span<byte> bytes = stackalloc byte[5];
            bytes[0] = code32;
            BinaryPrimitives.WriteInt32BigEndian(bytes[1..], count);
            _out.Write(bytes);
            return this;
        }
    }
}
