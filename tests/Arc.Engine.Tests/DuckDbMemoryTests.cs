using Arc.Engine.Compaction;

namespace Arc.Engine.Tests;

/// <summary>
/// The two DuckDB instances' memory bounds are DuckDB's own settings (read back from DuckDB, not from the options), the
/// figures the metrics report are DuckDB's <c>duckdb_memory()</c>, and local files are not cached a second time.
/// </summary>
public sealed class DuckDbMemoryTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-duckmem-" + Guid.NewGuid().ToString("N"));
    private ArcEngine _engine = null!;

    public async Task InitializeAsync() => _engine = await ArcEngine.StartAsync(new EngineOptions
    {
        DataPath = _directory,
        DuckDbMemoryLimit = "300MB",
        Compaction = new CompactionOptions { Enabled = false, MemoryLimit = "200MB" },
    });

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task TheConfiguredLimitsAreWhatDuckDbRuns()
    {
        Assert.Equal("286.1 MiB", await EngineData.ScalarAsync(_engine, "SELECT current_setting('memory_limit')"));
        Assert.InRange(_engine.QueryDuckDbMemory().Limit, 299_900_000, 300_100_000);
        Assert.InRange(_engine.Compaction.DuckDbMemory().Limit, 199_900_000, 200_100_000);
    }

    [Fact]
    public async Task TheQueryInstancesFigureIsWhatDuckDbHolds()
    {
        await EngineData.WriteAsync(_engine, string.Concat(Enumerable.Range(0, 1000).Select(i => $"m,host=h{i % 10} v={i} {1_700_000_000_000_000_000L + i}\n")));
        await _engine.FlushAsync();
        Assert.Equal("1000", await EngineData.ScalarAsync(_engine, "SELECT count(*) FROM m"));
        var footers = long.Parse(await EngineData.ScalarAsync(_engine,
            "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'OBJECT_CACHE'"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(footers > 0, "the footer of the Parquet file the query read is cached");
        Assert.InRange(_engine.QueryDuckDbMemory().Used, footers, long.MaxValue);
        Assert.Equal("0", await EngineData.ScalarAsync(_engine,
            "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'EXTERNAL_FILE_CACHE'")); // the OS caches the file's bytes
    }

    [Fact]
    public async Task WithTheFooterCacheOffQueriesLeaveNoFooterBehind()
    {
        var directory = Path.Combine(Path.GetTempPath(), "arc-duckmem-" + Guid.NewGuid().ToString("N"));
        var engine = await ArcEngine.StartAsync(new EngineOptions
        {
            DataPath = directory,
            ParquetMetadataCache = false,
            Compaction = new CompactionOptions { Enabled = false },
        });
        try
        {
            await EngineData.WriteAsync(engine, string.Concat(Enumerable.Range(0, 1000).Select(i => $"m,host=h{i % 10} v={i} {1_700_000_000_000_000_000L + i}\n")));
            await engine.FlushAsync();
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal("1000", await EngineData.ScalarAsync(engine, "SELECT count(*) FROM m"));
            }

            Assert.Equal("false", await EngineData.ScalarAsync(engine, "SELECT current_setting('parquet_metadata_cache')::VARCHAR"));
            Assert.Equal("0", await EngineData.ScalarAsync(engine,
                "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'OBJECT_CACHE'"));
        }
        finally
        {
            await engine.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }
}
