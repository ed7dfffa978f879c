using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Arc.Native.Http;

/// <summary>
/// The memory pools Kestrel reads requests into and writes responses from, with 64 KiB blocks where Kestrel's own pool
/// has 4 KiB ones. Kestrel's socket transport receives into one block per <c>recv</c> call and, between two reads, waits
/// for data with a 1-byte <c>MSG_PEEK</c>: with 4 KiB blocks a line-protocol load of 200 MB/s made about 100,000 such
/// system calls a second (strace), and the receive path was 16 % of the server's CPU samples. Registered in place of
/// Kestrel's factory (<see cref="ArcServer"/>), so the transport and the HTTP layer use it; what its pools hold is
/// reported as <c>arc_http_pool_bytes</c>. Thread-safe.
/// </summary>
internal sealed class ReceiveBlockPoolFactory : IMemoryPoolFactory<byte>
{
    private readonly ConcurrentQueue<ReceiveBlockPool> _pools = new();
    private readonly ReceiveBlockPool.FreeBudget _budget = new();

    /// <summary>
    /// A pool sharing this factory's <see cref="ReceiveBlockPool.MaxRetained"/> free blocks with the others: Kestrel makes one
    /// per I/O queue of each listener (up to 16 on a large machine).
    /// </summary>
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
    {
        var pool = new ReceiveBlockPool(_budget);
        _pools.Enqueue(pool);
        return pool;
    }

    /// <summary>Bytes of the blocks the pools have lent out (requests and responses in flight) and keep free for reuse.</summary>
    public (long InUse, long Free) Bytes()
    {
        long inUse = 0, free = 0;
        foreach (var pool in _pools)
        {
            inUse += (long)pool.Rented * ReceiveBlockPool.BlockSize;
            free += (long)pool.Retained * ReceiveBlockPool.BlockSize;
        }

        return (inUse, free);
    }
}

/// <summary>
/// Pinned 64 KiB blocks (on the pinned object heap, as Kestrel's are, so sockets never pin them per call), kept for
/// reuse while the pools sharing a <see cref="FreeBudget"/> hold fewer than <see cref="MaxRetained"/> free blocks; a block
/// returned beyond that is left to the collector. A request body holds at most Kestrel's request buffer (1 MiB by default,
/// 16 blocks) before reading pauses, so the retained blocks cover the connections that are sending at once. Thread-safe.
/// </summary>
internal sealed class ReceiveBlockPool(ReceiveBlockPool.FreeBudget budget) : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;

    /// <summary>Free blocks kept for reuse by all the pools of one budget: 32 MiB.</summary>
    public const int MaxRetained = 512;

    private readonly ConcurrentQueue<Block> _free = new();
    private int _freeCount;
    private int _rented;
    private volatile bool _disposed;

    /// <summary>A pool with a budget of its own.</summary>
    public ReceiveBlockPool()
        : this(new FreeBudget())
    {
    }

    public override int MaxBufferSize => BlockSize;

    /// <summary>Free blocks held for reuse.</summary>
    public int Retained => Volatile.Read(ref _freeCount);

    /// <summary>Blocks lent out and not returned yet.</summary>
    public int Rented => Volatile.Read(ref _rented);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Interlocked.Increment(ref _rented);
        return TakeFree() ?? new Block(this);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        while (TakeFree() is not null)
        {
        }
    }

    private Block? TakeFree()
    {
        if (!_free.TryDequeue(out var block))
        {
            return null;
        }

        Interlocked.Decrement(ref _freeCount);
        budget.Taken();
        return block;
    }

    private void Return(Block block)
    {
        Interlocked.Decrement(ref _rented);
        if (_disposed)
        {
            return;
        }

        if (budget.TryKeep())
        {
            Interlocked.Increment(ref _freeCount);
            _free.Enqueue(block);
        }
    }

    /// <summary>The free blocks the pools sharing it may keep, <see cref="MaxRetained"/> in all.</summary>
    internal sealed class FreeBudget
    {
        private int _kept;

        public bool TryKeep()
        {
            if (Interlocked.Increment(ref _kept) <= MaxRetained)
            {
                return true;
            }

            Interlocked.Decrement(ref _kept);
            return false;
        }

        public void Taken() => Interlocked.Decrement(ref _kept);
    }

    /// <summary>One block; disposing it returns it to its pool (the pipes that rent blocks dispose each once).</summary>
    private sealed class Block(ReceiveBlockPool pool) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);

        public void Dispose() => pool.Return(this);
    }
}
