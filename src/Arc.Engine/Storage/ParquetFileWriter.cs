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

    /// <summary>
    /// Key-value metadata of a file sorted by its tag columns then time (a flush ordered by series, a sorted merge's
    /// output), the tags listed (JSON) in the order they sort by: compaction merges such files as streams, without a sort.
    /// </summary>
    public const string SortedMetadataKey = "arc_sorted";

    /// <summary>
    /// Key-value metadata of a file that names its tags: no two of its rows share their tags and time (a merge removed or
    /// found none, a flush found none). Merges of such files only look for duplicates where the inputs' time ranges meet.
    /// </summary>
    public const string UniqueMetadataKey = "arc_unique";

    /// <summary>
    /// Key-value metadata of a file written for speed (floats without dictionaries): a flush's, or a level merge's output below
    /// the last level, which later merges rewrite anyway. Hourly and daily compaction rewrite such a file even when it is
    /// alone or large, where they leave a merge's output free of duplicates as it is.
    /// </summary>
    public const string FlushedMetadataKey = "arc_flushed";

    /// <summary>
    /// Key-value metadata of a file holding a range of series, one of a level merge's outputs into the last level
    /// (<c>compaction.level_series_ranges</c>): the manifest keeps its string columns' ranges from the
    /// footer's statistics, so statements over other series skip it (<see cref="ManifestFile.TagRanges"/>).
    /// </summary>
    public const string SeriesRangeMetadataKey = "arc_series_range";

    private readonly Compression _codec;
    /// <summary>
    /// The largest dictionary page of a column chunk in a file with float dictionaries (<see cref="ParquetFileWriter(string, int, bool, long?)"/>):
    /// a chunk whose distinct values outgrow it writes the rest of its values plain (Arrow's writer falls back per chunk),
    /// so each row group of each column decides as DuckDB's writer does. 32 KB is 4,096 doubles: gauges that repeat a few
    /// thousand values (Telegraf's percentages) keep the dictionary, values that rarely repeat pay for a small one only.
    /// </summary>
    public const long MergedDictionaryPageLimit = 32 * 1024;

    private readonly int _rowGroupSize;
    private readonly bool _floatDictionaries;
    private readonly long? _dataPageBytes;
    private readonly ArrowWriterProperties _arrowProperties;

    /// <param name="compression">The codec's name (<c>zstd</c>, <c>snappy</c>, …).</param>
    /// <param name="rowGroupSize">Rows per row group.</param>
    /// <param name="floatDictionaries">
    /// For files that stay (compaction's outputs at the last level and above): floats are dictionary-encoded too and every
    /// dictionary page is capped at <see cref="MergedDictionaryPageLimit"/>. Flushes and level merges below the last level
    /// (false) leave floats plain: their files live minutes, and hashing every value into a dictionary (and bit-packing its
    /// indices) costs the CPU that ingestion and queries share.
    /// </param>
    /// <param name="dataPageBytes">
    /// The data page size when not the writer's default (1 MB, at most 20,000 rows a page): smaller for files that a merge
    /// into series ranges reads many of at once (each input column holds a decompressed page while the merge runs).
    /// </param>
    public ParquetFileWriter(string compression, int rowGroupSize, bool floatDictionaries = false, long? dataPageBytes = null)
    {
        _codec = Codec(compression);
        _rowGroupSize = rowGroupSize;
        _floatDictionaries = floatDictionaries;
        _dataPageBytes = dataPageBytes;
        using (var builder = new ArrowWriterPropertiesBuilder())
        {
            // Also stores the schema's metadata (the tag names) as file key-value metadata.
            _arrowProperties = builder.StoreSchema().Build();
        }
    }

    /// <summary>
    /// The rows as one Arrow record batch (over the column buffers, no copy), with the tag names as metadata. Columns
    /// without nulls are written REQUIRED: no definition levels (12–20 % of a flush's Parquet work in a Telegraf load).
    /// Readers lose nothing: DuckDB reads REQUIRED and OPTIONAL columns of the same name as one nullable column, and the
    /// merges read each input's arrays as they come. <paramref name="flush"/>, <paramref name="sortedBySeries"/> and
    /// <paramref name="unique"/> say what the file is (<see cref="FlushedMetadataKey"/>, <see cref="SortedMetadataKey"/>,
    /// <see cref="UniqueMetadataKey"/>).
    /// </summary>
    public static RecordBatch ToRecordBatch(ColumnSet rows, bool flush = false, bool sortedBySeries = false, bool unique = false)
    {
        var tags = JsonSerializer.Serialize(rows.TagNames(), StorageJsonContext.Default.ListString);
        var metadata = new Dictionary<string, string> { [TagsMetadataKey] = tags };
        if (flush)
        {
            metadata[FlushedMetadataKey] = "true";
        }

        if (sortedBySeries)
        {
            metadata[SortedMetadataKey] = tags;
        }

        if (unique)
        {
            metadata[UniqueMetadataKey] = "true";
        }

        return rows.ToRecordBatch(metadata, fullColumnsRequired: true);
    }

    /// <summary>Writes <paramref name="batch"/> (or a slice of it) to <paramref name="path"/> and fsyncs the file.</summary>
    public void Write(RecordBatch batch, string path) => Write([path], batch.Schema, long.MaxValue, write =>
    {
        write(batch);
        return batch.Length;
    });

    /// <summary>
    /// Writes the batches <paramref name="produce"/> hands to the callback it is given (each with <paramref name="schema"/>;
    /// each batch starts a row group of its own, split at the configured length, so callers hand batches of that length)
    /// to <paramref name="paths"/> in turn: a file that holds <paramref name="rowsPerFile"/> rows or more is closed when the
    /// next batch comes and another path is left, and that batch starts the next file. Every file written is fsynced. Answers
    /// what <paramref name="produce"/> returned and the rows of each file written: the first always (empty if no batch
    /// came), the others only as batches reach them.
    /// </summary>
    public (long Result, List<long> Rows) Write(IReadOnlyList<string> paths, Apache.Arrow.Schema schema, long rowsPerFile,
        Func<Action<RecordBatch>, long> produce)
    {
        using var properties = Properties(schema);
        var rows = new List<long> { 0 };
        FileWriter? writer = new(paths[0], schema, properties, _arrowProperties);
        try
        {
            var result = produce(batch =>
            {
                if (rows[^1] >= rowsPerFile && rows.Count < paths.Count)
                {
                    Close(ref writer, paths[rows.Count - 1]);
                    writer = new FileWriter(paths[rows.Count], schema, properties, _arrowProperties);
                    rows.Add(0);
                }

                writer!.WriteRecordBatch(batch);
                rows[^1] += batch.Length;
            });
            Close(ref writer, paths[rows.Count - 1]);
            return (result, rows);
        }
        finally
        {
            writer?.Dispose();
        }

        static void Close(ref FileWriter? writer, string path)
        {
            var closing = writer!;
            writer = null;
            using (closing)
            {
                closing.Close();
            }

            Durability.FsyncFile(path);
        }
    }

    /// <summary>
    /// The codec, row-group length and format version for every file. Flushes (and level merges below the last level) write
    /// float columns without dictionary encoding: the writer would hash every value (a tenth of a flush's CPU in a Telegraf
    /// load) into a dictionary that random-looking values outgrow. Files that stay encode them with dictionaries capped per
    /// chunk (<see cref="MergedDictionaryPageLimit"/>). Strings and integers keep dictionaries in both. Times are delta-encoded:
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
        if (_floatDictionaries)
        {
            builder.DictionaryPagesizeLimit(MergedDictionaryPageLimit);
        }

        if (_dataPageBytes is { } pageBytes)
        {
            builder.DataPagesize(pageBytes);
        }

        foreach (var field in schema.FieldsList)
        {
            if (field.DataType is Apache.Arrow.Types.DoubleType && !_floatDictionaries)
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
