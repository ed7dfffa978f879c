using System.Globalization;
using System.Text;
using System.Text.Json;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using DuckDB.NET.Native;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Compaction;

/// <summary>The outcome of one compaction job.</summary>
public sealed record CompactionResult(
    string Id,
    CompactionCandidate Candidate,
    DateTime Started,
    DateTime Finished,
    bool Succeeded,
    int FilesIn,
    long BytesIn,
    long RowsIn,
    long RowsOut,
    long BytesOut,
    string? Output,
    IReadOnlyList<string> Quarantined,
    string? Error)
{
    /// <summary>An hourly or daily job that found nothing worth merging in its partition (no output, not a failure).</summary>
    public bool Settled => Succeeded && Output is null;
}

/// <summary>
/// Runs one job on its own DuckDB connection (of the compaction instance, whose threads and memory are bounded apart
/// from queries): reads the inputs with <c>union_by_name</c>, removes duplicate points (same tags and time: the last
/// write wins) when the files say which columns are tags, sorts, and writes one ZSTD Parquet file. The swap follows the
/// manifest protocol: manifest, output under a temporary name, fsync, rename under the visibility write lock (queries see
/// the inputs or the output, never both or neither), inputs deleted once no running query can still read them.
/// Unreadable inputs are moved to a quarantine folder with the reason, and the rest is compacted.
/// </summary>
internal sealed class CompactionRunner(LocalStore store, Catalog catalog, DuckDbDatabase database, CompactionOptions options, TimeProvider time,
    ILogger logger, Storage.Remote.RemoteStore? remote)
{
    /// <summary>
    /// Key-value metadata of an hourly or daily output written by a merge that ran out of compaction's memory and took only
    /// the older part of its batch: later merges leave the file as it is (unless it shares a point with another file), as
    /// they do files at the last level, so they never try the merge that did not fit again.
    /// </summary>
    internal const string FullMetadataKey = "arc_full";

    private long _inputsSorted;

    /// <summary>Inputs sorted by DuckDB before a streamed merge (<see cref="Presorted"/>) since the start.</summary>
    public long InputsSorted => Interlocked.Read(ref _inputsSorted);

    /// <summary>Rows per row group of a merge's output.</summary>
    private const int RowGroupRows = 122_880;

    /// <summary>
    /// The data page size of a level merge's output below the last level when merges into the last level write series ranges
    /// (8,192 floats a page rather than 20,000): such a merge reads K × N of these files at once, and each input column
    /// holds a decompressed page meanwhile (16 inputs of 14 columns held 37–55 MB in a soak with 20,000-row pages).
    /// </summary>
    private const long SeriesRangeInputPageBytes = 64 * 1024;

    /// <summary>Runs one job; a failure (DuckDB, I/O, object storage, cancellation) is a failed result, its output undone.</summary>
    public async Task<CompactionResult> RunAsync(CompactionCandidate candidate, CompactionThreads.Lane lane, CancellationToken cancellationToken)
    {
        var id = $"{time.GetUtcNow().UtcDateTime:yyyyMMddHHmmssfff}-{Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()))}";
        var started = time.GetUtcNow().UtcDateTime;
        var quarantined = new List<string>();
        using var connection = database.Connect();
        CompactionManifest? placing = null;
        IDisposable? fetched = null;
        var inputs = candidate.Files.ToList();
        try
        {
            if (candidate.Tier != CompactionTier.Level)
            {
                if (await lane.RunAsync(() => Choose(connection, candidate, inputs)).ConfigureAwait(false) is not { } chosen)
                {
                    // Nothing to merge: the manager leaves the partition alone while its files stay.
                    return new CompactionResult(id, candidate, started, time.GetUtcNow().UtcDateTime, true, 0, 0, 0, 0, 0, null, [], null);
                }

                inputs = chosen;
            }

            // With object storage the inputs may have left the local cache: fetch them (pinned for the job's duration).
            fetched = remote is null ? null : await remote.EnsureFilesAsync(inputs, cancellationToken).ConfigureAwait(false);
            inputs = inputs.Where(File.Exists).ToList();
            if (inputs.Count < (candidate.Tier == CompactionTier.Level ? 2 : 1))
            {
                return Result(false, "no files left");
            }

            var (merged, failure) = await lane.RunAsync(() => Merge(connection, candidate, id, inputs, cancellationToken)).ConfigureAwait(false);

            // Out of compaction's memory (a wide measurement's day under a small compaction.memory_limit): merge the older
            // half of the batch instead, again while that fails so, and mark the output full; the next round takes the rest.
            while (merged is null && failure?.ErrorType == DuckDBErrorType.OutOfMemory && CanHalve(candidate, inputs))
            {
                logger.LogWarning("Compaction {Id}: {Files} files did not fit compaction.memory_limit; merging the older {Half}", id, inputs.Count, inputs.Count / 2);
                inputs = inputs.GetRange(0, inputs.Count / 2);
                (merged, failure) = await lane.RunAsync(() => Merge(connection, candidate, id, inputs, cancellationToken, full: true)).ConfigureAwait(false);
            }

            if (merged is null)
            {
                // Something could not be read: find which inputs DuckDB cannot read (reading each, on the job's compaction thread as
                // the merge), set them aside, merge the rest.
                var unreadable = await lane.RunAsync(() => inputs.Select(f => (File: f, Reason: Unreadable(connection, f)))
                    .Where(u => u.Reason is not null).ToList()).ConfigureAwait(false);
                foreach (var (file, reason) in unreadable)
                {
                    quarantined.Add(Quarantine(candidate, file, reason!));
                    inputs.Remove(file);
                }

                if (quarantined.Count == 0 || inputs.Count == 0)
                {
                    return Result(false, quarantined.Count == 0 ? failure?.Message : "no readable files left");
                }

                (merged, failure) = await lane.RunAsync(() => Merge(connection, candidate, id, inputs, cancellationToken)).ConfigureAwait(false);
                if (merged is null)
                {
                    return Result(false, failure?.Message);
                }
            }

            var manifest = merged.Manifest;
            placing = manifest;

            var outputs = manifest.AllOutputs();
            var bytesIn = inputs.Sum(f => new FileInfo(f).Length);
            var (rowsIn, rowsOut) = (merged.RowsIn, merged.RowsOut);
            var bytesOut = outputs.Sum(o => new FileInfo(o.Temp).Length);

            // Outputs of series ranges: their string columns' ranges, from their footers, for the manifest to skip them by.
            var tagRanges = outputs.Count > 1
                ? Catalog.TagRanges(connection.QueryStrings(Catalog.TagRangeSql(List(outputs.ConvertAll(o => o.Temp)), marked: false)))
                : [];
            var storeClean = true;
            if (remote is not null)
            {
                // The store gets the outputs before it loses the inputs; recovery rolls forward from here on.
                try
                {
                    foreach (var (output, temp) in outputs)
                    {
                        await remote.UploadNowAsync(temp, output, cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is IOException or OperationCanceledException)
                {
                    // The upload may have landed with its answer lost: a second copy of the inputs' rows. Take it out again.
                    placing = null;
                    await UndoUploadAsync(manifest, cancellationToken).ConfigureAwait(false);
                    throw;
                }

                placing = null; // the outputs are in the store: from here on only rolling forward is right (at the next start if need be)
                try
                {
                    await remote.DeleteAsync(inputs, cancellationToken).ConfigureAwait(false);
                }
                catch (Storage.Remote.ObjectStoreException e)
                {
                    // The manifest stays, so the next start deletes them (whatever became of the outputs meanwhile); until
                    // then they are never listed or fetched again.
                    storeClean = false;
                    logger.LogWarning(e, "Compaction {Id}: inputs left in object storage until the next start", id);
                    try
                    {
                        (manifest with { Resolution = CompactionManifest.Forward }).Write(store);
                    }
                    catch (IOException write)
                    {
                        // The plain manifest stays: the next start still rolls forward while the outputs exist.
                        logger.LogError(write, "Compaction {Id}: could not record that its inputs must leave the store", id);
                    }
                }
            }

            catalog.Visibility.EnterWriteLock();
            try
            {
                LocalStore.EnsureDirectory(candidate.Directory);
                foreach (var (output, temp) in outputs)
                {
                    File.Move(temp, output, overwrite: false);
                    remote?.Placed(output);
                }

                placing = null;
                Durability.FsyncDirectory(candidate.Directory);
                // When no row was dropped (no duplicate point), the output holds exactly the inputs' rows: if they are all in
                // memory (the hot tier), it is read from their sets, so a level merge every few flushes keeps recent data hot.
                catalog.Manifest.Replaced(inputs,
                    outputs.Select((o, i) => new MergeOutput(o.Output, merged.Rows[i], tagRanges.GetValueOrDefault(Path.GetFullPath(o.Temp)))).ToList(),
                    catalog.Manifest.ColumnsOf(candidate.Database, candidate.Measurement, inputs), keepRetained: rowsIn == rowsOut);
                var placed = manifest;
                catalog.Epochs.Retire(inputs, () =>
                {
                    if (storeClean)
                    {
                        placed.Delete(store);
                    }
                });
                catalog.Versions.Bump(candidate.Database, candidate.Measurement); // duplicates are gone: cached results may differ
            }
            finally
            {
                catalog.Visibility.ExitWriteLock();
            }

            var first = outputs[0].Output;
            logger.LogInformation("Compacted {Count} files of {Key} ({In} bytes, {RowsIn} rows) into {Output} and {More} more ({Out} bytes, {RowsOut} rows)",
                inputs.Count, candidate.Key, bytesIn, rowsIn, first, outputs.Count - 1, bytesOut, rowsOut);
            return new CompactionResult(id, candidate, started, time.GetUtcNow().UtcDateTime, true, inputs.Count, bytesIn, rowsIn, rowsOut, bytesOut, first, quarantined, null);
        }
        catch (Exception e) when (e is DuckDbException or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            logger.LogError(e, "Compaction of {Key} failed", candidate.Key);
            if (placing is not null)
            {
                // The outputs never replaced the inputs: undo, as recovery would (outputs renamed before the failure included).
                foreach (var (output, temp) in placing.AllOutputs())
                {
                    File.Delete(temp);
                    if (placing.Also is not null)
                    {
                        File.Delete(output);
                    }
                }

                placing.Delete(store);
            }

            return Result(false, e.Message);
        }
        finally
        {
            fetched?.Dispose();
        }

        CompactionResult Result(bool ok, string? error) =>
            new(id, candidate, started, time.GetUtcNow().UtcDateTime, ok, inputs.Count, 0, 0, 0, 0, null, quarantined, error);
    }

    /// <summary>
    /// After a failed upload of the output: the manifest says "delete the output from the store" first (so a crash or a
    /// store that stays away leaves that to the next start), then the object is deleted now if the engine is not stopping,
    /// and the manifest with it. A delete that fails keeps the key hidden from listings until the next start.
    /// </summary>
    private async Task UndoUploadAsync(CompactionManifest manifest, CancellationToken cancellationToken)
    {
        var outputs = manifest.AllOutputs();
        outputs.ForEach(o => File.Delete(o.Temp));
        (manifest with { Resolution = CompactionManifest.Back }).Write(store);
        if (cancellationToken.IsCancellationRequested)
        {
            return;
        }

        try
        {
            await remote!.DeleteAsync(outputs.ConvertAll(o => o.Output), cancellationToken).ConfigureAwait(false);
            manifest.Delete(store);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            logger.LogError(e, "Compaction {Id}: the output's upload failed and so did its removal; the next start deletes {Output} from the store",
                manifest.Id, manifest.Output);
        }
    }

    /// <summary>
    /// A merge's outputs under their temporary names (the manifest's, in its order), with the rows read (the inputs' footers)
    /// and written to each (COPY's count, or the streamed merge's).
    /// </summary>
    private sealed record Merged(CompactionManifest Manifest, long RowsIn, IReadOnlyList<long> Rows)
    {
        public long RowsOut => Rows.Sum();
    }

    /// <summary>
    /// Writes the merged output under a temporary name (manifest first); null, with DuckDB's failure, when it could not.
    /// Inputs that are all sorted by the merge's order (<see cref="SortedMerge"/>) are merged as streams, without DuckDB's
    /// sort; any others (flushed files are in time order) by DuckDB.
    /// </summary>
    private (Merged? Merged, DuckDbException? Failure) Merge(DuckDbConnection connection, CompactionCandidate candidate, string id, List<string> inputs,
        CancellationToken cancellationToken, bool full = false)
    {
        var list = List(inputs);
        var suffix = CompactionPlanner.OutputSuffix(candidate.Tier);
        var output = Path.Combine(candidate.Directory, candidate.Tier == CompactionTier.Level
            ? CompactionPlanner.LevelOutputName(candidate.Measurement, inputs)
            : $"{candidate.Measurement}_{ParquetFileName.NewStamp()}_{ParquetFileName.NewRandom()}{suffix}");
        var temp = Path.Combine(store.TempDirectory, $"compaction-{id}.parquet");
        var manifest = new CompactionManifest(id, inputs.ToList(), output, temp);
        manifest.Write(store);
        var done = false;
        try
        {
            var footers = Footers(connection, inputs);
            var tags = Tags(footers);
            var rowsIn = footers.Sum(f => f.Rows);
            var sortedBy = SortedBy(candidate.Measurement, tags);
            if (sortedBy is not null && footers.TrueForAll(f => f.Tags!.SequenceEqual(sortedBy, StringComparer.Ordinal))
                && SortedMerge.Fits(inputs.Count, catalog.Manifest.ColumnsOf(candidate.Database, candidate.Measurement, inputs)?.Count ?? 0))
            {
                var presorted = new List<string>();
                try
                {
                    var streams = Presorted(connection, inputs, footers, sortedBy, temp, presorted);
                    // A level merge's output below the last level is merged again within minutes: written for speed as a flush
                    // is (floats plain, said so for hourly compaction), where a file that stays gets float dictionaries.
                    var stays = candidate.Tier != CompactionTier.Level
                        || CompactionPlanner.AtLastLevel(inputs.Sum(f => new FileInfo(f).Length), rowsIn, options);
                    var metadata = OutputMetadata(tags, sortedBy, full);
                    if (!stays)
                    {
                        metadata[ParquetFileWriter.FlushedMetadataKey] = "true";
                    }

                    // A level merge into the last level writes series ranges: several files, each at the last level's size.
                    var (pieces, rowsPerPiece, rowGroupRows) = candidate.Tier == CompactionTier.Level && stays
                        ? SeriesRanges(rowsIn, inputs.Sum(f => new FileInfo(f).Length), options.SeriesRangesOf(candidate.Measurement), options)
                        : (1, long.MaxValue, RowGroupRows);
                    if (pieces > 1)
                    {
                        metadata[ParquetFileWriter.SeriesRangeMetadataKey] = "true";
                        manifest = manifest with
                        {
                            Also = [.. Enumerable.Range(1, pieces - 1).Select(i => new CompactionOutput(
                                Path.Combine(candidate.Directory, CompactionPlanner.LevelOutputName(candidate.Measurement, inputs)), $"{temp}.{i}"))],
                        };
                        manifest.Write(store);
                    }

                    // Below the last level, with series ranges, the output is one of the K × N inputs a merge into the last
                    // level reads at once: smaller pages keep that merge's decompressed pages (one per input column) small.
                    using var writer = new ParquetFileWriter("zstd", rowGroupRows, floatDictionaries: stays,
                        dataPageBytes: !stays && options.SeriesRangesOf(candidate.Measurement) > 1 ? SeriesRangeInputPageBytes : null);
                    if (SortedMerge.Run(streams, sortedBy, manifest.AllOutputs().ConvertAll(o => o.Temp), rowsPerPiece, metadata, writer, rowGroupRows,
                            cancellationToken) is { } streamed)
                    {
                        if (streamed.Count < pieces)
                        {
                            // Fewer rows than the inputs' (duplicates dropped): the outputs the rows did not reach were not written.
                            manifest = manifest with { Also = manifest.Also is null ? null : [.. manifest.Also.Take(streamed.Count - 1)] };
                            manifest.Write(store);
                        }

                        done = true;
                        return (new Merged(manifest, rowsIn, streamed), null);
                    }

                    logger.LogInformation("Compaction {Id}: the inputs cannot be merged as sorted streams; merging with DuckDB", id);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A page the Parquet reader cannot decode (Arrow's stream reports it as a plain Exception), no room for
                    // the output: DuckDB's merge finds out which (an unreadable input is then set aside, as always).
                    logger.LogWarning(e, "Compaction {Id}: the merge as sorted streams failed; merging with DuckDB", id);
                }
                finally
                {
                    presorted.ForEach(File.Delete);
                }

                if (manifest.Also is not null)
                {
                    manifest = manifest with { Also = null }; // DuckDB's merge writes one output
                    manifest.Write(store);
                }
            }

            var deduplicate = tags is not null && (footers.All(f => f.Unique) && Ranges(candidate, inputs) is { } ranges
                ? Shared(connection, inputs, footers, tags, ranges, _ => true).Count > 0 // only where two inputs' times meet
                : HasDuplicates(connection, list, tags));
            var sql = MergeSql(list, tags, deduplicate, OrderBy(connection, list, candidate.Measurement, tags), temp, OutputMetadata(tags, sortedBy, full));
            var rowsOut = long.Parse(connection.QueryStrings(sql)[0][0]!, CultureInfo.InvariantCulture); // COPY answers the rows it wrote
            Durability.FsyncFile(temp);
            done = true;
            return (new Merged(manifest, rowsIn, [rowsOut]), null);
        }
        catch (DuckDbException e)
        {
            return (null, e);
        }
        finally
        {
            if (!done)
            {
                manifest.AllOutputs().ForEach(o => File.Delete(o.Temp));
                manifest.Delete(store);
            }
        }
    }

    /// <summary>
    /// The inputs as files sorted by <paramref name="sortedBy"/> then time, each free of duplicates, for
    /// <see cref="SortedMerge"/>: an input that says so (<see cref="ParquetFileWriter.SortedMetadataKey"/>) as it is, any other (a
    /// flushed file, in time order) sorted by DuckDB into a temporary file beside the output (listed in
    /// <paramref name="written"/>), keeping the last write of a point it holds twice. DuckDB's memory then follows the rows
    /// of one input, not of the whole merge.
    /// </summary>
    private List<string> Presorted(DuckDbConnection connection, List<string> inputs, List<Footer> footers, List<string> sortedBy, string temp,
        List<string> written)
    {
        var streams = new List<string>(inputs.Count);
        var keys = TagColumns(sortedBy) + ColumnSet.TimeColumn;
        for (var i = 0; i < inputs.Count; i++)
        {
            var footer = footers[i];
            if (footer.Unique && footer.Sorted is { } sorted && sorted.SequenceEqual(sortedBy, StringComparer.Ordinal))
            {
                streams.Add(inputs[i]);
                continue;
            }

            var path = $"{temp}.{i}.sorted";
            written.Add(path);
            Interlocked.Increment(ref _inputsSorted);
            var last = footer.Unique ? "" : $" QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY file_row_number DESC) = 1";
            connection.Execute($"COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet({Names.QuoteLiteral(inputs[i])}, file_row_number = true){last} ORDER BY {keys}) TO {Names.QuoteLiteral(path)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {RowGroupRows})");
            streams.Add(path);
        }

        return streams;
    }

    /// <summary>
    /// The tag columns a merge of <paramref name="measurement"/> sorts by before time, when its order is exactly that (no
    /// configured sort keys, <see cref="CompactionSortOrder.TagsThenTime"/>, the files name their tags); else null.
    /// </summary>
    private List<string>? SortedBy(string measurement, List<string>? tags) =>
        options.SortKeysOf(measurement).Count == 0 && options.SortOrder == CompactionSortOrder.TagsThenTime ? tags : null;

    /// <summary>
    /// How many files of series ranges a level merge of <paramref name="rows"/> rows and <paramref name="bytes"/> bytes of
    /// input into the last level writes (at most <paramref name="ranges"/>), the rows of each but the last, and the rows of
    /// their row groups: as many files as leave every one, the last included, at the last level (over
    /// <c>level_max_rows</c> / <c>level_min_files</c> rows, or about a <c>level_min_files</c>-th of
    /// <c>level_max_file_size_mb</c> by its share of the input's bytes), so none is merged again before hourly compaction
    /// and none outgrows what one merge took before; one when even two would not be. Each but the last holds whole row
    /// groups (of fewer rows than usual only when a file holds fewer than one usual row group).
    /// </summary>
    internal static (int Pieces, long RowsPerPiece, int RowGroupRows) SeriesRanges(long rows, long bytes, int ranges, CompactionOptions options)
    {
        var n = Math.Max(2, options.LevelMinFiles);
        for (var pieces = ranges; pieces > 1; pieces--)
        {
            var per = (rows + pieces - 1) / pieces;
            var group = (int)Math.Min(RowGroupRows, per);
            per = (per + group - 1) / group * group;
            var last = rows - ((pieces - 1) * per);
            if ((last * n > options.LevelMaxRows && per * n > options.LevelMaxRows)
                || (last > 0 && (double)bytes * last / rows * n > options.LevelMaxFileBytes))
            {
                return (pieces, per, group);
            }
        }

        return (1, long.MaxValue, RowGroupRows);
    }

    /// <summary>The output's key-value metadata: its tags, and what later merges may rely on.</summary>
    private static Dictionary<string, string> OutputMetadata(List<string>? tags, List<string>? sortedBy, bool full)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [ParquetFileWriter.TagsMetadataKey] = JsonSerializer.Serialize(tags ?? [], StorageJsonContext.Default.ListString),
        };
        if (tags is not null)
        {
            metadata[ParquetFileWriter.UniqueMetadataKey] = "true"; // duplicates removed, or none found
        }

        if (sortedBy is not null)
        {
            metadata[ParquetFileWriter.SortedMetadataKey] = JsonSerializer.Serialize(sortedBy, StorageJsonContext.Default.ListString);
        }

        if (full)
        {
            metadata[FullMetadataKey] = "true";
        }

        return metadata;
    }

    /// <summary>
    /// Whether a scheduled batch that did not fit the memory can be merged by its older half instead: four files or more,
    /// none of the tier's outputs in the newer half (a batch is a run of files with the tier's outputs first, so its older
    /// half is one too while it keeps them all). Level merges wait instead (<see cref="CompactionManager"/>).
    /// </summary>
    private static bool CanHalve(CompactionCandidate candidate, List<string> inputs) =>
        candidate.Tier != CompactionTier.Level && inputs.Count >= 4
        && !inputs.Skip(inputs.Count / 2).Any(f => f.EndsWith(CompactionPlanner.OutputSuffix(candidate.Tier), StringComparison.Ordinal));

    private static string List(IEnumerable<string> files) => "[" + string.Join(", ", files.Select(Names.QuoteLiteral)) + "]";

    /// <summary>
    /// The merge: the inputs' rows sorted for compression and pruning. With <paramref name="deduplicate"/>, rows are
    /// ranked by write order (input position, then row within the file) and duplicates of the same series and time
    /// reduced to the last write; without, every row is kept (the caller found no two rows with the same series and time,
    /// or the files do not name their tags), which spares DuckDB the window over every column.
    /// </summary>
    private static string MergeSql(string list, IReadOnlyList<string>? tags, bool deduplicate, string orderBy, string temp, Dictionary<string, string> metadata)
    {
        var sql = new StringBuilder("COPY (");
        if (deduplicate)
        {
            sql.Append("SELECT * EXCLUDE (filename, file_row_number, __arc_rank) FROM (SELECT *, list_position(")
                .Append(list).Append(", filename) AS __arc_rank FROM read_parquet(").Append(list)
                .Append(", union_by_name = true, filename = true, file_row_number = true)) QUALIFY row_number() OVER (PARTITION BY ")
                .Append(TagColumns(tags!)).Append("time ORDER BY __arc_rank DESC, file_row_number DESC) = 1");
        }
        else
        {
            sql.Append("SELECT * FROM read_parquet(").Append(list).Append(", union_by_name = true)");
        }

        sql.Append(" ORDER BY ").Append(orderBy).Append(") TO ").Append(Names.QuoteLiteral(temp))
            .Append(" (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ").Append(RowGroupRows).Append(", KV_METADATA {")
            .AppendJoin(", ", metadata.Select(m => m.Key + ": " + Names.QuoteLiteral(m.Value))).Append("})");
        return sql.ToString();
    }

    /// <summary>
    /// Whether two rows of the inputs share their series (tag values) and time: a grouping over those columns only, far
    /// cheaper than deduplicating every column when (as usual) no point was written twice.
    /// </summary>
    private static bool HasDuplicates(DuckDbConnection connection, string list, IReadOnlyList<string> tags) =>
        connection.QueryStrings($"SELECT 1 FROM read_parquet({list}, union_by_name = true) GROUP BY {TagColumns(tags)}time HAVING count(*) > 1 LIMIT 1")
            .Count > 0;

    /// <summary>
    /// The inputs that share a point (tags and time) with another input. Two files can only share a point where their time
    /// ranges (<paramref name="ranges"/>, Unix ns, inclusive) meet, so only the rows in those windows are read, and only of
    /// the files whose ranges reach into each window; a window is read by a time filter DuckDB prunes row groups with (one
    /// branch of a UNION ALL per window: an OR of ranges is not pruned). With <paramref name="concerns"/>, only windows
    /// where one of those files meets another are looked at. None at all when the files follow one another in time.
    /// </summary>
    private static HashSet<string> Shared(DuckDbConnection connection, List<string> files, List<Footer> footers, IReadOnlyList<string> tags,
        List<(long Min, long Max)> ranges, Func<int, bool> concerns)
    {
        var shared = new HashSet<string>(StringComparer.Ordinal);
        var branches = new List<string>();
        foreach (var (low, high, members) in Meetings(ranges, concerns))
        {
            var present = members.SelectMany(i => footers[i].Tags ?? []).ToHashSet(StringComparer.Ordinal);
            var columns = string.Concat(tags.Select(t => (present.Contains(t) ? Names.QuoteIdentifier(t) : "NULL::VARCHAR AS " + Names.QuoteIdentifier(t)) + ", "));
            branches.Add(string.Create(CultureInfo.InvariantCulture,
                $"SELECT {columns}time, filename FROM read_parquet({List(members.Select(i => files[i]))}, union_by_name = true, filename = true) WHERE time BETWEEN make_timestamp_ns({low}) AND make_timestamp_ns({high})"));
        }

        foreach (var chunk in branches.Chunk(64))
        {
            var sql = $"SELECT DISTINCT unnest(f) FROM (SELECT list(DISTINCT filename) AS f FROM ({string.Join(" UNION ALL ", chunk)}) GROUP BY {TagColumns(tags)}time HAVING count(DISTINCT filename) > 1)";
            shared.UnionWith(connection.QueryStrings(sql).Select(row => row[0]!));
        }

        return shared;
    }

    /// <summary>
    /// The time windows where two or more of the ranges meet (at least one of them a range that <paramref name="concerns"/>),
    /// merged where they touch, each with the ranges that reach into it.
    /// </summary>
    private static List<(long Low, long High, List<int> Members)> Meetings(List<(long Min, long Max)> ranges, Func<int, bool> concerns)
    {
        var pairs = new List<(long Low, long High)>();
        for (var i = 0; i < ranges.Count; i++)
        {
            for (var j = i + 1; j < ranges.Count; j++)
            {
                var (low, high) = (Math.Max(ranges[i].Min, ranges[j].Min), Math.Min(ranges[i].Max, ranges[j].Max));
                if (low <= high && (concerns(i) || concerns(j)))
                {
                    pairs.Add((low, high));
                }
            }
        }

        pairs.Sort();
        var windows = new List<(long Low, long High)>();
        foreach (var pair in pairs)
        {
            if (windows.Count > 0 && pair.Low <= windows[^1].High)
            {
                windows[^1] = (windows[^1].Low, Math.Max(windows[^1].High, pair.High));
            }
            else
            {
                windows.Add(pair);
            }
        }

        return windows.Select(w => (w.Low, w.High, Enumerable.Range(0, ranges.Count).Where(i => ranges[i].Min <= w.High && ranges[i].Max >= w.Low).ToList()))
            .ToList();
    }

    /// <summary>The inputs' time ranges from the file manifest, in their order; null when it does not list one of them.</summary>
    private List<(long Min, long Max)>? Ranges(CompactionCandidate candidate, List<string> inputs)
    {
        var listed = catalog.Manifest.Files(candidate.Database, candidate.Measurement).ToDictionary(f => f.Path, StringComparer.Ordinal);
        var ranges = new List<(long Min, long Max)>(inputs.Count);
        foreach (var input in inputs)
        {
            if (!listed.TryGetValue(Path.GetFullPath(input), out var file))
            {
                return null;
            }

            ranges.Add((file.MinTime, file.MaxTime));
        }

        return ranges;
    }

    /// <summary>
    /// Which of an hourly or daily partition's files (all of them, oldest writes first) to merge; null when none is worth it.
    /// Files at the last level (<see cref="CompactionPlanner.AtLastLevel"/>) or full (<see cref="FullMetadataKey"/>) that are free of duplicates by themselves
    /// (<see cref="ParquetFileWriter.UniqueMetadataKey"/>) are left where they are unless they share a point with another file: merging them
    /// would rewrite many rows to gain nothing, and under a high rate an hour holds dozens of them (level merges made them
    /// while the hour was open). Of the rest, and those files with them, a batch (<see cref="Window"/>) is merged. What
    /// stays apart shares no point with anything merged, so the write order between them never decides a point (the last
    /// write wins only among rows of one series and time).
    /// </summary>
    private List<string>? Choose(DuckDbConnection connection, CompactionCandidate candidate, List<string> files)
    {
        List<Footer> footers;
        try
        {
            // With object storage, files out of the cache are fetched to be merged, as always.
            footers = files.All(File.Exists) ? Footers(connection, files) : [];
        }
        catch (DuckDbException)
        {
            footers = []; // a footer DuckDB cannot read: the merge finds the file and sets it aside (quarantine)
        }

        if (footers.Count == 0)
        {
            return Window(files, candidate.Tier, options.MaxFilesPerBatch, null, options);
        }

        var sizes = files.Select((f, i) => (Bytes: new FileInfo(f).Length, footers[i].Rows)).ToList();
        List<string>? Batch(List<int> chosen) => chosen.Count == 0 || (chosen.Count == 1 && footers[chosen[0]].Unique && !footers[chosen[0]].Flushed)
            ? null
            : Window(chosen.ConvertAll(i => files[i]), candidate.Tier, options.MaxFilesPerBatch, k => sizes[chosen[k]], options);

        var ranges = Ranges(candidate, files);
        var tags = Tags(footers);
        var full = new bool[files.Count];
        for (var i = 0; i < files.Count && tags is not null && ranges is not null; i++)
        {
            full[i] = footers[i].Unique && !footers[i].Flushed && (footers[i].Full || CompactionPlanner.AtLastLevel(sizes[i].Bytes, sizes[i].Rows, options));
        }

        var all = Enumerable.Range(0, files.Count).ToList();
        if (!full.Contains(true))
        {
            return Batch(all);
        }

        HashSet<string> shared;
        try
        {
            shared = Shared(connection, files, footers, tags!, ranges!, i => full[i]);
        }
        catch (DuckDbException)
        {
            return Batch(all); // rows DuckDB cannot read: the merge finds the file and sets it aside (quarantine)
        }

        return Batch(all.FindAll(i => !full[i] || shared.Contains(files[i])));
    }

    /// <summary>
    /// The ORDER BY of the merge: the measurement's configured sort keys that exist in the inputs (a key naming an absent
    /// column is skipped), then time unless listed; without configured keys, <see cref="CompactionOptions.SortOrder"/>.
    /// </summary>
    private string OrderBy(DuckDbConnection connection, string list, string measurement, IReadOnlyList<string>? tags)
    {
        var keys = options.SortKeysOf(measurement);
        if (keys.Count == 0)
        {
            return (options.SortOrder == CompactionSortOrder.TagsThenTime && tags is not null ? TagColumns(tags) : "") + ColumnSet.TimeColumn;
        }

        var present = connection.QueryStrings($"SELECT DISTINCT name FROM parquet_schema({list})")
            .Select(row => row[0]!).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var columns = keys.Where(present.Contains).ToList();
        if (!columns.Contains(ColumnSet.TimeColumn, StringComparer.OrdinalIgnoreCase))
        {
            columns.Add(ColumnSet.TimeColumn);
        }

        return string.Join(", ", columns.Select(Names.QuoteIdentifier));
    }

    /// <summary>The tag columns, quoted, each followed by ", ".</summary>
    private static string TagColumns(IReadOnlyList<string> tags) => string.Concat(tags.Select(t => Names.QuoteIdentifier(t) + ", "));

    /// <summary>
    /// The batch a job merges out of <paramref name="files"/> (write order): <paramref name="cap"/> of them
    /// (<c>max_files_per_batch</c>), or more while together they stay within what one level merge takes
    /// (<see cref="CompactionOptions.LevelMaxFileBytes"/> and <see cref="CompactionOptions.LevelMaxRows"/>; sizes from
    /// <paramref name="size"/>, by position): a job's time and memory follow bytes and rows, and small files cost little to
    /// open, so a day of 196 small flushed files is one job. The output is named as the tier's (<c>_compacted</c>,
    /// <c>_daily</c>), which write order puts after the tier's older outputs and before every flushed file, so a batch must
    /// be a run of consecutive files that takes every output of the tier after its first file. While a batch of other files
    /// follows the tier's outputs at the front (a partition holding more than a batch, in the rounds of one run), it takes
    /// those and leaves the outputs to a last job: every row is rewritten about twice, where re-merging the growing output
    /// with each batch rewrote such a day four times. Otherwise it takes the last files, so no newer output is left behind.
    /// </summary>
    internal static List<string> Window(List<string> files, CompactionTier tier, int cap, Func<int, (long Bytes, long Rows)>? size,
        CompactionOptions options)
    {
        var suffix = CompactionPlanner.OutputSuffix(tier);
        var outputs = files.TakeWhile(f => f.EndsWith(suffix, StringComparison.Ordinal)).Count();
        var (start, end) = files.Count - outputs >= cap ? (outputs, outputs + cap) : (Math.Max(0, files.Count - cap), files.Count);
        if (size is not null)
        {
            var (bytes, rows) = (0L, 0L);
            for (var i = start; i < end; i++)
            {
                (bytes, rows) = (bytes + size(i).Bytes, rows + size(i).Rows);
            }

            // Grow the run at its open end (after it, or before it when it ends the list) while it stays under the last level.
            var step = end < files.Count ? 1 : -1;
            for (var i = step > 0 ? end : start - 1; i >= 0 && i < files.Count; i += step)
            {
                var (b, r) = (bytes + size(i).Bytes, rows + size(i).Rows);
                if (b > options.LevelMaxFileBytes || r > options.LevelMaxRows)
                {
                    break;
                }

                (bytes, rows) = (b, r);
                (start, end) = (Math.Min(start, i), Math.Max(end, i + 1));
            }
        }

        return files.GetRange(start, end - start);
    }

    /// <summary>
    /// What a file's footer says: its rows, its tag columns (null: it does not say), whether it holds no duplicate, whether
    /// it is full (<see cref="FullMetadataKey"/>), the tags it is sorted by before time (<see cref="ParquetFileWriter.SortedMetadataKey"/>; null: not said),
    /// and whether a flush wrote it (<see cref="ParquetFileWriter.FlushedMetadataKey"/>).
    /// </summary>
    private sealed record Footer(long Rows, List<string>? Tags, bool Unique, bool Full, List<string>? Sorted, bool Flushed);

    /// <summary>The files' footers, in their order (two reads of all footers, whatever their number).</summary>
    private static List<Footer> Footers(DuckDbConnection connection, List<string> files)
    {
        var list = List(files);
        var rows = connection.QueryStrings($"SELECT file_name, num_rows FROM parquet_file_metadata({list})")
            .ToDictionary(r => r[0]!, r => long.Parse(r[1]!, CultureInfo.InvariantCulture), StringComparer.Ordinal);
        var metadata = connection.QueryStrings(
                $"SELECT file_name, decode(key), decode(value) FROM parquet_kv_metadata({list}) WHERE decode(key) IN ('{ParquetFileWriter.TagsMetadataKey}', '{ParquetFileWriter.UniqueMetadataKey}', '{FullMetadataKey}', '{ParquetFileWriter.SortedMetadataKey}', '{ParquetFileWriter.FlushedMetadataKey}')")
            .ToLookup(r => r[0]!, StringComparer.Ordinal);
        return files.Select(f => new Footer(
                rows[f],
                metadata[f].FirstOrDefault(r => r[1] == ParquetFileWriter.TagsMetadataKey) is { } tags
                    ? JsonSerializer.Deserialize(tags[2]!, StorageJsonContext.Default.ListString) ?? []
                    : null,
                metadata[f].Any(r => r[1] == ParquetFileWriter.UniqueMetadataKey),
                metadata[f].Any(r => r[1] == FullMetadataKey),
                metadata[f].FirstOrDefault(r => r[1] == ParquetFileWriter.SortedMetadataKey) is { } sorted
                    ? JsonSerializer.Deserialize(sorted[2]!, StorageJsonContext.Default.ListString)
                    : null,
                metadata[f].Any(r => r[1] == ParquetFileWriter.FlushedMetadataKey)))
            .ToList();
    }

    /// <summary>The union of the files' tag columns, or null when one of them does not say (then nothing is deduplicated).</summary>
    private static List<string>? Tags(List<Footer> footers) =>
        footers.Any(f => f.Tags is null) ? null : footers.SelectMany(f => f.Tags!).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Null when DuckDB reads every value of the file, else why not.</summary>
    private static string? Unreadable(DuckDbConnection connection, string file)
    {
        try
        {
            connection.Execute($"SELECT count(*), sum(hash(COLUMNS(*)) % 2) FROM read_parquet({Names.QuoteLiteral(file)})");
            return null;
        }
        catch (DuckDbException e)
        {
            return e.Message;
        }
    }

    private string Quarantine(CompactionCandidate candidate, string file, string reason)
    {
        var target = Path.Combine(store.Root, ".quarantine", Path.GetRelativePath(store.Root, file));
        LocalStore.EnsureDirectory(Path.GetDirectoryName(target)!);
        catalog.Visibility.EnterWriteLock();
        try
        {
            File.Move(file, target, overwrite: true);
            catalog.Manifest.Removed([file]);
            catalog.Versions.Bump(candidate.Database, candidate.Measurement);
        }
        finally
        {
            catalog.Visibility.ExitWriteLock();
        }

        File.WriteAllText(target + ".reason.txt", reason);
        logger.LogWarning("Quarantined {File} of {Key} to {Target}: {Reason}", file, candidate.Key, target, reason);
        return target;
    }
}
