using System.IO.Compression;
using System.IO.Pipelines;
using System.Text;
using Arc.Engine.Errors;
using Arc.Engine.Ingest;
using Arc.Protocol.LineProtocol;

namespace Arc.Engine.Tests;

/// <summary>
/// A write request from its body to stored rows, through the engine's API (what the HTTP host calls): line protocol keeps
/// its good points when others are rejected or the body is cut at a limit; compressed bodies are bounded after
/// decompression; MessagePack is all or nothing with the offset of its error; an engine over its write budget refuses
/// before reading. Each failure comes back as a reason and a message saying what was stored.
/// </summary>
public sealed class WriteSessionTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-writes-" + Guid.NewGuid().ToString("N"));
    private ArcEngine _engine = null!;

    public async Task InitializeAsync() => _engine = await Start(new WriteLimits { MaxBodyBytes = 64 << 10, MaxDecompressedBytes = 128 << 10 });

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task GoodPointsAreStoredAndEachBadOneIsReportedWithItsPosition()
    {
        var outcome = await WriteAsync("m v=1 1\nm v= 2\nm v=3 3\n");

        Assert.Null(outcome.Failure);
        Assert.Equal((2, 1), (outcome.Accepted, outcome.Rejected));
        Assert.Equal(2, outcome.Errors.Single().Line);
        Assert.StartsWith("partial write: 1 of 3 points rejected; the other 2 were stored (line 2, column", outcome.Message);
        Assert.Equal("2", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM m"));
    }

    [Theory]
    [InlineData(BodyCompression.None)]
    [InlineData(BodyCompression.Detect)]
    public async Task ABodyCutAtItsLimitKeepsTheLinesBeforeIt(BodyCompression compression)
    {
        // 100 KB of lines sent in 8 KB parts, over the 64 KB limit: the parts before it are parsed and stored.
        var outcome = await WriteAsync(Lines(4000), compression, partSize: 8192);

        Assert.Equal(ErrorReason.TooLarge, outcome.Failure);
        Assert.StartsWith("the body is larger than server.max_payload_size (65536 bytes); ", outcome.Message);
        Assert.InRange(outcome.Accepted, 1000, 2700);
        Assert.Equal(outcome.Accepted.ToString(System.Globalization.CultureInfo.InvariantCulture), await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM m"));
    }

    [Fact]
    public async Task ADeclaredLengthOverTheLimitIsRefusedBeforeAnyIsRead()
    {
        var body = new Pipe();
        var outcome = await _engine.WriteLineProtocolAsync(new WriteRequest("db", BodyCompression.None, 65537), TimestampPrecision.Nanoseconds,
            body.Reader, CancellationToken.None);

        Assert.Equal(ErrorReason.TooLarge, outcome.Failure);
        Assert.Equal(0, outcome.BodyBytes);
    }

    [Theory]
    [InlineData(BodyCompression.Gzip)]
    [InlineData(BodyCompression.Detect)]
    public async Task ACompressionBombStopsAtTheDecompressedLimitKeepingTheLinesBeforeIt(BodyCompression declared)
    {
        var compressed = Gzip(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("m v=1 1700000000000000000\n", 40_000)))); // 1 MB, 2 KB gzipped
        Assert.True(compressed.Length < 64 << 10);

        var outcome = await WriteAsync(compressed, declared);

        Assert.Equal(ErrorReason.TooLarge, outcome.Failure);
        Assert.StartsWith("the decompressed body is larger than ingest.max_decompressed_size (131072 bytes)", outcome.Message);
        Assert.Equal(compressed.Length, outcome.BodyBytes);
        Assert.InRange(outcome.Accepted, 1, 5200);
        Assert.Equal(outcome.Accepted.ToString(System.Globalization.CultureInfo.InvariantCulture), await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM m"));
    }

    [Fact]
    public async Task ACorruptGzipBodyIsInvalid()
    {
        var compressed = Gzip(Encoding.UTF8.GetBytes(Lines(10)));
        compressed[12] ^= 0xff;

        var outcome = await WriteAsync(compressed, BodyCompression.Gzip);

        Assert.Equal(ErrorReason.Invalid, outcome.Failure);
        Assert.StartsWith("invalid gzip body: ", outcome.Message);
    }

    [Fact]
    public async Task AMessagePackFloatColumnStoresEveryValueInItsRowAcrossRunsNilsAndOtherNumberTypes()
    {
        // Runs of float64 are stored a block at a time (256 at most per block): nils, integers and float32 values break
        // them, at the start, inside and at the end of a record; the second record starts where the first ended.
        object?[] Values(int record) => Enumerable.Range(0, 1000).Select(i => (object?)(
            i % 97 == 0 || i == 999 ? null : i % 131 == 5 ? (long)i : i % 211 == 7 ? (float)(i + 0.5f) : (i + record) * 0.25)).ToArray();
        object Record(int record) => new Dictionary<string, object?>
        {
            ["m"] = "floats",
            ["columns"] = new Dictionary<string, object?>
            {
                ["time"] = Enumerable.Range(0, 1000).Select(i => (object?)(1_700_000_000L + (record * 1000) + i)).ToArray(),
                ["v"] = Values(record),
            },
        };
        var body = MessagePack.MessagePackSerializer.Serialize(new Dictionary<string, object?> { ["batch"] = new[] { Record(0), Record(1) } });
        var outcome = await _engine.WriteMsgPackAsync(new WriteRequest("db", BodyCompression.Detect, null), PipeReader.Create(new MemoryStream(body)));
        Assert.Null(outcome.Failure);

        var expected = Enumerable.Range(0, 2).SelectMany(record => Values(record).Select((v, i) => (Index: (record * 1000) + i, Value: v is null ? (double?)null : Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture)))).ToList();
        var nulls = expected.Count(e => e.Value is null);
        var sum = expected.Sum(e => e.Value ?? 0);
        var weighted = expected.Sum(e => (e.Value ?? 0) * e.Index);
        Assert.Equal(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"2000 {nulls} {sum} {weighted}"), await EngineData.ScalarAsync(_engine,
            "SELECT count(*) || ' ' || count(*) FILTER (v IS NULL) || ' ' || sum(v) || ' ' || sum(v * (epoch(time) - 1700000000)) FROM floats"));
    }

    [Fact]
    public async Task AMessagePackBodyWithAnErrorStoresNothingAndSaysWhere()
    {
        var body = MsgPackIngestAllocationTests.Columnar(6);
        var outcome = await _engine.WriteMsgPackAsync(new WriteRequest("db", BodyCompression.Detect, null), PipeReader.Create(new MemoryStream(body)));
        Assert.Null(outcome.Failure);
        Assert.True(outcome.Accepted > 0);
        Assert.Equal(body.Length, outcome.BodyBytes);

        var broken = body[..^3];
        outcome = await _engine.WriteMsgPackAsync(new WriteRequest("db2", BodyCompression.Detect, null), PipeReader.Create(new MemoryStream(broken)));
        Assert.Equal(ErrorReason.Invalid, outcome.Failure);
        Assert.InRange(outcome.ErrorOffset ?? -1, 0, broken.Length);
        Assert.Equal(0, outcome.Accepted);
        Assert.DoesNotContain("db2", _engine.Databases);
    }

    [Fact]
    public async Task AnEngineOverItsWriteBudgetRefusesBeforeReading()
    {
        await _engine.DisposeAsync();
        _engine = await Start(new WriteLimits(), maxBufferMemory: 64 << 10);
        var wide = string.Concat(Enumerable.Range(0, 1000).Select(i => $"w s=\"{new string('x', 100)}\" {1700000000000000000L + i}\n"));
        Assert.Null((await WriteAsync(wide)).Failure); // 100 KB of strings buffered

        var outcome = await WriteAsync(Lines(1));

        Assert.Equal(ErrorReason.Busy, outcome.Failure);
        Assert.Contains("ingest.max_memory is 65536", outcome.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The caller's body reader is only advanced to what was consumed, even though the parsers look at a partial last
    /// line or the first bytes of a short body without consuming them: Kestrel cannot hand its connection's pipe back
    /// after a read examined past what was consumed when the body then ends early, and the connection ends with a
    /// "Reading is already in progress" warning (dotnet/aspnetcore#19476).
    /// </summary>
    [Theory]
    [InlineData("line protocol", 7)]
    [InlineData("line protocol", 1)]
    [InlineData("msgpack", 1)]
    public async Task TheBodyReaderIsNeverLeftExaminedPastWhatWasConsumed(string format, int partSize)
    {
        var pipe = new Pipe();
        var body = new AdvanceRecorder(pipe.Reader);
        var writing = format == "msgpack"
            ? _engine.WriteMsgPackAsync(new WriteRequest("db", BodyCompression.Detect, null), body)
            : _engine.WriteLineProtocolAsync(new WriteRequest("db", BodyCompression.Detect, null), TimestampPrecision.Nanoseconds, body,
                CancellationToken.None);
        var bytes = format == "msgpack" ? MsgPackIngestAllocationTests.Columnar(6) : Encoding.UTF8.GetBytes("m v=1 1\nm v=2 2\nm v=3 3\nm,host=a v=");
        for (var offset = 0; offset < bytes.Length; offset += partSize)
        {
            await pipe.Writer.WriteAsync(bytes.AsMemory(offset, Math.Min(partSize, bytes.Length - offset)));
            await Task.Delay(1); // each part read on its own
        }

        await pipe.Writer.CompleteAsync();
        var outcome = await writing;

        Assert.True(outcome.Accepted > 0);
        Assert.True(body.Advances > 0);
        Assert.Equal(0, body.ExaminedPastConsumed);
    }

    private Task<ArcEngine> Start(WriteLimits limits, long maxBufferMemory = 64L << 20) => ArcEngine.StartAsync(new EngineOptions
    {
        DataPath = _directory,
        MaxBufferAge = TimeSpan.FromHours(1),
        MaxBufferMemory = maxBufferMemory,
        Writes = limits,
    });

    private Task<WriteOutcome> WriteAsync(string lines, BodyCompression compression = BodyCompression.None, int partSize = int.MaxValue) =>
        WriteAsync(Encoding.UTF8.GetBytes(lines), compression, partSize);

    /// <summary>Sends <paramref name="body"/> through a pipe in parts, as a connection delivers it.</summary>
    private async Task<WriteOutcome> WriteAsync(byte[] body, BodyCompression compression, int partSize = int.MaxValue)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 16 << 10, resumeWriterThreshold: 8 << 10));
        var writing = _engine.WriteLineProtocolAsync(new WriteRequest("db", compression, null), TimestampPrecision.Nanoseconds, pipe.Reader,
            CancellationToken.None);
        for (var offset = 0; offset < body.Length; offset += partSize)
        {
            var result = await pipe.Writer.WriteAsync(body.AsMemory(offset, Math.Min(partSize, body.Length - offset)));
            if (result.IsCompleted)
            {
                break; // the engine stopped reading
            }
        }

        await pipe.Writer.CompleteAsync();
        return await writing;
    }

    /// <summary><paramref name="count"/> lines of about 25 bytes each.</summary>
    private static string Lines(int count) =>
        string.Concat(Enumerable.Range(0, count).Select(i => $"m v={i % 1000} {1700000000000000000L + i}\n"));

    /// <summary>A body reader that counts its advances, and those that examined past what they consumed.</summary>
    private sealed class AdvanceRecorder(PipeReader inner) : PipeReader
    {
        public int Advances { get; private set; }

        public int ExaminedPastConsumed { get; private set; }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            Advances++;
            if (!consumed.Equals(examined))
            {
                ExaminedPastConsumed++;
            }

            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => inner.ReadAsync(cancellationToken);

        public override bool TryRead(out ReadResult result) => inner.TryRead(out result);
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}
