using System.Runtime.InteropServices;
using System.Text;

namespace Arc.Protocol.LineProtocol;

/// <summary>Why and where one line of a write request was rejected. The line is skipped; the next line is read.</summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct LineProtocolError
{
    /// <summary>Client-supplied names longer than this (in UTF-16 chars) are truncated in <see cref="Detail"/>.</summary>
    internal const int MaxDetailLength = 128;

    private readonly string? _message;

    internal LineProtocolError(long line, int column, LineErrorKind kind, string? detail, string message)
    {
        Line = line;
        Column = column;
        Kind = kind;
        Detail = detail;
        _message = message;
    }

    /// <summary>1-based number of the (first physical) line of the rejected line in the request body.</summary>
    public long Line { get; }

    /// <summary>1-based byte column within the line where the problem was found.</summary>
    public int Column { get; }

    /// <summary>What is wrong.</summary>
    public LineErrorKind Kind { get; }

    /// <summary>
    /// The offending tag or field key (unescaped, control characters escaped, truncated), when the error concerns one;
    /// for <see cref="LineErrorKind.Rejected"/> the handler's reason. Null otherwise.
    /// </summary>
    public string? Detail { get; }

    /// <summary>A human-readable description, e.g. <c>invalid value for field 'usage'</c>.</summary>
    public string Message => _message ?? (Kind == LineErrorKind.Rejected ? Detail ?? "rejected" : Kind.ToString());

    /// <summary>Creates an error for a line the handler refused (schema rules, type conflicts, limits).</summary>
    public static LineProtocolError Rejected(long line, int column, string detail)
        => new(line, column, LineErrorKind.Rejected, detail, detail);

    /// <inheritdoc/>
    public override string ToString() => $"line {Line}, column {Column}: {Message}";

    /// <summary>Turns client bytes into a short, printable string for error details (log and response injection safety).</summary>
    internal static string Sanitize(ReadOnlySpan<byte> utf8)
    {
        var truncated = false;
        if (utf8.Length > MaxDetailLength * 4)
        {
            utf8 = utf8[..(MaxDetailLength * 4)];
            truncated = true;
        }

        var text = Encoding.UTF8.GetString(utf8);
        var sb = new StringBuilder(Math.Min(text.Length, MaxDetailLength) + 8);
        foreach (var c in text)
        {
            if (sb.Length >= MaxDetailLength)
            {
                truncated = true;
                break;
            }

            if (c < 0x20 || c == 0x7F)
            {
                sb.Append("\\x").Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        if (truncated)
        {
            sb.Append('…');
        }

        return sb.ToString();
    }
}
