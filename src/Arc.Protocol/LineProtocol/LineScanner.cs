using System.Buffers;
using System.Runtime.InteropServices;

namespace Arc.Protocol.LineProtocol;

/// <summary>Where <see cref="LineScanner"/> is within a logical line.</summary>
internal enum ScanMode : byte
{
    /// <summary>Leading spaces and tabs.</summary>
    Start,
    /// <summary>Measurement and tag set, up to the first unescaped space.</summary>
    Head,
    /// <summary>Whitespace before the first field key.</summary>
    FieldsStart,
    /// <summary>A field key, up to an unescaped <c>=</c>.</summary>
    FieldKey,
    /// <summary>The first byte of a field value.</summary>
    ValueStart,
    /// <summary>An unquoted field value (number or boolean).</summary>
    Unquoted,
    /// <summary>Inside a double-quoted string value: a newline here does not end the line.</summary>
    String,
    /// <summary>The byte after a closing quote.</summary>
    AfterString,
    /// <summary>The timestamp, a comment, or the rest of a line already known to be bad: ends at the next newline.</summary>
    Tail,
}

/// <summary>Resumable state of the line-end scanner.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct LineScanState
{
    public long Newlines;
    public ScanMode Mode;
    public bool Escape;
}

/// <summary>
/// Finds the newline that ends a logical line. Line protocol allows a newline inside a quoted string field value, so a
/// line that contains a quote is scanned with the same tokenisation as the parser: a byte preceded by a backslash is
/// not a delimiter in the measurement, tag set and field keys; inside a string, a backslash escapes the next byte;
/// a newline always ends the line outside a string. The scanner only tracks where strings are; validation is the
/// parser's job, so on a malformed line both agree up to the parser's first error.
/// </summary>
internal static class LineScanner
{
    private static readonly SearchValues<byte> HeadStops = SearchValues.Create(" \n\\"u8);
    private static readonly SearchValues<byte> KeyStops = SearchValues.Create("=, \n\\"u8);
    private static readonly SearchValues<byte> UnquotedStops = SearchValues.Create(", \n"u8);
    private static readonly SearchValues<byte> StringStops = SearchValues.Create("\"\\\n"u8);

    /// <summary>
    /// Scans <paramref name="span"/>, which continues the line described by <paramref name="state"/>. Returns the index
    /// of the newline that ends the line, or -1 when the whole span belongs to the line (state then covers it).
    /// </summary>
    public static int FindEnd(ReadOnlySpan<byte> span, ref LineScanState state)
    {
        var i = 0;
        while ((uint)i < (uint)span.Length)
        {
            int k;
            byte b;
            switch (state.Mode)
            {
                case ScanMode.Start:
                    k = span[i..].IndexOfAnyExcept((byte)' ', (byte)'\t');
                    if (k < 0)
                    {
                        return -1;
                    }

                    i += k;
                    state.Mode = span[i] == (byte)'#' ? ScanMode.Tail : ScanMode.Head;
                    break;

                case ScanMode.Head:
                case ScanMode.FieldKey:
                    if (state.Escape)
                    {
                        // The byte after a backslash is never a delimiter, but a newline still ends the line and a
                        // second backslash escapes the byte after it.
                        state.Escape = false;
                        b = span[i];
                        if (b == (byte)'\n')
                        {
                            return i;
                        }

                        i++;
                        state.Escape = b == (byte)'\\';
                        break;
                    }

                    k = span[i..].IndexOfAny(state.Mode == ScanMode.Head ? HeadStops : KeyStops);
                    if (k < 0)
                    {
                        return -1;
                    }

                    i += k;
                    b = span[i];
                    if (b == (byte)'\n')
                    {
                        return i;
                    }

                    i++;
                    if (b == (byte)'\\')
                    {
                        state.Escape = true;
                    }
                    else if (state.Mode == ScanMode.Head)
                    {
                        state.Mode = ScanMode.FieldsStart;
                    }
                    else
                    {
                        // '=' starts the value; an unescaped space or comma in a key is an error for the parser.
                        state.Mode = b == (byte)'=' ? ScanMode.ValueStart : ScanMode.Tail;
                    }

                    break;

                case ScanMode.FieldsStart:
                    k = span[i..].IndexOfAnyExcept((byte)' ', (byte)'\t');
                    if (k < 0)
                    {
                        return -1;
                    }

                    i += k;
                    state.Mode = ScanMode.FieldKey;
                    break;

                case ScanMode.ValueStart:
                    if (span[i] == (byte)'"')
                    {
                        i++;
                        state.Mode = ScanMode.String;
                    }
                    else
                    {
                        state.Mode = ScanMode.Unquoted;
                    }

                    break;

                case ScanMode.Unquoted:
                    k = span[i..].IndexOfAny(UnquotedStops);
                    if (k < 0)
                    {
                        return -1;
                    }

                    i += k;
                    b = span[i];
                    if (b == (byte)'\n')
                    {
                        return i;
                    }

                    i++;
                    state.Mode = b == (byte)',' ? ScanMode.FieldKey : ScanMode.Tail;
                    break;

                case ScanMode.String:
                    if (state.Escape)
                    {
                        state.Escape = false;
                        if (span[i] == (byte)'\n')
                        {
                            state.Newlines++;
                        }

                        i++;
                        break;
                    }

                    k = span[i..].IndexOfAny(StringStops);
                    if (k < 0)
                    {
                        return -1;
                    }

                    i += k;
                    b = span[i];
                    i++;
                    if (b == (byte)'"')
                    {
                        state.Mode = ScanMode.AfterString;
                    }
                    else if (b == (byte)'\\')
                    {
                        state.Escape = true;
                    }
                    else
                    {
                        state.Newlines++;
                    }

                    break;

                case ScanMode.AfterString:
                    b = span[i];
                    if (b == (byte)'\n')
                    {
                        return i;
                    }

                    i++;
                    state.Mode = b == (byte)',' ? ScanMode.FieldKey : ScanMode.Tail;
                    break;

                default:
                    k = span[i..].IndexOf((byte)'\n');
                    return k < 0 ? -1 : i + k;
            }
        }

        return -1;
    }
}
