using System.Buffers;
using System.Text;
using Arc.Engine.Query;

namespace Arc.Engine.Tests;

/// <summary>A query response kept in memory, as the host would send it: what was started, flushed and completed.</summary>
internal sealed class RecordingQueryResponse : IQueryResponse
{
    private readonly ArrayBufferWriter<byte> _body = new();

    public CacheAnswer Cache { get; private set; }

    public bool Started { get; private set; }

    public bool Completed { get; private set; }

    public string? ContentType { get; private set; }

    public long? Length { get; private set; }

    public int Flushes { get; private set; }

    public string Body => Encoding.UTF8.GetString(_body.WrittenSpan);

    void IQueryResponse.Cache(CacheAnswer answer) => Cache = answer;

    public IBufferWriter<byte> Start(string contentType, long? length)
    {
        Assert.False(Started);
        (Started, ContentType, Length) = (true, contentType, length);
        return _body;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        Flushes++;
        return ValueTask.CompletedTask;
    }

    public ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        Completed = true;
        return ValueTask.CompletedTask;
    }
}
