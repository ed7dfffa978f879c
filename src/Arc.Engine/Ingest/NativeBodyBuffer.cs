using System.Buffers;
using System.Runtime.InteropServices;

namespace Arc.Engine.Ingest;

/// <summary>
/// A request body held whole in native memory, for the MessagePack decoder (which reads one contiguous span). It grows by
/// doubling with <c>realloc</c>, up to a fixed maximum, and its memory goes back to the operating system on
/// <see cref="IDisposable.Dispose"/>. Why not pooled arrays: a compression bomb grew a pooled array to the decompression cap
/// by doubling copies (two arrays alive at each step), and <c>ArrayPool.Shared</c> then kept the largest rentals, so the
/// process held the peak of the worst request ever seen (4.4 GB after one 39 KB zstd body). Here a large buffer is its
/// own mapping (glibc serves it with mmap, grows it with mremap, which moves pages instead of copying them, and unmaps
/// it on free): only the bytes written are resident, and none stay after the request.
/// </summary>
internal sealed unsafe class NativeBodyBuffer : MemoryManager<byte>
{
    private readonly int _maxCapacity;
    private byte* _pointer;
    private int _capacity;

    /// <param name="initialCapacity">The first allocation (clamped to 1 .. <paramref name="maxCapacity"/>).</param>
    /// <param name="maxCapacity">The most it may grow to.</param>
    public NativeBodyBuffer(long initialCapacity, int maxCapacity)
    {
        _maxCapacity = maxCapacity;
        _capacity = (int)Math.Clamp(initialCapacity, 1, maxCapacity);
        _pointer = (byte*)NativeMemory.Alloc((nuint)_capacity);
    }

    /// <summary>Bytes written so far.</summary>
    public int Length { get; private set; }

    /// <summary>The bytes written so far (valid until the next <see cref="GetFreeMemory"/> or the disposal).</summary>
    public ReadOnlySpan<byte> WrittenSpan => new(_pointer, Length);

    /// <summary>
    /// Memory after what was written, for the next read to fill (then <see cref="Advance"/>). Grows the buffer when it is
    /// full; empty once it is full at its maximum capacity.
    /// </summary>
    public Memory<byte> GetFreeMemory()
    {
        if (Length == _capacity && _capacity < _maxCapacity)
        {
            var grown = (int)Math.Min(_capacity * 2L, _maxCapacity);
            _pointer = (byte*)NativeMemory.Realloc(_pointer, (nuint)grown);
            _capacity = grown;
        }

        return CreateMemory(Length, _capacity - Length);
    }

    /// <summary>Counts <paramref name="count"/> bytes of the free memory as written.</summary>
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _capacity - Length);
        Length += count;
    }

    public override Span<byte> GetSpan() => new(_pointer, _capacity);

    // Native memory does not move (while no read is in flight, which is when GetFreeMemory may reallocate it).
    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        NativeMemory.Free(_pointer);
        _pointer = null;
        _capacity = 0;
        Length = 0;
    }
}
