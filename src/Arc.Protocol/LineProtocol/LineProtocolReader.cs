using System.Buffers;
using System.Runtime.CompilerServices;

namespace Arc.Protocol.LineProtocol;

/// <summary>
/// Reads InfluxDB line protocol (1.x/2.x) from a <see cref="ReadOnlySequence{T}"/>, e.g. a <c>PipeReader</c> buffer,
/// delivering each valid line to a handler and reporting each bad line with its line number and byte column.
/// <para>
/// Resumable like <c>Utf8JsonReader</c>: every complete line is consumed (plus, when <c>isFinalBlock</c>, a last line
/// without a newline); an incomplete last line is left unconsumed (<see cref="Position"/> is before it) and
/// <see cref="CurrentState"/> carries what the next reader needs. The next reader must be given the same unconsumed
/// bytes followed by more data:
/// </para>
/// <code>
/// var lp = new LineProtocolReader(result.Buffer, result.IsCompleted, state);
/// lp.Read(ref handler);
/// state = lp.CurrentState;
/// pipe.AdvanceTo(lp.Position, result.Buffer.End);
/// </code>
/// <para>
/// A line that lies in one segment is parsed in place; one that straddles segments is copied once to a pooled buffer. A line longer than <see cref="LineProtocolOptions.MaxLineLength"/> is reported once and consumed as it
/// arrives, across calls, so the caller never buffers more than about that many bytes of it. If the handler throws,
/// the reader and its state must not be used again.
/// </para>
/// </summary>
public ref struct LineProtocolReader
{
    private static readonly SearchValues<byte> NewlineOrQuote = SearchValues.Create("\n\""u8);

    private readonly ReadOnlySequence<byte> _data;
    private readonly bool _isFinalBlock;
    private LineProtocolReaderState _state;
    private SequencePosition _position;

    /// <summary>Creates a reader over <paramref name="data"/>, which starts where the previous reader's <see cref="Position"/> was.</summary>
    /// <param name="data">The buffered request body, starting at the first unconsumed byte.</param>
    /// <param name="isFinalBlock">True when no more data follows (the pipe completed): a last line without a newline is read.</param>
    /// <param name="state">The previous reader's <see cref="CurrentState"/>, or a new state for a new request.</param>
    public LineProtocolReader(ReadOnlySequence<byte> data, bool isFinalBlock, LineProtocolReaderState state)
    {
        _data = data;
        _isFinalBlock = isFinalBlock;
        _state = state;
        _position = data.Start;
    }

    /// <summary>Everything before this position is consumed; pass it to <c>PipeReader.AdvanceTo</c>.</summary>
    public readonly SequencePosition Position => _position;

    /// <summary>The state to pass to the next reader over the same request body.</summary>
    public readonly LineProtocolReaderState CurrentState => _state;

    /// <summary>
    /// Reads every complete line (and, when final, the trailing line without a newline), calling the handler once per
    /// line. Returns the number of points delivered to <see cref="ILineProtocolHandler.OnPoint(in LinePoint)"/>.
    /// </summary>
    /// <remarks>
    /// A ref struct handler that refers to locals (a <c>ref</c> field or a stack span) needs the reader declared
    /// <c>scoped var reader = new LineProtocolReader(...)</c>, since the compiler cannot otherwise rule out the reader
    /// keeping the handler.
    /// </remarks>
    public int Read<THandler>(ref THandler handler)
        where THandler : ILineProtocolHandler, allows ref struct
    {
        var options = _state.Options;
        var parser = new LineParser(options);
        var reader = new SequenceReader<byte>(_data.Slice(_position));
        var lineNumber = _state.Lines;
        var points = 0;

        // Stop scanning a line without a newline after this many bytes: it is then too long whatever follows
        // (MaxLineLength + 1 content bytes, plus possibly a '\r').
        var limit = (long)options.MaxLineLength + 2;
        try
        {
            if (_state.PendingLength > reader.Remaining)
            {
                // Not the bytes the previous reader left unconsumed: scan the first line from its start.
                _state.PendingLength = 0;
                _state.PendingScan = default;
            }

            while (true)
            {
                if (_state.Skipping)
                {
                    if (!SkipOverlongLine(ref reader, ref lineNumber))
                    {
                        break;
                    }

                    continue;
                }

                if (reader.End)
                {
                    break;
                }

                if (_state.PendingLength == 0)
                {
                    // Fast path: every complete line that lies in the current span is parsed in place.
                    var span = reader.UnreadSpan;
                    var offset = 0;
                    while (true)
                    {
                        var rest = span[offset..];
                        var end = rest.IndexOfAny(NewlineOrQuote);
                        if (end < 0)
                        {
                            break;
                        }

                        long newlines = 0;
                        if (rest[end] != (byte)'\n')
                        {
                            // A quote before the newline: it may open a string value that contains newlines.
                            var scan = default(LineScanState);
                            end = LineScanner.FindEnd(rest[..(int)Math.Min(rest.Length, limit)], ref scan);
                            if (end < 0)
                            {
                                break;
                            }

                            newlines = scan.Newlines;
                        }

                        points += ProcessLine(ref parser, rest[..end], lineNumber + 1, ref handler, options.MaxLineLength);
                        offset += end + 1;
                        lineNumber += newlines + 1;
                    }

                    if (offset > 0)
                    {
                        reader.Advance(offset);
                        continue;
                    }
                }

                // The line at the reader does not end in the current span (or continues a pending scan).
                if (!ReadStraddlingLine(ref reader, ref parser, ref handler, ref lineNumber, ref points, limit, options.MaxLineLength))
                {
                    break;
                }
            }
        }
        finally
        {
            parser.Dispose();
            _state.Lines = lineNumber;
            _position = reader.Position;
        }

        return points;
    }

    /// <summary>Parses one line (line ending removed except a '\r'), enforcing the length limit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ProcessLine<THandler>(ref LineParser parser, ReadOnlySpan<byte> line, long lineNumber, ref THandler handler, int maxLineLength)
        where THandler : ILineProtocolHandler, allows ref struct
    {
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }

        if (line.Length > maxLineLength)
        {
            ReportTooLong(ref handler, lineNumber, maxLineLength);
            return 0;
        }

        return parser.Parse(line, lineNumber, ref handler);
    }

    /// <summary>
    /// Finds the end of the line at <paramref name="reader"/> across segments, resuming a pending scan. Parses the line
    /// and consumes it; or reports an over-long line and starts skipping it. Returns false when the line is incomplete
    /// and more data may come (the scan progress is saved in the state, nothing is consumed).
    /// </summary>
    private bool ReadStraddlingLine<THandler>(
        ref SequenceReader<byte> reader,
        ref LineParser parser,
        ref THandler handler,
        ref long lineNumber,
        ref int points,
        long limit,
        int maxLineLength)
        where THandler : ILineProtocolHandler, allows ref struct
    {
        var scan = _state.PendingScan;
        var scanned = _state.PendingLength;
        _state.PendingScan = default;
        _state.PendingLength = 0;

        var probe = reader;
        if (scanned > 0)
        {
            probe.Advance(scanned);
        }

        bool terminated;
        while (true)
        {
            if (probe.End)
            {
                if (!_isFinalBlock)
                {
                    _state.PendingScan = scan;
                    _state.PendingLength = scanned;
                    return false;
                }

                terminated = false;
                break;
            }

            var span = probe.UnreadSpan;
            var room = (int)Math.Min(span.Length, limit - scanned);
            var end = LineScanner.FindEnd(span[..room], ref scan);
            if (end >= 0)
            {
                scanned += end;
                terminated = true;
                break;
            }

            scanned += room;
            probe.Advance(room);
            if (scanned >= limit)
            {
                // Too long whatever follows: report it now and discard it as it arrives.
                ReportTooLong(ref handler, lineNumber + 1, maxLineLength);
                reader.Advance(scanned);
                _state.Skipping = true;
                _state.SkipScan = scan;
                return true;
            }
        }

        var length = (int)scanned;
        var first = reader.UnreadSpan;
        if (length <= first.Length)
        {
            points += ProcessLine(ref parser, first[..length], lineNumber + 1, ref handler, maxLineLength);
        }
        else
        {
            points += ProcessCopiedLine(ref reader, length, ref parser, ref handler, lineNumber + 1, maxLineLength);
        }

        reader.Advance(terminated ? length + 1L : length);
        lineNumber += scan.Newlines + 1;
        return true;
    }

    /// <summary>
    /// Copies a line that straddles segments once into the parser's pooled copy buffer, and parses it. (Not stackalloc:
    /// the handler may be a ref struct, so the compiler cannot prove it keeps no span of the line; pooled memory keeps
    /// that mistake memory-safe, and the buffer is rented at most once per <c>Read</c>.)
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ProcessCopiedLine<THandler>(
        ref SequenceReader<byte> reader,
        int length,
        ref LineParser parser,
        ref THandler handler,
        long lineNumber,
        int maxLineLength)
        where THandler : ILineProtocolHandler, allows ref struct
    {
        var line = parser.CopyBuffer(length);
        reader.TryCopyTo(line);
        return ProcessLine(ref parser, line, lineNumber, ref handler, maxLineLength);
    }

    /// <summary>
    /// Consumes the rest of an over-long line. Returns true when its end was reached (or the body ended), false when
    /// all data was consumed and the line goes on in the next call.
    /// </summary>
    private bool SkipOverlongLine(ref SequenceReader<byte> reader, ref long lineNumber)
    {
        var scan = _state.SkipScan;
        while (!reader.End)
        {
            var span = reader.UnreadSpan;
            var end = LineScanner.FindEnd(span, ref scan);
            if (end >= 0)
            {
                reader.Advance(end + 1);
                return EndSkip(ref lineNumber, scan);
            }

            reader.Advance(span.Length);
        }

        if (_isFinalBlock)
        {
            return EndSkip(ref lineNumber, scan);
        }

        _state.SkipScan = scan;
        return false;
    }

    private bool EndSkip(ref long lineNumber, in LineScanState scan)
    {
        lineNumber += scan.Newlines + 1;
        _state.Skipping = false;
        _state.SkipScan = default;
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ReportTooLong<THandler>(ref THandler handler, long lineNumber, int maxLineLength)
        where THandler : ILineProtocolHandler, allows ref struct
    {
        var error = new LineProtocolError(
            lineNumber,
            maxLineLength + 1,
            LineErrorKind.LineTooLong,
            null,
            $"line is longer than {maxLineLength} bytes");
        handler.OnError(in error);
    }
}
