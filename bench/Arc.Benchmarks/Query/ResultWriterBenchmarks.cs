using System.Buffers;
using System.Diagnostics;
using System.Text;
using Arc.Engine;
using Arc.Engine.Ingest;
using Arc.Engine.Query;
using Arc.Protocol.LineProtocol;
using BenchmarkDotNet.Attributes;

namespace Arc.Benchmarks.Query;

/// <summary>
/// Query result writing, per row (OperationsPerInvoke): <c>SELECT * FROM cpu</c> over 100,000 flushed Telegraf cpu rows
/// (time, 3 tags, 10 floats) written as Arc's JSON and as an Arrow IPC stream into a sink that discards the bytes, from
/// opening the cursor to the last byte (DuckDB's scan included, which both outputs pay).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class ResultWriterBenchmarks
{
    public const int Rows = 100_000;
    private const string Sql = "SELECT * FROM cpu";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-bench-rw-" + Guid.NewGuid().ToString("N"));
    private readonly DiscardingWriter _sink = new();
    private ArcEngine _engine = null!;

    [GlobalSetup]
    public void Setup()
    {
        _engine = ArcEngine.StartAsync(new EngineOptions { DataPath = _directory, WalEnabled = false, MaxBufferRows = 1_000_000 }).GetAwaiter().GetResult();
        var body = new StringBuilder();
        for (var i = 0; i < Rows; i++)
        {
            body.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"cpu,cpu=cpu{i % 8},host=host-{i / 8 % 50},region=us-west usage_user={i % 100}.5,usage_system=1.25,usage_idle=97.1,usage_nice=0,usage_iowait=0.5,usage_irq=0,usage_softirq=0.1,usage_steal=0,usage_guest=0,usage_guest_nice=0 {1700000000000000000L + (i * 1_000_000L)}\n");
        }

        var batch = _engine.RentBatch("bench");
        var handler = new LineProtocolBatchHandler(batch);
        var reader = new LineProtocolReader(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body.ToString())), true,
            new LineProtocolReaderState(new LineProtocolOptions { DefaultTimestamp = 1 }));
        reader.Read(ref handler);
        _engine.CommitAsync(batch).GetAwaiter().GetResult();
        _engine.FlushAsync().GetAwaiter().GetResult();
        if (Json().GetAwaiter().GetResult() != Rows || Arrow().GetAwaiter().GetResult() != Rows)
        {
            throw new InvalidOperationException("unexpected row count");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public async Task<long> Json()
    {
        using var cursor = await _engine.Query.OpenAsync(Sql, "bench", CancellationToken.None);
        return await JsonQueryOutput.WriteAsync(cursor, _sink, static () => ValueTask.CompletedTask, Stopwatch.GetTimestamp());
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public async Task<long> Arrow()
    {
        using var cursor = await _engine.Query.OpenAsync(Sql, "bench", CancellationToken.None);
        using var output = ArrowQueryOutput.Create(cursor);
        return await output.WriteAsync(Stream.Null, null, CancellationToken.None);
    }

    /// <summary>An <see cref="IBufferWriter{T}"/> that hands out the same buffer and forgets what was written.</summary>
    private sealed class DiscardingWriter : IBufferWriter<byte>
    {
        private byte[] _buffer = new byte[1 << 16];

        public void Advance(int count)
        {
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => Buffer(sizeHint);

        public Span<byte> GetSpan(int sizeHint = 0) => Buffer(sizeHint);

        private byte[] Buffer(int sizeHint)
        {
            if (sizeHint > _buffer.Length)
            {
                _buffer = new byte[sizeHint];
            }

            return _buffer;
        }
    }

    private sealed class Config : BenchmarkConfig;
}
