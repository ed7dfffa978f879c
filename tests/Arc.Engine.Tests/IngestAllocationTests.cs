using System.Buffers;
using System.Text;
using Arc.Engine.Ingest;
using Arc.Protocol.LineProtocol;

namespace Arc.Engine.Tests;

[Collection(AllocationSensitiveCollection.Name)]
public sealed class IngestAllocationTests : BatchEngineTests
{
    [Fact]
    public void ParsingIntoABatchAllocatesNothingPerPoint() => AssertNothingAllocatedPerRecord(Body, Ingest, "point");

    private void Ingest(byte[] body)
    {
        var batch = Engine.RentBatch("alloc");
        var handler = new LineProtocolBatchHandler(batch);
        var reader = new LineProtocolReader(new ReadOnlySequence<byte>(body), true,
            new LineProtocolReaderState(new LineProtocolOptions { DefaultTimestamp = 1 }));
        reader.Read(ref handler);
        Assert.Equal(0, batch.Rejected);
        Engine.ReturnBatch(batch);
    }

    private static byte[] Body(int lines)
    {
        var text = new StringBuilder();
        for (var i = 0; i < lines; i++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"cpu,cpu=cpu{i % 8},host=host-{i % 50},region=us-west usage_user={i % 100}.5,usage_system=1.25,usage_idle=97.1,usage_nice=0,usage_iowait=0.5,usage_irq=0,usage_softirq=0.1,usage_steal=0,usage_guest=0,usage_guest_nice=0 {1700000000000000000L + i}\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
