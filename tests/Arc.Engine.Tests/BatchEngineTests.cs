namespace Arc.Engine.Tests;

/// <summary>
/// Base of the tests that fill write batches directly: an engine over a fresh temporary directory whose buffers never
/// flush on their own during a test (an hour's age, ten million rows), deleted afterwards.
/// </summary>
public abstract class BatchEngineTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "arc-batch-" + Guid.NewGuid().ToString("N"));

    protected ArcEngine Engine { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Engine = ArcEngine.Start(new EngineOptions { DataPath = _directory, MaxBufferAge = TimeSpan.FromHours(1), MaxBufferRows = 10_000_000 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
