using System.Buffers;
using System.Text;
using Arc.Engine.Ingest;
using Arc.Engine.Query;
using Arc.Protocol.LineProtocol;

namespace Arc.Engine.Tests;

/// <summary>Writing line protocol into an engine and reading a value back, as a request would, without HTTP.</summary>
internal static class EngineData
{
    public const long Hour = 3_600_000_000_000;

    /// <summary>Parses <paramref name="lines"/> into a batch of <paramref name="database"/> and commits it.</summary>
    public static async Task WriteAsync(ArcEngine engine, string lines, string database = "db")
    {
        var batch = engine.RentBatch(database);
        var handler = new LineProtocolBatchHandler(batch);
        var reader = new LineProtocolReader(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(lines)), true,
            new LineProtocolReaderState(new LineProtocolOptions { DefaultTimestamp = 1 }));
        reader.Read(ref handler);
        Assert.Equal(0, batch.Rejected);
        await engine.CommitAsync(batch);
    }

    /// <summary>
    /// Asserts that <paramref name="sql"/> (in <c>db</c>) lists <paramref name="files"/> Parquet files to DuckDB and answers
    /// the one row <paramref name="answer"/>.
    /// </summary>
    public static async Task AssertOpensAsync(ArcEngine engine, string sql, int files, params string[] answer)
    {
        using (var cursor = await engine.Query.OpenAsync(sql, "db", CancellationToken.None))
        {
            Assert.True(cursor.FilesListed == files, $"{sql}: {cursor.FilesListed} files opened, {cursor.FilesPruned} left out; expected {files} opened");
        }

        Assert.Equal(answer, (await RowsAsync(engine, sql)).Single());
    }

    /// <summary>The first value of the first row of <paramref name="sql"/>, as its JSON output spells it.</summary>
    public static async Task<string> ScalarAsync(ArcEngine engine, string sql, string database = "db")
    {
        using var cursor = await engine.Query.OpenAsync(sql, database, CancellationToken.None);
        var output = new ArrayBufferWriter<byte>();
        await JsonQueryOutput.WriteAsync(cursor, output, () => ValueTask.CompletedTask, 0);
        using var json = System.Text.Json.JsonDocument.Parse(output.WrittenMemory);
        return json.RootElement.GetProperty("data")[0][0].ToString();
    }

    /// <summary>
    /// The rows of <paramref name="sql"/> run as the JSON query route runs it (<see cref="ArcEngine.RunQueryAsync"/>, no cache),
    /// each value as its JSON spells it (a string's text); a failed query fails the test with its message.
    /// </summary>
    public static async Task<List<string[]>> RowsAsync(ArcEngine engine, string sql, string database = "db")
    {
        var response = new RecordingQueryResponse();
        await engine.RunQueryAsync(new QueryRun(sql, database, QueryPriority.Normal, QueryOutputFormat.Json, QueryAccess.Full, "*", true,
            System.Diagnostics.Stopwatch.GetTimestamp()), response, CancellationToken.None);
        Assert.True(response.Completed);
        using var json = System.Text.Json.JsonDocument.Parse(response.Body);
        return json.RootElement.GetProperty("data").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString()! : v.GetRawText()).ToArray())
            .ToList();
    }

    /// <summary>
    /// Four flushed files of <paramref name="measurement"/> at <paramref name="time"/>, the first two holding the same point
    /// (<c>host=a</c>, written twice, <c>seq</c> 1 then 2), then <c>host=b</c> and <c>host=c</c>: the point is stored twice
    /// (checked: three rows before the last write) until a merge keeps its last write.
    /// </summary>
    public static async Task WriteAPointTwiceAsync(ArcEngine engine, string measurement, long time)
    {
        foreach (var (host, seq) in new[] { ("a", 1), ("a", 2), ("b", 3) })
        {
            await WriteAsync(engine, $"{measurement},host={host} seq={seq}i {time}\n");
            await engine.FlushAsync();
        }

        Assert.Equal("3", await ScalarAsync(engine, $"SELECT count(*) FROM {measurement}"));
        await WriteAsync(engine, $"{measurement},host=c seq=4i {time}\n");
        await engine.FlushAsync();
    }

    /// <summary>Polls <paramref name="condition"/> every 50 ms of real time until it holds, for at most <paramref name="within"/> (30 s).</summary>
    public static async Task WaitForAsync(Func<bool> condition, TimeSpan? within = null, Func<string>? state = null)
    {
        var limit = within ?? TimeSpan.FromSeconds(30);
        for (var waited = TimeSpan.Zero; waited < limit && !condition(); waited += TimeSpan.FromMilliseconds(50))
        {
            await Task.Delay(50);
        }

        Assert.True(condition(), $"the condition was not reached within {limit.TotalSeconds} s{(state is null ? "" : ": " + state())}");
    }

    /// <summary>The Parquet data files under <paramref name="directory"/>.</summary>
    public static string[] ParquetFiles(string directory) =>
        Directory.GetFiles(directory, "*.parquet", SearchOption.AllDirectories);
}
