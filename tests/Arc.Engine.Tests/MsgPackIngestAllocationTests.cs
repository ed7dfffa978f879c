using Arc.Engine.Ingest;
using Arc.Protocol.MessagePack;
using Arc.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// MessagePack bodies decode into a write batch without allocating per record or per value once pools are warm: only
/// per-request objects (the batch's column sets, the plan) are allocated, so 10× the records costs no more.
/// </summary>
[Collection(AllocationSensitiveCollection.Name)]
public sealed class MsgPackIngestAllocationTests : BatchEngineTests
{
    [Theory]
    [InlineData("columnar")]
    [InlineData("rows")]
    public void DecodingIntoABatchAllocatesNothingPerRecord(string shape) =>
        AssertNothingAllocatedPerRecord(shape == "columnar" ? Columnar : Rows, Ingest, "record");

    private void Ingest(byte[] body)
    {
        var batch = Engine.RentBatch("alloc");
        var handler = new MsgPackBatchHandler(batch);
        Assert.True(MsgPackDecoder.TryDecode(body, ref handler, new MsgPackDecoderOptions { DefaultTimestamp = 1 }, out _, out var error), error.ToString());
        Engine.ReturnBatch(batch);
    }

    /// <summary>One columnar record: time (int64 ms), host (tag), usage_user, usage_system (float64), procs (int).</summary>
    internal static byte[] Columnar(int rows)
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
        var w = new MsgPackBodyWriter();
        w.Map(1).Str("batch").Array(rows);
        for (var i = 0; i < rows; i++)
        {
            w.Map(4).Str("m").Str("cpu").Str("t").Int64(1_700_000_000_000L + i).Str("h").Str("host-" + (i % 50))
                .Str("fields").Map(3).Str("usage_user").Float64(i % 100 + 0.5).Str("usage_system").Float64(1.25).Str("procs").Int64(i % 300);
        }

        return w.ToArray();
    }
}
