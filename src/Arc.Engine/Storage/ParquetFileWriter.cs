using System.Text.Json;
using Apache.Arrow;
using Arc.Engine.Buffers;
using ParquetSharp;
using ParquetSharp.Arrow;

namespace Arc.Engine.Storage;

/// <summary>
/// Writes column sets to Parquet files with the Arrow C++ writer (ParquetSharp's Arrow <c>FileWriter</c>), reading the
/// column buffers in place through the Arrow C data interface: nanosecond timestamps (format 2.6), the configured codec
/// and row-group length, and the tag names in the file's key-value metadata (<see cref="TagsMetadataKey"/>), which the
/// catalog and compaction read back. Each file is fsynced before the call returns. Thread-safe.
/// </summary>
internal sealed class ParquetFileWriter : IDisposable
{
    public const string TagsMetadataKey = "arc_tags";
    private readonly Compression _codec;
    private readonly int _rowGroupSize;
    private readonly ArrowWriterProperties _arrowProperties;

    public ParquetFileWriter(string compression, int rowGroupSize)
    {
        _codec = Codec(compression);
        _rowGroupSize = rowGroupSize;
        using (var builder = new ArrowWriterPropertiesBuilder())
        {
            // Also stores the schema's metadata (the tag names) as file key-value metadata.
            _arrowProperties = builder.StoreSchema().Build();
        }
    }

    /// <summary>The rows as one Arrow record batch (over the column buffers, no copy), with the tag names as metadata.</summary>
    public static RecordBatch ToRecordBatch(ColumnSet rows) => rows.ToRecordBatch(new Dictionary<string, string>
    {
        [TagsMetadataKey] = JsonSerializer.Serialize(rows.TagNames(), StorageJsonContext.Default.ListString),
    });

    /// <summary>Writes <paramref name="batch"/> (or a slice of it) to <paramref name="path"/> and fsyncs the file.</summary>
    public void Write(RecordBatch batch, string path) => Write(path, batch.Schema, write =>
    {
        write(batch);
        return batch.Length;
    });

    /// <summary>
    /// Writes the batches <paramref name="produce"/> hands to the callback it is given (each with <paramref name="schema"/>;
    /// batches fill row groups up to the configured length, so batches of that length are one row group each) to
    /// <paramref name="path"/>, fsyncs the file and returns what <paramref name="produce"/> returned.
    /// </summary>
    public long Write(string path, Apache.Arrow.Schema schema, Func<Action<RecordBatch>, long> produce)
    {
        using var properties = Properties(schema);
        long result;
        using (var writer = new FileWriter(path, schema, properties, _arrowProperties))
        {
            result = produce(batch => writer.WriteRecordBatch(batch));
            writer.Close();
        }

        Durability.FsyncFile(path);
        return result;
    }

    /// <summary>
    /// The codec, row-group length and format version for every file; float columns without dictionary encoding: their
    /// values rarely repeat, so the writer would hash every value into a dictionary it then drops or that outgrows the
    /// plain values (a tenth of a flush's CPU in a Telegraf load). Strings and integers keep it. Times are delta-encoded:
    /// in time order (a flush) or by series (a merge) they differ by little, where a dictionary of them falls back to
    /// plain 8-byte values.
    /// </summary>
    private WriterProperties Properties(Apache.Arrow.Schema schema)
    {
        using var builder = new WriterPropertiesBuilder()
            .Compression(_codec)
            .MaxRowGroupLength(_rowGroupSize)
            .Version(ParquetVersion.PARQUET_2_6) // keeps nanosecond timestamps
            .CreatedBy("arc-native");
        foreach (var field in schema.FieldsList)
        {
            if (field.DataType is Apache.Arrow.Types.DoubleType)
            {
                builder.DisableDictionary(field.Name);
            }
            else if (field.DataType is Apache.Arrow.Types.TimestampType)
            {
                builder.DisableDictionary(field.Name).Encoding(field.Name, Encoding.DeltaBinaryPacked);
            }
        }

        return builder.Build();
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

    public void Dispose() => _arrowProperties.Dispose();
}
