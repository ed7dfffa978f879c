using Arc.Engine.Ingest;
using Arc.Protocol.MessagePack;

namespace Arc.Engine.Tests;

/// <summary>
/// Mutated MessagePack bodies decoded into a real write batch (schema checks, plans, column buffers): the decoder returns
/// true or false and nothing else escapes; a rejected body leaves the batch without a row.
/// </summary>
public sealed class MsgPackBatchFuzzTests : BatchEngineTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void MutatedBodiesAreAcceptedOrRejectedWhole(int seed)
    {
        var original = MsgPackIngestAllocationTests.Columnar(6);
        var random = new Random(seed);
        var accepted = 0;
        for (var i = 0; i < 3000; i++)
        {
            var body = (byte[])original.Clone();
            for (var flips = random.Next(1, 4); flips > 0; flips--)
            {
                var at = random.Next(body.Length);
                body[at] = random.Next(2) == 0 ? (byte)random.Next(256) : (byte)(body[at] ^ (1 << random.Next(8)));
            }

            var batch = Engine.RentBatch("fuzz" + (i % 7));
            try
            {
                var handler = new MsgPackBatchHandler(batch);
                if (MsgPackDecoder.TryDecode(body, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = 1 }, out var summary, out _))
                {
                    accepted++;
                    Assert.Equal(summary.Rows, batch.Accepted);
                }
                else
                {
                    Assert.Equal(0, batch.Accepted);
                    Assert.Equal(0, batch.PendingRows);
                }
            }
            finally
            {
                Engine.ReturnBatch(batch);
            }
        }

        Assert.InRange(accepted, 1, 2999);
    }
}
