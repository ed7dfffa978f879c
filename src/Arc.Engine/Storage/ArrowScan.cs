using Apache.Arrow;
using Apache.Arrow.C;
using Apache.Arrow.Ipc;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Storage;

/// <summary>
/// A record batch exposed to DuckDB as a (connection-local) view through the Arrow C stream interface: DuckDB reads the
/// batch's buffers in place. DuckDB keeps a pointer to the stream struct, reads the schema from it when binding and moves
/// the stream out on its first scan, so the view can be scanned once and the struct must outlive the statements that use
/// it; disposing drops the view and then frees the struct (releasing the stream if DuckDB never consumed it).
/// </summary>
internal sealed unsafe class ArrowScan : IDisposable
{
    private readonly DuckDbConnection _connection;
    private CArrowArrayStream* _stream;

    private ArrowScan(DuckDbConnection connection, string view, CArrowArrayStream* stream)
    {
        _connection = connection;
        View = view;
        _stream = stream;
    }

    /// <summary>The view's name: a plain identifier, safe to put into SQL text.</summary>
    public string View { get; }

    public static ArrowScan Register(DuckDbConnection connection, string view, RecordBatch batch)
    {
        var stream = CArrowArrayStream.Create();
        try
        {
            CArrowArrayStreamExporter.ExportArrayStream(new SingleBatchStream(batch), stream);
            connection.RegisterArrowStream(view, stream);
            return new ArrowScan(connection, view, stream);
        }
        catch
        {
            CArrowArrayStream.Free(stream);
            throw;
        }
    }

    public void Dispose()
    {
        if (_stream == null)
        {
            return;
        }

        try
        {
            _connection.Execute($"DROP VIEW IF EXISTS {View}");
        }
        finally
        {
            CArrowArrayStream.Free(_stream);
            _stream = null;
        }
    }

    /// <summary>An Arrow stream of one record batch.</summary>
    private sealed class SingleBatchStream(RecordBatch batch) : IArrowArrayStream
    {
        private RecordBatch? _next = batch;

        public Schema Schema { get; } = batch.Schema;

        public ValueTask<RecordBatch?> ReadNextRecordBatchAsync(CancellationToken cancellationToken = default)
        {
            var next = _next;
            _next = null;
            return new ValueTask<RecordBatch?>(next);
        }

        public void Dispose()
        {
        }
    }
}
