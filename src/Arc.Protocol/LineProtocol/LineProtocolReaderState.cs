using System.Runtime.InteropServices;

namespace Arc.Protocol.LineProtocol;

/// <summary>
/// What a <see cref="LineProtocolReader"/> must remember between calls over one request body (after an <c>await</c>):
/// the options, the line count, how far the unconsumed incomplete line was already scanned, and whether the rest of an
/// over-long line is being skipped. A plain struct: store it in the caller's loop and pass it to the next reader.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public struct LineProtocolReaderState
{
    private static readonly LineProtocolOptions DefaultOptions = new();

    private readonly LineProtocolOptions _options;
    private readonly bool _hasOptions;

    /// <summary>Starts reading a request body with <paramref name="options"/>.</summary>
    public LineProtocolReaderState(LineProtocolOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxLineLength, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxTagsPerLine, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxFieldsPerLine, 1, nameof(options));
        _ = TimestampPrecisions.NanosecondsPerUnit(options.Precision); // validates the enum value
        _options = options;
        _hasOptions = true;
    }

    /// <summary>The options of this request (the defaults for a <c>default</c> state).</summary>
    public readonly LineProtocolOptions Options => _hasOptions ? _options : DefaultOptions;

    /// <summary>Number of (physical) lines fully consumed so far.</summary>
    public readonly long LineNumber => Lines;

    /// <summary>Physical lines consumed so far.</summary>
    internal long Lines { get; set; }

    /// <summary>
    /// Bytes of the first unconsumed line that were already scanned without finding its end (0 when none). The next
    /// reader resumes the scan there with <see cref="PendingScan"/>, so a long line arriving in small pieces is scanned
    /// once, not once per piece.
    /// </summary>
    internal long PendingLength { get; set; }

    /// <summary>Line-end scanner state after <see cref="PendingLength"/> bytes.</summary>
    internal LineScanState PendingScan { get; set; }

    /// <summary>True while the rest of an over-long line (already reported) is being consumed and discarded.</summary>
    internal bool Skipping { get; set; }

    /// <summary>Line-end scanner state of the line being skipped.</summary>
    internal LineScanState SkipScan { get; set; }
}
