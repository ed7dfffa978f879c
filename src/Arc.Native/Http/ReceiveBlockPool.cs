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

    public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
    {
        var pool = new ReceiveBlockPool();
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
/// reuse up to <see cref="MaxRetained"/> blocks; a block returned beyond that is left to the collector. A request body holds
/// at most Kestrel's request buffer (1 MiB by default, 16 blocks) before reading pauses, so the retained blocks cover the
/// connections that are sending at once. Thread-safe.
/// </summary>
internal sealed class ReceiveBlockPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;

    /// <summary>Free blocks kept for reuse: 16 MiB.</summary>
    public const int MaxRetained = 256;

    private readonly ConcurrentQueue<Block> _free = new();
    private int _freeCount;
    private int _rented;
    private volatile bool _disposed;

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
        if (_free.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _freeCount);
            return block;
        }

        return new Block(this);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _free.Clear();
        Volatile.Write(ref _freeCount, 0);
    }

    private void Return(Block block)
    {
        Interlocked.Decrement(ref _rented);
        if (_disposed)
        {
            return;
        }

        if (Interlocked.Increment(ref _freeCount) <= MaxRetained)
        {
            _free.Enqueue(block);
            return;
        }

        Interlocked.Decrement(ref _freeCount);
    }

    /// <summary>One block; disposing it returns it to its pool (the pipes that rent blocks dispose each once).</summary>
    private sealed class Block(ReceiveBlockPool pool) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);

        public void Dispose() => pool.Return(this);
    }
}
