using System.Buffers;

namespace Arc.Engine.Ingest;

/// <summary>
/// Records of a CSV stream (RFC 4180, read leniently as Arc's Go reader does with <c>LazyQuotes</c>): fields split by one
/// delimiter byte, quoted fields may hold delimiters, newlines and doubled quotes, a quote inside an unquoted field is a
/// plain character, CRLF and LF both end a record, and empty lines are skipped. One pooled window of
/// <c>maxRecordBytes</c> plus 64 KiB holds the record being read, so memory does not grow with the file; a longer record
/// ends the import (<see cref="PayloadTooLargeException"/> naming the limit and the line).
/// </summary>
internal sealed class CsvRecordReader : IDisposable
{
    private readonly Stream _source;
    private readonly byte _delimiter;
    private readonly int _maxRecordBytes;
    private readonly string _limitSetting;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private bool _eof;
    private long _nextLine = 1;
    private int[] _fieldStarts = new int[64];
    private int[] _fieldLengths = new int[64];

    public CsvRecordReader(Stream source, byte delimiter, int maxRecordBytes, string limitSetting)
    {
        _source = source;
        _delimiter = delimiter;
        _maxRecordBytes = maxRecordBytes;
        _limitSetting = limitSetting;
        _buffer = ArrayPool<byte>.Shared.Rent(maxRecordBytes + 64 * 1024);
    }

    /// <summary>The 1-based line the current record starts on.</summary>
    public long Line { get; private set; }

    /// <summary>Fields of the current record.</summary>
    public int FieldCount { get; private set; }

    /// <summary>Why the current record is malformed (an unterminated quote), or null.</summary>
    public string? Error { get; private set; }

    /// <summary>The <paramref name="index"/>-th field of the current record, quotes removed; valid until the next read.</summary>
    public ReadOnlySpan<byte> Field(int index) => _buffer.AsSpan(_fieldStarts[index], _fieldLengths[index]);

    /// <summary>Moves to the next record; false at the end of the stream.</summary>
    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var end = FindRecordEnd(out var newlines, out var unterminated);
            if (end < 0)
            {
                if (_eof)
                {
                    return false;
                }

                await FillAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (end - _start > _maxRecordBytes)
            {
                throw TooLong();
            }

            var next = end < _end ? end + 1 : end;
            var line = _nextLine;
            _nextLine += newlines + (end < _end ? 1 : 0);
            var recordEnd = end > _start && _buffer[end - 1] == '\r' ? end - 1 : end;
            if (recordEnd == _start)
            {
                _start = next; // an empty line
                continue;
            }

            Line = line;
            Error = unterminated ? "unterminated quoted field" : null;
            Split(_start, recordEnd);
            _start = next;
            return true;
        }
    }

    /// <summary>
    /// The index of the newline that ends the record starting at <c>_start</c> (or <c>_end</c> for the last record of the
    /// stream), or -1 when more data is needed.
    /// </summary>
    private int FindRecordEnd(out int newlines, out bool unterminated)
    {
        newlines = 0;
        unterminated = false;
        var quoted = false;
        var fieldStart = true;
        var buffer = _buffer;
        for (var i = _start; i < _end; i++)
        {
            var b = buffer[i];
            if (quoted)
            {
                if (b == '"')
                {
                    if (i + 1 == _end && !_eof)
                    {
                        return -1; // a doubled quote or the closing one: the next byte tells
                    }

                    if (i + 1 < _end && buffer[i + 1] == '"')
                    {
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else if (b == '\n')
                {
                    newlines++;
                }
            }
            else if (b == '\n')
            {
                return i;
            }
            else if (b == _delimiter)
            {
                fieldStart = true;
            }
            else
            {
                quoted = b == '"' && fieldStart;
                fieldStart = false;
            }
        }

        if (!_eof || _end == _start)
        {
            return -1;
        }

        unterminated = quoted;
        return _end;
    }

    /// <summary>Splits <c>[start, end)</c> into fields, removing quotes in place (a field only ever shrinks).</summary>
    private void Split(int start, int end)
    {
        var buffer = _buffer;
        var count = 0;
        var read = start;
        while (true)
        {
            if (count == _fieldStarts.Length)
            {
                Array.Resize(ref _fieldStarts, count * 2);
                Array.Resize(ref _fieldLengths, count * 2);
            }

            var write = read;
            var fieldStart = write;
            if (read < end && buffer[read] == '"')
            {
                read++;
                while (read < end)
                {
                    var b = buffer[read];
                    if (b == '"')
                    {
                        if (read + 1 < end && buffer[read + 1] == '"')
                        {
                            buffer[write++] = (byte)'"';
                            read += 2;
                            continue;
                        }

                        read++;
                        break;
                    }

                    buffer[write++] = b;
                    read++;
                }
            }

            while (read < end && buffer[read] != _delimiter)
            {
                buffer[write++] = buffer[read++];
            }

            _fieldStarts[count] = fieldStart;
            _fieldLengths[count] = write - fieldStart;
            count++;
            if (read >= end)
            {
                break;
            }

            read++; // the delimiter
        }

        FieldCount = count;
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        if (_end - _start > _maxRecordBytes)
        {
            throw TooLong();
        }

        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        var read = await _source.ReadAtLeastAsync(_buffer.AsMemory(_end), _buffer.Length - _end, throwOnEndOfStream: false,
            cancellationToken).ConfigureAwait(false);
        _end += read;
        _eof = _end < _buffer.Length;
    }

    private PayloadTooLargeException TooLong() =>
        new($"the record at line {_nextLine} is longer than {_limitSetting} ({_maxRecordBytes} bytes)");

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        ArrayPool<byte>.Shared.Return(buffer);
    }
}
