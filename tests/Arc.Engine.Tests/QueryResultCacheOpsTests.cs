using System.Text;
using Arc.Engine.Metrics;
using Arc.Engine.Query;
using Arc.Engine.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

public sealed class QueryResultCacheOpsTests
{
    private static CachedQueryResult Result(string text) => new(Encoding.UTF8.GetBytes(text), "application/json");

    private static QueryDependencies On(DataVersions versions, params (string Database, string Measurement)[] measurements) =>
        new(measurements.Select(m => (m.Database, m.Measurement, versions.Current(m.Database, m.Measurement))).ToList());

    [Fact]
    public void KeysNormalizeWhitespaceOutsideQuotesOnly()
    {
        Assert.Equal(QueryResultCache.Key("json", "db", "*", "SELECT  *\n FROM cpu ;"), QueryResultCache.Key("json", "db", "*", " SELECT * FROM cpu"));
        Assert.NotEqual(QueryResultCache.Key("json", "db", "*", "SELECT 'a  b'"), QueryResultCache.Key("json", "db", "*", "SELECT 'a b'"));
        Assert.Equal("SELECT 'it''s  x' FROM \"my  table\"", QueryResultCache.NormalizeSql("SELECT   'it''s  x'\tFROM  \"my  table\";;"));
        Assert.NotEqual(QueryResultCache.Key("json", "db", "*", "SELECT 1"), QueryResultCache.Key("csv", "db", "*", "SELECT 1"));
        Assert.NotEqual(QueryResultCache.Key("json", "a", "*", "SELECT 1"), QueryResultCache.Key("json", "b", "*", "SELECT 1"));
        Assert.NotEqual(QueryResultCache.Key("json", "a", "*", "SELECT 1"), QueryResultCache.Key("json", "a", "a", "SELECT 1"));
    }

    [Fact]
    public void AChangeToAMeasurementReadRemovesItsEntriesAndOnlyThose()
    {
        var versions = new DataVersions();
        var cache = new QueryResultCache(versions, 1 << 20, TimeSpan.FromMinutes(5), 1 << 20);
        Assert.True(cache.Store("a", Result("[1]"), On(versions, ("db", "cpu"))));
        Assert.True(cache.Store("b", Result("[2]"), On(versions, ("db", "mem"), ("other", "cpu"))));
        Assert.True(cache.TryGet("a", out var hit));
        Assert.Equal("[1]", Encoding.UTF8.GetString(hit.Body));

        versions.Bump("DB", "CPU"); // names compare ignoring case, as in DuckDB
        Assert.False(cache.TryGet("a", out _));
        Assert.True(cache.TryGet("b", out _));
        versions.Bump("other", "cpu");
        Assert.False(cache.TryGet("b", out _));
        var stats = cache.Stats();
        Assert.Equal((0L, 0L, 2L, 2L, 2L), (stats.Entries, stats.Bytes, stats.Invalidations, stats.Hits, stats.Misses));
    }

    [Fact]
    public void AResultReadBeforeAChangeIsNeverStoredOrServed()
    {
        // The race the versions close: a query reads version v, a commit lands (v+1), then the query finishes.
        var versions = new DataVersions();
        var cache = new QueryResultCache(versions, 1 << 20, TimeSpan.FromMinutes(5), 1 << 20);
        var before = On(versions, ("db", "cpu"));
        versions.Bump("db", "cpu");
        Assert.False(cache.Store("a", Result("stale"), before));
        Assert.False(cache.TryGet("a", out _));
        Assert.Equal(1, cache.Stats().Rejected);
    }

    [Fact]
    public void EntriesExpireAfterTheTtl()
    {
        var versions = new DataVersions();
        var clock = new FakeTimeProvider();
        var cache = new QueryResultCache(versions, 1 << 20, TimeSpan.FromSeconds(60), 1 << 20, clock);
        cache.Store("a", Result("[1]"), On(versions, ("db", "cpu")));
        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.True(cache.TryGet("a", out _));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(cache.TryGet("a", out _));
        Assert.Equal(1, cache.Stats().Expirations);
    }

    [Fact]
    public void TheSizeBoundEvictsTheLeastRecentlyUsed()
    {
        var versions = new DataVersions();
        var body = new string('x', 1000);
        var cache = new QueryResultCache(versions, 5000, TimeSpan.FromMinutes(5), 2000);
        Assert.False(cache.Store("huge", Result(new string('y', 2001)), On(versions, ("db", "cpu")))); // over max_entry_size
        for (var i = 0; i < 3; i++)
        {
            Assert.True(cache.Store($"k{i}", Result(body), On(versions, ("db", "cpu"))));
        }

        Assert.True(cache.TryGet("k0", out _)); // k1 is now the least recently used
        Assert.True(cache.Store("k3", Result(body), On(versions, ("db", "cpu"))));
        Assert.True(cache.Stats().Bytes <= 5000);
        Assert.False(cache.TryGet("k1", out _));
        Assert.True(cache.TryGet("k0", out _));
        Assert.True(cache.TryGet("k3", out _));
        Assert.True(cache.Stats().Evictions >= 1);
        Assert.Equal(cache.Stats().Entries, cache.Clear());
        Assert.Equal(0, cache.Stats().Bytes);
    }

    [Fact]
    public void PrometheusWriterEscapesAndKeepsFamiliesTogether()
    {
        var histogram = new Histogram([0.1, 1]);
        histogram.Observe(0.0625);
        histogram.Observe(0.5);
        histogram.Observe(4);
        var writer = new PrometheusWriter()
            .Family("m_total", "counter", "help with \\ and\nnewline").Sample("m_total", 3, ("l", "a\"b\\c\nd"))
            .Family("h_seconds", "histogram", "h").Histogram("h_seconds", histogram, ("x", "y"));
        Assert.Equal("""
            # HELP m_total help with \\ and\nnewline
            # TYPE m_total counter
            m_total{l="a\"b\\c\nd"} 3
            # HELP h_seconds h
            # TYPE h_seconds histogram
            h_seconds_bucket{x="y",le="0.1"} 1
            h_seconds_bucket{x="y",le="1"} 2
            h_seconds_bucket{x="y",le="+Inf"} 3
            h_seconds_sum{x="y"} 4.5625
            h_seconds_count{x="y"} 3

            """.Replace("\r\n", "\n", StringComparison.Ordinal), writer.ToString());
        Assert.Throws<InvalidOperationException>(() => writer.Sample("m_total", 1)); // m_total's family is closed
    }
}
