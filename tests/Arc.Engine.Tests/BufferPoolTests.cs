using Arc.Engine.Buffers;

namespace Arc.Engine.Tests;

/// <summary>
/// The column buffers' pool keeps free arrays up to its bound and hands them out again; what is returned beyond the bound
/// is dropped (left to the garbage collector), so what the pool holds never exceeds <c>ingest.buffer_pool_size</c>.
/// </summary>
public sealed class BufferPoolTests
{
    [Fact]
    public void FreeArraysAreKeptUpToTheBoundAndReused()
    {
        var pool = new BufferPool(maxRetainedBytes: 3 << 20);
        var arrays = Enumerable.Range(0, 5).Select(_ => pool.Rent((1 << 20) - 100)).ToList();
        Assert.All(arrays, a => Assert.Equal(1 << 20, a.Length));
        Assert.Equal(0, pool.RetainedBytes);

        arrays.ForEach(pool.Return);
        Assert.Equal(3 << 20, pool.RetainedBytes); // three kept, two dropped

        var again = Enumerable.Range(0, 4).Select(_ => pool.Rent(1 << 20)).ToList();
        Assert.Equal(3, again.Count(a => arrays.Any(kept => ReferenceEquals(kept, a))));
        Assert.Equal(0, pool.RetainedBytes);
    }

    [Fact]
    public void ArraysOfEverySizeShareTheOneBound()
    {
        var pool = new BufferPool(maxRetainedBytes: 100_000);
        var arrays = new[] { 16, 1000, 4096, 65536, 65536 }.Select(pool.Rent).ToList();
        arrays.ForEach(pool.Return);
        Assert.Equal(16 + 1024 + 4096 + 65536, pool.RetainedBytes); // the second 64 KiB array would pass the bound
        pool.Return(new byte[1000]); // not a size the pool hands out: not kept
        Assert.Equal(16 + 1024 + 4096 + 65536, pool.RetainedBytes);
    }

    [Fact]
    public void AZeroBoundKeepsNothing()
    {
        var pool = new BufferPool(maxRetainedBytes: 0);
        var array = pool.Rent(100);
        pool.Return(array);
        Assert.Equal(0, pool.RetainedBytes);
        Assert.NotSame(array, pool.Rent(100));
    }
}
