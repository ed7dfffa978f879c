using System.Buffers;
using System.Text;
using Arc.Protocol.LineProtocol;

namespace Arc.Protocol.Tests.LineProtocol;

public class AllocationTests
{
    [Fact]
    public void ReadingTelegrafCpuLinesAllocatesNothing()
    {
        var body = Encoding.UTF8.GetBytes(TelegrafCorpus(1000));
        AssertNoAllocations(SequenceBuilder.Create(body), expectedPoints: 1000);
        AssertNoAllocations(SequenceBuilder.Chunked(body, 4096), expectedPoints: 1000);
        AssertNoAllocations(SequenceBuilder.Chunked(body, 100), expectedPoints: 1000);
    }

    [Fact]
    public void ReadingEscapesAndStringsAllocatesNothing()
    {
        var sb = new StringBuilder();
        for (var i = 0; i < 500; i++)
        {
            sb.Append("syslog,app\\ name=my\\,app,host=h").Append(i % 7)
              .Append(" message=\"user \\\"bob\\\" logged in, port=22\",severity=3i,ok=true,seen=18u ")
              .Append(1_700_000_000_000_000_000L + i).Append('\n');
        }

        var body = Encoding.UTF8.GetBytes(sb.ToString());
        AssertNoAllocations(SequenceBuilder.Create(body), expectedPoints: 500);
        AssertNoAllocations(SequenceBuilder.Chunked(body, 4096), expectedPoints: 500);
    }

    [Fact]
    public void PipedReadingAllocatesNothing()
    {
        // Repeated non-final reads over growing prefixes (the pending-line path), as a PipeReader would do.
        var body = Encoding.UTF8.GetBytes(TelegrafCorpus(200));
        var handler = new SummingHandler();
        RunPiped(body, ref handler);
        RunPiped(body, ref handler);
        var points = new int[3];
        var allocated = Least(run =>
        {
            var measured = new SummingHandler();
            RunPiped(body, ref measured);
            points[run] = measured.Points;
        });
        Assert.All(points, p => Assert.Equal(200, p));
        Assert.Equal(0, allocated);
    }

    /// <summary>
    /// The bytes the least allocating of three runs of <paramref name="run"/> (given its number) allocated on this thread. A cost per line shows
    /// in every run; the runtime's own one-off work on the thread (a method tiered up by the JIT mid-run, which happens when
    /// the suite shares the machine with other test projects) shows in one.
    /// </summary>
    private static long Least(Action<int> run)
    {
        var least = long.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            run(i);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }

    internal static string TelegrafCorpus(int lines)
    {
        var random = new Random(42);
        var sb = new StringBuilder();
        string[] regions = ["us-east-1", "us-west-2", "eu-central-1"];
        for (var i = 0; i < lines; i++)
        {
            var user = random.NextDouble() * 20;
            var system = random.NextDouble() * 5;
            sb.Append("cpu,cpu=cpu").Append(i % 8).Append(",host=host-").Append(i / 8 % 50).Append(",region=").Append(regions[i % 3])
              .Append(" usage_user=").Append(user.ToString("R", System.Globalization.CultureInfo.InvariantCulture))
              .Append(",usage_system=").Append(system.ToString("R", System.Globalization.CultureInfo.InvariantCulture))
              .Append(",usage_idle=").Append((100 - user - system).ToString("R", System.Globalization.CultureInfo.InvariantCulture))
              .Append(",usage_nice=0,usage_iowait=0.1001001001001001,usage_irq=0,usage_softirq=0.2,usage_steal=0,usage_guest=0,usage_guest_nice=0 ")
              .Append(1_700_000_000_000_000_000L + (i * 10_000_000_000L)).Append('\n');
        }

        return sb.ToString();
    }

    private static void RunPiped(byte[] body, ref SummingHandler handler)
    {
        var state = new LineProtocolReaderState(new LineProtocolOptions());
        var consumed = 0;
        const int Chunk = 1000;
        for (var end = Chunk; ; end += Chunk)
        {
            var final = end >= body.Length;
            var data = new ReadOnlySequence<byte>(body, consumed, Math.Min(end, body.Length) - consumed);
            var reader = new LineProtocolReader(data, final, state);
            reader.Read(ref handler);
            state = reader.CurrentState;
            consumed += (int)data.Slice(0, reader.Position).Length;
            if (final)
            {
                break;
            }
        }
    }

    private static void AssertNoAllocations(ReadOnlySequence<byte> body, int expectedPoints)
    {
        var handler = new SummingHandler();
        for (var i = 0; i < 3; i++)
        {
            Run(body, ref handler); // warm-up: JIT, pools
        }

        var points = new int[3];
        var errors = new int[3];
        var allocated = Least(run =>
        {
            var measured = new SummingHandler();
            points[run] = Run(body, ref measured);
            errors[run] = measured.Errors;
        });
        Assert.All(points, p => Assert.Equal(expectedPoints, p));
        Assert.All(errors, e => Assert.Equal(0, e));
        Assert.Equal(0, allocated);
    }

    private static int Run(ReadOnlySequence<byte> body, ref SummingHandler handler)
    {
        var reader = new LineProtocolReader(body, isFinalBlock: true, new LineProtocolReaderState(new LineProtocolOptions()));
        return reader.Read(ref handler);
    }

    /// <summary>Touches every value the way an ingest handler would, without allocating.</summary>
    private struct SummingHandler : ILineProtocolHandler
    {
        public int Points;
        public int Errors;
        public double Sum;
        public long Bytes;

        public void OnPoint(in LinePoint point)
        {
            Points++;
            Bytes += point.Measurement.Length + point.Line.Length;
            for (var i = 0; i < point.TagCount; i++)
            {
                var tag = point.GetTag(i);
                Bytes += tag.Key.Length + tag.Value.Length;
            }

            for (var i = 0; i < point.FieldCount; i++)
            {
                var field = point.GetField(i);
                Bytes += field.Key.Length;
                Sum += field.Type switch
                {
                    FieldType.Float => field.Float,
                    FieldType.Integer => field.Integer,
                    FieldType.UInteger => field.UInteger,
                    FieldType.Boolean => field.Boolean ? 1 : 0,
                    _ => field.String.Length,
                };
            }

            Sum += point.Timestamp;
        }

        public void OnError(in LineProtocolError error) => Errors++;
    }
}
