using System.Buffers;
using Arc.Protocol.LineProtocol;
using BenchmarkDotNet.Attributes;

namespace Arc.Benchmarks.LineProtocol;

/// <summary>
/// Line-protocol parsing throughput on a Telegraf cpu corpus. Results are per line (OperationsPerInvoke); the MB/s
/// column is bytes per line divided by the time per line.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class LineProtocolReaderBenchmarks
{
    private const int SegmentSize = 4096;

    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _segmented;
    private LineProtocolReaderState _state;

    [GlobalSetup]
    public void Setup()
    {
        var body = TelegrafCpuCorpus.Body;
        _single = new ReadOnlySequence<byte>(body);
        _segmented = Segment.Split(body, SegmentSize);
        _state = new LineProtocolReaderState(new LineProtocolOptions { DefaultTimestamp = 1 });
        if (Run(_single) != TelegrafCpuCorpus.LineCount || Run(_segmented) != TelegrafCpuCorpus.LineCount)
        {
            throw new InvalidOperationException("The corpus did not parse cleanly.");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = TelegrafCpuCorpus.LineCount)]
    public int SingleSegment() => Run(_single);

    [Benchmark(OperationsPerInvoke = TelegrafCpuCorpus.LineCount)]
    public int Segments4KiB() => Run(_segmented);

    private int Run(ReadOnlySequence<byte> body)
    {
        var handler = new ConsumingHandler();
        var reader = new LineProtocolReader(body, isFinalBlock: true, _state);
        var points = reader.Read(ref handler);
        return handler.Errors == 0 && handler.Checksum != 0 ? points : -1;
    }

    /// <summary>Reads every key, tag and value, as the ingest handler does, without allocating.</summary>
    private struct ConsumingHandler : ILineProtocolHandler
    {
        public int Errors;
        public double Checksum;

        public void OnPoint(in LinePoint point)
        {
            var sum = point.Measurement.Length + (double)point.Timestamp;
            for (var i = 0; i < point.TagCount; i++)
            {
                var tag = point.GetTag(i);
                sum += tag.Key.Length + tag.Value.Length;
            }

            for (var i = 0; i < point.FieldCount; i++)
            {
                var field = point.GetField(i);
                sum += field.Key.Length + (field.Type == FieldType.Float ? field.Float : 0);
            }

            Checksum += sum;
        }

        public void OnError(in LineProtocolError error) => Errors++;
    }

    private sealed class Config : BenchmarkConfig
    {
        public Config() => AddColumn(new RateColumn("MB/s", "Megabytes (10^6) of line protocol parsed per second",
            nanosecondsPerLine => TelegrafCpuCorpus.BytesPerLine / nanosecondsPerLine * 1000, "N1"));
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        private Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        /// <summary>Splits <paramref name="data"/> into segments of <paramref name="size"/> bytes, like a PipeReader buffer.</summary>
        public static ReadOnlySequence<byte> Split(byte[] data, int size)
        {
            var first = new Segment(data.AsMemory(0, Math.Min(size, data.Length)), 0);
            var last = first;
            for (var offset = size; offset < data.Length; offset += size)
            {
                var next = new Segment(data.AsMemory(offset, Math.Min(size, data.Length - offset)), offset);
                last.Next = next;
                last = next;
            }

            return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        }
    }
}
