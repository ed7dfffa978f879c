namespace Arc.Engine.Buffers;

/// <summary>
/// The arrays behind the column buffers, kept for reuse up to a total size (<c>ingest.buffer_pool_size</c>). The shared
/// <c>ArrayPool</c> keeps up to 32 arrays of every power-of-two size per core and lets them go only when a gen-2 collection
/// finds them unused for a minute: after a burst (buffers grown while flushes fell behind, the copies queries take of
/// them) it held gigabytes that no collection ever came to free at rest. This pool keeps free arrays up to
/// <see cref="MaxRetainedBytes"/> and leaves the rest to the garbage collector.
/// </summary>
internal sealed class BufferPool
{
    private const int MinShift = 4; // 16 bytes, the smallest array handed out
    private const int BucketCount = 27; // 16 B .. 1 GB

    private readonly Stack<byte[]>[] _buckets = Enumerable.Range(0, BucketCount).Select(_ => new Stack<byte[]>()).ToArray();
    private long _retained;

    public BufferPool(long maxRetainedBytes) => MaxRetainedBytes = maxRetainedBytes;

    /// <summary>The pool the column buffers use; the engine sets its bound when it starts.</summary>
    public static BufferPool Shared { get; } = new(EngineOptions.DefaultBufferPoolBytes);

    /// <summary>The most bytes of free arrays kept; an array returned beyond it is dropped.</summary>
    public long MaxRetainedBytes { get; set; }

    /// <summary>Bytes of free arrays held now.</summary>
    public long RetainedBytes => Volatile.Read(ref _retained);

    /// <summary>An array of at least <paramref name="minimumLength"/> bytes (a power of two up to 1 GB), not cleared.</summary>
    public byte[] Rent(int minimumLength)
    {
        var index = Bucket(minimumLength);
        if (index >= BucketCount)
        {
            return GC.AllocateUninitializedArray<byte>(minimumLength);
        }

        var bucket = _buckets[index];
        lock (bucket)
        {
            if (bucket.TryPop(out var array))
            {
                Interlocked.Add(ref _retained, -array.Length);
                return array;
            }
        }

        return GC.AllocateUninitializedArray<byte>(1 << (index + MinShift));
    }

    /// <summary>Gives an array from <see cref="Rent"/> back; kept while the free arrays stay within the bound.</summary>
    public void Return(byte[] array)
    {
        var index = Bucket(array.Length);
        if (array.Length < 1 << MinShift || index >= BucketCount || array.Length != 1 << (index + MinShift))
        {
            return;
        }

        if (Interlocked.Add(ref _retained, array.Length) > MaxRetainedBytes)
        {
            Interlocked.Add(ref _retained, -array.Length);
            return;
        }

        var bucket = _buckets[index];
        lock (bucket)
        {
            bucket.Push(array);
        }
    }

    private static int Bucket(int length) => length <= 1 << MinShift ? 0 : 32 - int.LeadingZeroCount(length - 1) - MinShift;
}
