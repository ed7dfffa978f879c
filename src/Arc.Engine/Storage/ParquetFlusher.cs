using System.Globalization;
using System.Text;
using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.C;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Storage;

/// <summary>
/// Writes buffered rows to Parquet: the buffers are exported as an Arrow C stream (no copy), DuckDB scans it and
/// <c>COPY</c>s it, sorted by time, to a temporary name; the file is fsynced and renamed into its hour partition. Rows that
/// span several hours are split with DuckDB's partitioned COPY on an hour key computed here.
/// </summary>
internal sealed class ParquetFlusher(LocalStore store, string compression, int rowGroupSize)
{
    public const string TagsMetadataKey = "arc_tags";
    private const string HourColumn = "__arc_hour";
    private static long _sequence;

    /// <summary>Writes <paramref name="data"/> and returns the final paths of the files it created.</summary>
    public unsafe List<string> Write(DuckDbConnection connection, ColumnSet data)
    {
        var firstHour = LocalStore.HourOf(data.MinTime);
        var lastHour = LocalStore.HourOf(data.MaxTime);
        var id = Interlocked.Increment(ref _sequence);
        var view = $"arc_flush_{id}";
        var options = CopyOptions(data.TagNames());
        using var hours = firstHour == lastHour ? null : HourArray(data);
        var batch = data.ToRecordBatch(hours, HourColumn);

        // DuckDB keeps a pointer to the stream struct: it reads the schema at bind time and moves the stream out on its
        // first scan. The struct must outlive the COPY; Free then releases the stream if DuckDB never consumed it.
        var stream = CArrowArrayStream.Create();
        try
        {
            CArrowArrayStreamExporter.ExportArrayStream(new SingleBatchStream(batch), stream);
            connection.RegisterArrowStream(view, stream);
            try
            {
                return firstHour == lastHour
                    ? [WriteSingleHour(connection, data, view, options, firstHour, id)]
                    : WritePartitioned(connection, data, view, options, id);
            }
            finally
            {
                connection.Execute($"DROP VIEW IF EXISTS {view}");
            }
        }
        finally
        {
            CArrowArrayStream.Free(stream);
        }
    }

    private string WriteSingleHour(DuckDbConnection connection, ColumnSet data, string view, string options, long hour, long id)
    {
        var directory = store.PartitionDirectory(data.Database, data.Measurement, hour);
        LocalStore.EnsureDirectory(directory);
        var name = FileName(data.Measurement, id);
        var temp = Path.Combine(store.TempDirectory, name + ".tmp");
        connection.Execute(
            $"COPY (SELECT * FROM {view} ORDER BY time) TO {Names.QuoteLiteral(temp)} ({options})");
        var final = Path.Combine(directory, name);
        Durability.CommitFile(temp, final);
        return final;
    }

    private List<string> WritePartitioned(DuckDbConnection connection, ColumnSet data, string view, string options, long id)
    {
        var temp = Path.Combine(store.TempDirectory, $"flush-{id}");
        try
        {
            connection.Execute(
                $"COPY (SELECT * FROM {view} ORDER BY time) TO {Names.QuoteLiteral(temp)} " +
                $"({options}, PARTITION_BY ({HourColumn}), FILENAME_PATTERN 'part_{{i}}')");
            var written = new List<string>();
            try
            {
                foreach (var partition in Directory.EnumerateDirectories(temp))
                {
                    var hour = long.Parse(Path.GetFileName(partition.AsSpan())[(HourColumn.Length + 1)..], CultureInfo.InvariantCulture);
                    var directory = store.PartitionDirectory(data.Database, data.Measurement, hour);
                    LocalStore.EnsureDirectory(directory);
                    foreach (var file in Directory.EnumerateFiles(partition, "*.parquet"))
                    {
                        var final = Path.Combine(directory, FileName(data.Measurement, Interlocked.Increment(ref _sequence)));
                        Durability.CommitFile(file, final);
                        written.Add(final);
                    }
                }
            }
            catch
            {
                // The caller retries the whole buffer: take back the hours already placed so no row is stored twice.
                foreach (var file in written)
                {
                    File.Delete(file);
                }

                throw;
            }

            return written;
        }
        finally
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true);
            }
        }
    }

    private string CopyOptions(List<string> tags)
    {
        var tagsJson = JsonSerializer.Serialize(tags, EngineJsonContext.Default.ListString);
        return $"FORMAT parquet, COMPRESSION {compression}, ROW_GROUP_SIZE {rowGroupSize}, " +
               $"KV_METADATA {{{TagsMetadataKey}: {Names.QuoteLiteral(tagsJson)}}}";
    }

    private static Int64Array HourArray(ColumnSet data)
    {
        var builder = new Int64Array.Builder().Reserve(data.RowCount);
        var time = data.Time;
        for (var row = 0; row < data.RowCount; row++)
        {
            builder.Append(LocalStore.HourOf(time.GetInt64(row)));
        }

        return builder.Build();
    }

    /// <summary><c>{measurement}_{UTC yyyyMMdd_HHmmss_fff}_{sequence}_{random}.parquet</c>: unique across restarts.</summary>
    private static string FileName(string measurement, long id)
    {
        var random = Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()));
        var builder = new StringBuilder(measurement.Length + 48)
            .Append(measurement).Append('_')
            .Append(DateTime.UtcNow.ToString("yyyyMMdd_HHmmss_fff", CultureInfo.InvariantCulture)).Append('_')
            .Append(id.ToString(CultureInfo.InvariantCulture)).Append('_').Append(random).Append(".parquet");
        return builder.ToString();
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
