using System.Globalization;
using System.Text;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Tests;

/// <summary>
/// Every usual time filter binds and answers exactly what DuckDB answers over the same rows with <c>time</c> as a
/// TIMESTAMPTZ: the rows (some in Parquet files, some still buffered) lie 5 minutes away from every bound a relative filter
/// draws, so <c>now()</c> moving between the two evaluations cannot change an answer. Nanoseconds are kept where a bound
/// has them. Engine level (the query route runs <see cref="ArcEngine.RunQueryAsync"/>, as <see cref="EngineData.RowsAsync"/>
/// does); QueryTests keeps the route itself.
/// </summary>
public sealed class TimeFilterTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-timefilter-" + Guid.NewGuid().ToString("N"));
    private ArcEngine _engine = null!;
    private DuckDbDatabase _reference = null!;
    private DuckDbConnection _connection = null!;
    private long _nowMicros;

    public async Task InitializeAsync()
    {
        _engine = await ArcEngine.StartAsync(new EngineOptions { DataPath = _directory, MaxBufferAge = TimeSpan.FromMinutes(10) });
        _reference = DuckDbDatabase.Open(null, []);
        _connection = _reference.Connect();
        _connection.Execute("SET TimeZone = 'UTC'");
        _connection.Execute("CREATE TABLE cpu (time TIMESTAMPTZ, host VARCHAR, v DOUBLE)");

        // Every 10 minutes for three days, at now - 5 min - k * 10 min (whole microseconds), two hosts; older half to files.
        _nowMicros = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        var older = new StringBuilder();
        var newer = new StringBuilder();
        var values = new StringBuilder();
        for (var k = 0; k < 432; k++)
        {
            var micros = _nowMicros - ((5 + (k * 10)) * 60_000_000L) - (k * 7919 % 1_000_000);
            foreach (var host in new[] { "a", "b" })
            {
                var v = (k * 3) + (host == "a" ? 0.5 : 0.25);
                (k >= 216 ? older : newer).Append(CultureInfo.InvariantCulture, $"cpu,host={host} v={v} {micros}000\n");
                values.Append(CultureInfo.InvariantCulture, $"{(values.Length == 0 ? "" : ",")}(make_timestamp({micros}::BIGINT)::TIMESTAMPTZ, '{host}', {v})");
            }
        }

        _connection.Execute($"INSERT INTO cpu VALUES {values}");
        await EngineData.WriteAsync(_engine, older.ToString(), "metrics");
        await _engine.FlushAsync();
        await EngineData.WriteAsync(_engine, newer.ToString(), "metrics");
    }

    public async Task DisposeAsync()
    {
        _connection.Dispose();
        _reference.Dispose();
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    public static TheoryData<string> Filters()
    {
        var t0 = DateTime.UtcNow.AddHours(-30);
        var seconds = (long)(t0 - DateTime.UnixEpoch).TotalSeconds / 600 * 600; // on a 10-minute boundary: 5 minutes from any row
        var at = DateTime.UnixEpoch.AddSeconds(seconds);
        var until = at.AddHours(12);
        string Iso(DateTime d) => d.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        string Plain(DateTime d) => d.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        return new TheoryData<string>
        {
            "time > now() - INTERVAL 1 HOUR",
            "time > now() - INTERVAL '1 hour'",
            "time >= current_timestamp - INTERVAL '6 hours'",
            "time > get_current_timestamp() - INTERVAL 2 DAY AND time < now() - INTERVAL 1 DAY",
            $"time > to_timestamp({seconds})",
            $"time > epoch_ms({seconds * 1000})",
            $"time > make_timestamp({at.Year}, {at.Month}, {at.Day}, {at.Hour}, {at.Minute}, {at.Second})",
            $"time > TIMESTAMP '{Plain(at)}'",
            $"time > TIMESTAMPTZ '{Plain(at.AddHours(2))}+02'",
            $"time >= '{Iso(at)}' AND time < '{Iso(until)}'",
            $"time BETWEEN to_timestamp({seconds}) AND now()",
            $"time BETWEEN '{Iso(at)}' AND TIMESTAMPTZ '{Plain(until)}+00'",
            "now() - INTERVAL 3 HOUR < time",
            $"time IN (SELECT max(time) FROM cpu) OR time > to_timestamp({seconds + 36000})",
            "host = 'a' AND time > now() - INTERVAL 90 MINUTE",
        };
    }

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task FiltersAnswerWhatDuckDbAnswersWithTimeAsTimestampTz(string filter)
    {
        var sql = $"SELECT count(*), sum(v), min(epoch_us(time)), max(epoch_us(time)) FROM cpu WHERE {filter}";
        var expected = _connection.QueryStrings(sql).Single();
        var actual = (await EngineData.RowsAsync(_engine, sql, "metrics")).Single();
        Assert.True(long.Parse(expected[0]!, CultureInfo.InvariantCulture) > 0, $"{filter}: the reference selects no row");
        Assert.Equal(expected.Select(Normalize), actual.Select(Normalize));
    }

    [Theory]
    [InlineData("time_bucket(INTERVAL '5 minutes', time)")]
    [InlineData("time_bucket(INTERVAL 1 HOUR, time)")]
    [InlineData("date_trunc('hour', time)")]
    [InlineData("to_timestamp((epoch_ns(time) // 1000000000 // 300) * 300)")] // Grafana's $__timeGroup(time, 5m)
    public async Task BucketsMatch(string bucket)
    {
        var reference = bucket.Replace("epoch_ns(time)", "epoch_ns(time::TIMESTAMP_NS)", StringComparison.Ordinal);
        var sql = "SELECT epoch_us({0}) AS b, count(*), sum(v) FROM cpu WHERE time > now() - INTERVAL 6 HOUR GROUP BY b ORDER BY b";
        var expected = _connection.QueryStrings(string.Format(CultureInfo.InvariantCulture, sql, reference));
        var actual = await EngineData.RowsAsync(_engine, string.Format(CultureInfo.InvariantCulture, sql, bucket), "metrics");
        Assert.True(expected.Count > 5);
        Assert.Equal(expected.Select(r => r.Select(Normalize)), actual.Select(r => r.Select(Normalize)));
    }

    [Fact]
    public async Task JoinsAndSubqueriesBindAndNanosecondsAreKept()
    {
        var joined = await EngineData.RowsAsync(_engine,
            "SELECT count(*) FROM cpu c JOIN (SELECT now() - INTERVAL 2 HOUR AS t0) b ON c.time > b.t0", "metrics");
        Assert.Equal([["24"]], joined);
        var nested = await EngineData.RowsAsync(_engine,
            "SELECT count(*) FROM (SELECT * FROM cpu WHERE time > now() - INTERVAL 3 HOUR) WHERE host IN (SELECT host FROM cpu WHERE time < now())",
            "metrics");
        Assert.Equal([["36"]], nested);

        // A nanosecond-precise bound on nanosecond-precise data: TIMESTAMP_NS is compared, not truncated to microseconds.
        await EngineData.WriteAsync(_engine, "m v=1 1700000000123456789\nm v=2 1700000000123456790\n", "ns");
        Assert.Equal([["1"]], await EngineData.RowsAsync(_engine, "SELECT count(*) FROM m WHERE time > '2023-11-14T22:13:20.123456789Z'", "ns"));
        Assert.Equal([["2"]], await EngineData.RowsAsync(_engine, "SELECT count(*) FROM m WHERE time > TIMESTAMPTZ '2023-11-14 22:13:20.123456+00'", "ns"));
        Assert.Equal([["1700000000123456790"]], await EngineData.RowsAsync(_engine, "SELECT max(epoch_ns(time)) FROM m WHERE time < now()", "ns"));

        // A 'time' that is a CTE's TIMESTAMPTZ still compares as DuckDB compares it (the client's text runs as written).
        Assert.Equal([["1"]], await EngineData.RowsAsync(_engine, "WITH t AS (SELECT now() AS time) SELECT count(*) FROM t WHERE time > now() - INTERVAL 1 HOUR"));
    }

    private static string Normalize(string? value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
            ? number.ToString("R", CultureInfo.InvariantCulture)
            : value ?? "null";
}
