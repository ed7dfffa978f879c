using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Arc.Protocol.MessagePack;

/// <summary>
/// A MessagePack body that cannot be read on: malformed data (truncated, a reserved byte, a declared length beyond the
/// end), a value of the wrong type for its place, or a value the handler refused. Carries the byte offset of the value.
/// </summary>
public sealed class MsgPackFormatException : FormatException
{
    public MsgPackFormatException(long offset, MsgPackErrorKind kind, string message)
        : base(message)
    {
        Offset = offset;
        Kind = kind;
    }

    public MsgPackFormatException()
        : this(0, MsgPackErrorKind.Malformed, "invalid MessagePack")
    {
    }

    public MsgPackFormatException(string message)
        : this(0, MsgPackErrorKind.Malformed, message)
    {
    }

    public MsgPackFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>0-based byte offset of the offending value.</summary>
    public long Offset { get; }

    /// <summary>What kind of problem it is.</summary>
    public MsgPackErrorKind Kind { get; }

    /// <summary>The error as a value.</summary>
    public MsgPackError ToError() => new(Offset, Kind, Message);
}

/// <summary>Throw helpers: hot methods stay small enough to inline, and build no strings unless something is wrong.</summary>
internal static class MsgPackThrow
{
    [DoesNotReturn]
    [StackTraceHidden]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Malformed(long offset, string message) =>
        throw new MsgPackFormatException(offset, MsgPackErrorKind.Malformed, message);

    [DoesNotReturn]
    [StackTraceHidden]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Rejected(long offset, string message) =>
        throw new MsgPackFormatException(offset, MsgPackErrorKind.Rejected, message);

    [DoesNotReturn]
    [StackTraceHidden]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void TooLarge(long offset, string message) =>
        throw new MsgPackFormatException(offset, MsgPackErrorKind.TooLarge, message);

    [DoesNotReturn]
    [StackTraceHidden]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Truncated(long offset, long needed, long remaining) =>
        throw new MsgPackFormatException(offset, MsgPackErrorKind.Malformed,
            $"truncated: the value at offset {offset} needs {needed} more bytes, {remaining} remain");

    [DoesNotReturn]
    [StackTraceHidden]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void WrongType(long offset, string expected, byte code) =>
        throw new MsgPackFormatException(offset, MsgPackErrorKind.Malformed,
            $"expected {expected}, got {MsgPackReader.DescribeCode(code)}");
}
