using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Arc.Protocol.LineProtocol;

/// <summary>
/// Finds the bytes of a line that can end a token — <c>, = space \ " tab</c> — from a 64-bit mask per 64-byte window,
/// computed with one vector comparison pass per window (the idea of simdjson's structural index). A line has a few
/// dozen short tokens, so a per-token <c>IndexOfAny</c> would pay its setup cost each time; here each token end costs
/// a shift and a TrailingZeroCount. The caller decides which of these bytes matter in its context. Lookups must not go
/// backwards by more than the current window (the parser only moves forward).
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal ref struct SpecialByteIndex
{
    private const int Window = 64;

    private readonly ReadOnlySpan<byte> _line;
    private int _base;
    private ulong _mask;

    public SpecialByteIndex(ReadOnlySpan<byte> line)
    {
        _line = line;
        _base = -Window; // nothing loaded
        _mask = 0;
    }

    /// <summary>Index of the first special byte at or after <paramref name="from"/>, or the line length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Next(int from)
    {
        var rel = (uint)(from - _base);
        if (rel < Window)
        {
            var m = _mask >> (int)rel;
            if (m != 0)
            {
                return from + BitOperations.TrailingZeroCount(m);
            }

            from = _base + Window;
        }

        return NextSlow(from);
    }

    private int NextSlow(int from)
    {
        var length = _line.Length;
        while (from < length)
        {
            if (length - from >= Window)
            {
                _base = from;
                _mask = Compute(ref Unsafe.Add(ref MemoryMarshal.GetReference(_line), from));
            }
            else if (length >= Window)
            {
                // The last window overlaps the previous one so that it is a whole vector load.
                _base = length - Window;
                _mask = Compute(ref Unsafe.Add(ref MemoryMarshal.GetReference(_line), _base));
            }
            else
            {
                _base = 0;
                _mask = ComputeScalar(_line);
            }

            var m = _mask >> (from - _base);
            if (m != 0)
            {
                return from + BitOperations.TrailingZeroCount(m);
            }

            from = _base + Window;
        }

        return length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Compute(ref byte p)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            return Classify(Vector512.LoadUnsafe(ref p)).ExtractMostSignificantBits();
        }

        if (Vector256.IsHardwareAccelerated)
        {
            ulong lo = Classify(Vector256.LoadUnsafe(ref p)).ExtractMostSignificantBits();
            ulong hi = Classify(Vector256.LoadUnsafe(ref p, 32)).ExtractMostSignificantBits();
            return lo | (hi << 32);
        }

        if (Vector128.IsHardwareAccelerated)
        {
            ulong a = Classify(Vector128.LoadUnsafe(ref p)).ExtractMostSignificantBits();
            ulong b = Classify(Vector128.LoadUnsafe(ref p, 16)).ExtractMostSignificantBits();
            ulong c = Classify(Vector128.LoadUnsafe(ref p, 32)).ExtractMostSignificantBits();
            ulong d = Classify(Vector128.LoadUnsafe(ref p, 48)).ExtractMostSignificantBits();
            return a | (b << 16) | (c << 32) | (d << 48);
        }

        return ComputeScalar(MemoryMarshal.CreateReadOnlySpan(ref p, Window));
    }

    private static ulong ComputeScalar(ReadOnlySpan<byte> bytes)
    {
        ulong mask = 0;
        for (var i = 0; i < bytes.Length && i < Window; i++)
        {
            if (IsSpecial(bytes[i]))
            {
                mask |= 1UL << i;
            }
        }

        return mask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsSpecial(byte b) => b is (byte)',' or (byte)'=' or (byte)' ' or (byte)'\\' or (byte)'"' or (byte)'\t';

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Classify(Vector512<byte> v)
        => Vector512.Equals(v, Vector512.Create((byte)','))
            | Vector512.Equals(v, Vector512.Create((byte)'='))
            | Vector512.Equals(v, Vector512.Create((byte)' '))
            | Vector512.Equals(v, Vector512.Create((byte)'\\'))
            | Vector512.Equals(v, Vector512.Create((byte)'"'))
            | Vector512.Equals(v, Vector512.Create((byte)'\t'));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Classify(Vector256<byte> v)
        => Vector256.Equals(v, Vector256.Create((byte)','))
            | Vector256.Equals(v, Vector256.Create((byte)'='))
            | Vector256.Equals(v, Vector256.Create((byte)' '))
            | Vector256.Equals(v, Vector256.Create((byte)'\\'))
            | Vector256.Equals(v, Vector256.Create((byte)'"'))
            | Vector256.Equals(v, Vector256.Create((byte)'\t'));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Classify(Vector128<byte> v)
        => Vector128.Equals(v, Vector128.Create((byte)','))
            | Vector128.Equals(v, Vector128.Create((byte)'='))
            | Vector128.Equals(v, Vector128.Create((byte)' '))
            | Vector128.Equals(v, Vector128.Create((byte)'\\'))
            | Vector128.Equals(v, Vector128.Create((byte)'"'))
            | Vector128.Equals(v, Vector128.Create((byte)'\t'));
}
