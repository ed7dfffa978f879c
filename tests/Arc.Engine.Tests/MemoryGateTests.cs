using Microsoft.Extensions.Time.Testing;

namespace Arc.Engine.Tests;

/// <summary>
/// The write budget (<see cref="EngineOptions.MaxBufferMemory"/>) is an awaitable gate: a writer over it waits until a
/// flush frees memory (woken by the flush, no polling), and gives up when the engine's clock passes its timeout.
/// </summary>
public sealed class MemoryGateTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-gate-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private ArcEngine _engine = null!;

    public async Task InitializeAsync() => _engine = await ArcEngine.StartAsync(new EngineOptions
    {
        DataPath = _directory,
        MaxBufferAge = TimeSpan.FromHours(1),
        MaxBufferMemory = 256 << 10, // Rows() uses it up; an emptied buffer does not
        Time = _clock,
    });

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task AWaitingWriterIsReleasedByTheFlush()
    {
        await EngineData.WriteAsync(_engine, Rows());
        Assert.True(_engine.IsOverMemoryBudget);
        var waiting = _engine.WaitForMemoryAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);

        await _engine.FlushAsync();
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task AWriterGivesUpWhenTheClockPassesItsTimeout()
    {
        await EngineData.WriteAsync(_engine, Rows());
        var waiting = _engine.WaitForMemoryAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(9));
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>5,000 rows with a 100-byte string each: over half a megabyte buffered.</summary>
    private static string Rows() =>
        string.Concat(Enumerable.Range(0, 5000).Select(i => $"m v={i},s=\"{new string('x', 100)}\" {1700000000000000000L + i}\n"));

    [Fact]
    public async Task AnEngineUnderItsBudgetDoesNotWait()
    {
        Assert.False(_engine.IsOverMemoryBudget);
        Assert.True(await _engine.WaitForMemoryAsync(TimeSpan.FromSeconds(10), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
