using Arc.Engine.Errors;

namespace Arc.Engine.Ingest;

/// <summary>Thrown when a request body (as received or after decompression) exceeds its configured limit.</summary>
public sealed class PayloadTooLargeException(string message) : Exception(message), IHasErrorReason
{
    public ErrorReason Reason => ErrorReason.TooLarge;
}

/// <summary>
/// A read-only stream that counts the bytes read through it (<see cref="Position"/>) and fails (<see cref="PayloadTooLargeException"/>) once more than
/// <c>limit</c> were read, naming <c>what</c> and the <c>setting</c> that sets the limit, if one does (gzip and zstd
/// bombs stop here).
/// </summary>
public sealed class LimitedReadStream(Stream inner, long limit, string what, string? setting = null) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Count(int read)
    {
        _read += read;
        if (_read > limit)
        {
            throw new PayloadTooLargeException(setting is null
                ? $"{what} is larger than {limit} bytes"
                : $"{what} is larger than {setting} ({limit} bytes)");
        }

        return read;
    }
}
