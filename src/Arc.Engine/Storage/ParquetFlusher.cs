using System.Globalization;
using System.Text;
using System.Text.Json;
using Apache.Arrow;
using Arc.Engine.Buffers;
using ParquetSharp;
using ParquetSharp.Arrow;

namespace Arc.Engine.Storage;

/// <summary>
/// Writes buffered rows to Parquet with the Arrow C++ writer (ParquetSharp's Arrow <c>FileWriter</c>), reading the column
/// buffers in place through the Arrow C data interface. Rows are written in time order, one file per UTC hour they cover;
/// each file is written under a temporary name, fsynced and renamed into its hour partition. The tag names go into the
/// file's key-value metadata. Thread-safe: the writer properties are immutable and shared.
/// </summary>
internal sealed class ParquetFlusher : IDisposable
{
    public const string TagsMetadataKey = "arc_tags";
    private static long _sequence;
    private readonly LocalStore _store;
    private readonly WriterProperties _properties;
    private readonly ArrowWriterProperties _arrowProperties;

    public ParquetFlusher(LocalStore store, string compression, int rowGroupSize)
    {
        _store = store;
        using (var builder = new WriterPropertiesBuilder())
        {
            _properties = builder
                .Compression(Codec(compression))
                .MaxRowGroupLength(rowGroupSize)
                .Version(ParquetVersion.PARQUET_2_6) // keeps nanosecond timestamps
                .CreatedBy("arc-native")
                .Build();
        }

        using (var builder = new ArrowWriterPropertiesBuilder())
        {
            // Also stores the schema's metadata (the tag names) as file key-value metadata.
            _arrowProperties = builder.StoreSchema().Build();
        }
    }

    /// <summary>Writes <paramref name="data"/> and returns the final paths of the files it created (all or none).</summary>
    public List<string> Write(ColumnSet data)
    {
        var sorted = data.IsSortedByTime ? null : data.SortedByTime();
        try
        {
            var rows = sorted ?? data;
            var metadata = new Dictionary<string, string>
            {
                [TagsMetadataKey] = JsonSerializer.Serialize(rows.TagNames(), EngineJsonContext.Default.ListString),
            };
            var batch = rows.ToRecordBatch(metadata);
            var written = new List<string>();
            try
            {
                var time = rows.Time;
                var start = 0;
                while (start < rows.RowCount)
                {
                    var hour = LocalStore.HourOf(time.GetInt64(start));
                    var nextHour = (hour + 1) * LocalStore.NanosPerHour;
                    var end = start + 1;
                    while (end < rows.RowCount && time.GetInt64(end) < nextHour)
                    {
                        end++;
                    }

                    written.Add(WriteFile(rows, start == 0 && end == rows.RowCount ? batch : batch.Slice(start, end - start), hour));
                    start = end;
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
            sorted?.Dispose();
        }
    }

    private string WriteFile(ColumnSet rows, RecordBatch batch, long hour)
    {
        var directory = _store.PartitionDirectory(rows.Database, rows.Measurement, hour);
        LocalStore.EnsureDirectory(directory);
        var name = FileName(rows.Measurement);
        var temp = Path.Combine(_store.TempDirectory, name + ".tmp");
        try
        {
            using (var writer = new FileWriter(temp, batch.Schema, _properties, _arrowProperties))
            {
                writer.WriteRecordBatch(batch);
                writer.Close();
            }

            var final = Path.Combine(directory, name);
            Durability.CommitFile(temp, final);
            return final;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary><c>{measurement}_{UTC yyyyMMdd_HHmmss_fff}_{sequence}_{random}.parquet</c>: unique across restarts.</summary>
    private static string FileName(string measurement)
    {
        var random = Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()));
        return new StringBuilder(measurement.Length + 48)
            .Append(measurement).Append('_')
            .Append(DateTime.UtcNow.ToString("yyyyMMdd_HHmmss_fff", CultureInfo.InvariantCulture)).Append('_')
            .Append(Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture)).Append('_').Append(random)
            .Append(".parquet")
            .ToString();
    }

    private static Compression Codec(string name) => name switch
    {
        "zstd" => Compression.Zstd,
        "snappy" => Compression.Snappy,
        "gzip" => Compression.Gzip,
        "lz4" => Compression.Lz4,
        "brotli" => Compression.Brotli,
        "uncompressed" => Compression.Uncompressed,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown Parquet codec"),
    };

    public void Dispose()
    {
        _properties.Dispose();
        _arrowProperties.Dispose();
    }
}
