namespace Arc.Engine.Tests;

/// <summary>
/// Tests that run alone, after the parallel ones: allocation counts rely on ArrayPool.Shared still holding the buffers a
/// warm-up returned, and tests that rent large arrays on other threads (the msgpack encoders, Parquet flushes) take them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationSensitiveCollection
{
    public const string Name = "allocation-sensitive";
}
