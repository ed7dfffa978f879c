namespace Arc.Engine.Tests;

/// <summary>
/// Engines a test starts under one temporary root: each is disposed at the end unless the test stopped it itself, and the
/// root goes with them.
/// </summary>
internal sealed class TempEngines(string prefix) : IAsyncDisposable
{
    private readonly List<ArcEngine> _engines = [];

    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"arc-{prefix}-" + Guid.NewGuid().ToString("N"));

    public async Task<ArcEngine> StartAsync(EngineOptions options)
    {
        var engine = await ArcEngine.StartAsync(options);
        _engines.Add(engine);
        return engine;
    }

    /// <summary>Disposes <paramref name="engine"/> now (a clean stop, as before a restart).</summary>
    public async Task StopAsync(ArcEngine engine)
    {
        await engine.DisposeAsync();
        _engines.Remove(engine);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var engine in _engines)
        {
            await engine.DisposeAsync();
        }

        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
