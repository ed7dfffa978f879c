using System.Buffers;
using System.Globalization;
using System.Text;
using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Protocol.LineProtocol;
using Arc.Protocol.MessagePack;
using Arc.Testing;
using BenchmarkDotNet.Attributes;

namespace Arc.Benchmarks.MessagePack;

/// <summary>
/// MessagePack decode rate on 5-column records (time, a host tag, three float fields), 10,000 records per body: the
/// decoder alone (both passes into a consuming handler), into a real <see cref="WriteBatch"/> (the server's path without
/// HTTP), the row form into a batch, and the same records as line protocol into a batch (the baseline). Times and
/// allocations are per record (OperationsPerInvoke).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class MsgPackDecodeBenchmarks
{
    public const int Records = 10_000;

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-bench-mp-" + Guid.NewGuid().ToString("N"));
    private ArcEngine _engine = null!;
    private byte[] _columnar = [];
    private byte[] _rows = [];
    private byte[] _lineProtocol = [];

    [GlobalSetup]
    public void Setup()
    {
        _engine = ArcEngine.StartAsync(new EngineOptions { DataPath = _directory, MaxBufferAge = TimeSpan.FromHours(1), MaxBufferRows = 100_000_000 }).GetAwaiter().GetResult();
        _columnar = Corpus.Columnar(Records);
        _rows = Corpus.Rows(Records);
        _lineProtocol = Corpus.LineProtocol(Records);
        if (ColumnarDecodeOnly() != Records || ColumnarIntoWriteBatch() != Records || RowsIntoWriteBatch() != Records
            || LineProtocolIntoWriteBatch() != Records)
        {
            throw new InvalidOperationException("The corpus did not decode cleanly.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = Records)]
    public long ColumnarDecodeOnly()
    {
        var handler = new ConsumingHandler();
        return MsgPackDecoder.TryDecode(_columnar, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = 1 }, out var summary, out _)
               && handler.Checksum != 0
            ? summary.Rows
            : -1;
    }

    [Benchmark(OperationsPerInvoke = Records)]
    public long ColumnarIntoWriteBatch()
    {
        var batch = _engine.RentBatch("bench");
        try
        {
            var handler = new MsgPackBatchHandler(batch);
            return MsgPackDecoder.TryDecode(_columnar, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = 1 }, out _, out _)
                ? batch.Accepted
                : -1;
        }
        finally
        {
            _engine.ReturnBatch(batch);
        }
    }

    [Benchmark(OperationsPerInvoke = Records)]
    public long RowsIntoWriteBatch()
    {
        var batch = _engine.RentBatch("bench");
        try
        {
            var handler = new MsgPackBatchHandler(batch);
            return MsgPackDecoder.TryDecode(_rows, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = 1 }, out _, out _)
                ? batch.Accepted
                : -1;
        }
        finally
        {
            _engine.ReturnBatch(batch);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Records)]
    public long LineProtocolIntoWriteBatch()
    {
        var batch = _engine.RentBatch("bench");
        try
        {
            var handler = new LineProtocolBatchHandler(batch);
            var reader = new LineProtocolReader(new ReadOnlySequence<byte>(_lineProtocol), true,
                new LineProtocolReaderState(new LineProtocolOptions { DefaultTimestamp = 1 }));
            reader.Read(ref handler);
            return batch.Rejected == 0 ? batch.Accepted : -1;
        }
        finally
        {
            _engine.ReturnBatch(batch);
        }
    }

    /// <summary>Reads every value, as a batch would, without storing it.</summary>
    private struct ConsumingHandler : IMsgPackHandler
    {
        public double Checksum;

        public readonly string? BeginRecord(scoped ReadOnlySpan<byte> measurement, int rows) => null;

        public readonly string? Column(scoped ReadOnlySpan<byte> name, MsgPackValueKinds values, bool tag, int offset, out MsgPackColumnType type)
        {
            type = tag ? MsgPackColumnType.Tag : name[0] == (byte)'u' ? MsgPackColumnType.Float : MsgPackColumnType.String;
            return null;
        }

        public readonly void EndRecord()
        {
        }

        public readonly string? EndValidation(out int offset)
        {
            offset = 0;
            return null;
        }

        public void WriteTime(int row, long timestamp) => Checksum += timestamp;

        public void WriteInt64(int row, long value) => Checksum += value;

        public void WriteUInt64(int row, ulong value) => Checksum += value;

        public void WriteDouble(int row, double value) => Checksum += value;

        public void WriteDoubles(int row, scoped ReadOnlySpan<double> values)
        {
            foreach (var value in values)
            {
                Checksum += value;
            }
        }

        public void WriteBoolean(int row, bool value) => Checksum += value ? 1 : 0;

        public void WriteString(int row, scoped ReadOnlySpan<byte> value) => Checksum += value.Length;
    }

    private sealed class Config : BenchmarkConfig
    {
        public Config() => AddColumn(new RateColumn("records/s", "Records decoded per second (one thread)", nanoseconds => 1e9 / nanoseconds, "N0"));
    }
}

/// <summary>The benchmark's records in three encodings: columnar MessagePack, row-form MessagePack, line protocol.</summary>
internal static class Corpus
{
    public static byte[] Columnar(int rows)
    {
        var w = new MsgPackBodyWriter();
        w.Map(3).Str("m").Str("cpu").Str("tags").Array(1).Str("host").Str("columns").Map(5);
        w.Str("time").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Int64(1_700_000_000_000L + i);
        }

        w.Str("host").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Str(Host(i));
        }

        foreach (var field in new[] { "usage_user", "usage_system", "usage_idle" })
        {
            w.Str(field).Array(rows);
            for (var i = 0; i < rows; i++)
            {
                w.Float64(Value(field, i));
            }
        }

        return w.ToArray();
    }

    public static byte[] Rows(int rows)
    {
        var w = new MsgPackBodyWriter();
        w.Map(1).Str("batch").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Map(4).Str("m").Str("cpu").Str("t").Int64(1_700_000_000_000L + i).Str("h").Str(Host(i)).Str("fields").Map(3);
            foreach (var field in new[] { "usage_user", "usage_system", "usage_idle" })
            {
                w.Str(field).Float64(Value(field, i));
            }
        }

        return w.ToArray();
    }

    public static byte[] LineProtocol(int rows)
    {
        var text = new StringBuilder();
        for (var i = 0; i < rows; i++)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"cpu,host={Host(i)} usage_user={Value("usage_user", i)},usage_system={Value("usage_system", i)},usage_idle={Value("usage_idle", i)} {(1_700_000_000_000L + i) * 1_000_000}\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static string Host(int i) => "server-" + (i % 100).ToString("D3", CultureInfo.InvariantCulture);

    private static double Value(string field, int i) => field switch
    {
        "usage_user" => (i % 1000) / 10.0 + 0.25,
        "usage_system" => (i % 37) * 0.5,
        _ => 100 - (i % 1000) / 10.0,
    };
}
