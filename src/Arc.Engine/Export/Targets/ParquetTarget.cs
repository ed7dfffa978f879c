using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Arc.Engine.Buffers;
using Arc.Engine.Query;
using Arc.Engine.Storage;
using Arc.Engine.Storage.Remote;

namespace Arc.Engine.Export.Targets;

/// <summary>
/// Writes each batch as one ZSTD Parquet file into a storage connection (a local directory or an S3-compatible bucket),
/// in arc-native's own layout: <c>{database}/{measurement}/YYYY/MM/DD/HH/export_{batch}.parquet</c> (the hour of the
/// batch's first row), with the tag names in the file metadata, so the tree can be read by DuckDB, Spark or another
/// arc-native. The file name comes from the job and the batch's first row only, so a batch sent again after a crash
/// replaces the file it left instead of adding a second copy of its rows. Local files are written under a temporary name,
/// fsynced and renamed; objects are uploaded whole (a reader never sees half a file either way).
/// </summary>
internal sealed class ParquetTarget : IExportTarget
{
    private const int RowGroupSize = 122_880;
    private readonly StorageConnectionSpec _connection;
    private readonly string _jobId;
    private readonly string _measurement;
    private readonly ParquetFileWriter _writer = new("zstd", RowGroupSize);
    private readonly IObjectStore? _objectStore;

    public ParquetTarget(StorageConnectionSpec connection, string jobId, string measurement, TimeSpan timeout)
    {
        _connection = connection;
        _jobId = jobId;
        _measurement = measurement;
        if (connection.Type == "s3")
        {
            _objectStore = new S3ObjectStore(new ObjectStoreOptions
            {
                Bucket = connection.Bucket!,
                Prefix = connection.Prefix ?? "",
                Region = connection.Region ?? "us-east-1",
                Endpoint = connection.Endpoint ?? "",
                UseSsl = connection.UseSsl ?? true,
                PathStyle = connection.PathStyle ?? !string.IsNullOrEmpty(connection.Endpoint),
                AccessKey = connection.AccessKeyId ?? "",
                SecretKey = connection.SecretAccessKey ?? "",
                Timeout = timeout,
            });
        }
    }

    /// <summary>For a bucket: creates it when it does not exist yet (as the server does for its own store).</summary>
    public async Task PrepareAsync(ExportSchema schema, CancellationToken cancellationToken)
    {
        if (_objectStore is null)
        {
            return;
        }

        try
        {
            await _objectStore.EnsureBucketAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectStoreException e)
        {
            throw new ExportTargetException($"storage connection '{_connection.Name}': {e.Message}", permanent: false, e);
        }
    }

    public async Task WriteAsync(ExportBatch batch, CancellationToken cancellationToken)
    {
        var first = batch.Rows[0].Time;
        var key = LocalStore.PartitionPath(batch.Schema.Database, _measurement, LocalStore.HourOf(first)) + "/export_" + FileId(_jobId, batch) + ".parquet";
        using var rows = ToColumnSet(batch, _measurement);
        var recordBatch = ParquetFileWriter.ToRecordBatch(rows);
        if (_objectStore is null)
        {
            WriteLocal(recordBatch, Path.Combine(_connection.Path!, key));
            return;
        }

        var temp = Path.Combine(Path.GetTempPath(), $"arc-export-{Guid.NewGuid():N}.parquet");
        try
        {
            _writer.Write(recordBatch, temp);
            await _objectStore.PutAsync(key, temp, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectStoreException e)
        {
            throw new ExportTargetException($"storage connection '{_connection.Name}': {e.Message}", permanent: false, e);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private void WriteLocal(Apache.Arrow.RecordBatch recordBatch, string final)
    {
        var temp = final + ".tmp";
        try
        {
            LocalStore.EnsureDirectory(Path.GetDirectoryName(final)!);
            _writer.Write(recordBatch, temp);
            File.Move(temp, final, overwrite: true);
            Durability.FsyncDirectory(Path.GetDirectoryName(final)!);
        }
        catch (UnauthorizedAccessException e)
        {
            File.Delete(temp);
            throw new ExportTargetException($"storage connection '{_connection.Name}': {e.Message}", permanent: true, e);
        }
        catch (IOException e)
        {
            File.Delete(temp);
            throw new ExportTargetException($"storage connection '{_connection.Name}': {e.Message}", permanent: false, e);
        }
    }

    /// <summary>The batch's rows in a column set of the engine (the Parquet writer's input), columns in schema order.</summary>
    private static ColumnSet ToColumnSet(ExportBatch batch, string measurement)
    {
        var rows = new ColumnSet(batch.Schema.Database, measurement);
        try
        {
            var columns = batch.Schema.Columns;
            var indexes = new int[columns.Count];
            for (var c = 0; c < columns.Count; c++)
            {
                indexes[c] = rows.AddColumn(columns[c].Name, columns[c].Kind);
            }

            for (var r = 0; r < batch.Count; r++)
            {
                var row = batch.Rows[r];
                rows.Time.SetInt64(r, row.Time);
                for (var c = 0; c < columns.Count; c++)
                {
                    var column = rows.Columns[indexes[c]];
                    switch (row.Values[c])
                    {
                        case string s:
                            column.SetBytes(r, Encoding.UTF8.GetBytes(s));
                            break;
                        case double d:
                            column.SetDouble(r, d);
                            break;
                        case long l:
                            column.SetInt64(r, l);
                            break;
                        case ulong u:
                            column.SetInt64(r, unchecked((long)u));
                            break;
                        case bool b:
                            column.SetBoolean(r, b);
                            break;
                    }
                }

                rows.EndRow(row.Time);
            }

            return rows;
        }
        catch
        {
            rows.Dispose();
            throw;
        }
    }

    /// <summary>Names the batch by the job and its first row (time and tie-breaker key), not by its length.</summary>
    private static string FileId(string jobId, ExportBatch batch)
    {
        var first = batch.Rows[0].Time.ToString(CultureInfo.InvariantCulture);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{jobId}\n{first}\n{batch.FirstKey}"));
        return jobId + "_" + Convert.ToHexStringLower(hash.AsSpan(0, 12));
    }

    public ValueTask DisposeAsync()
    {
        _objectStore?.Dispose();
        _writer.Dispose();
        return ValueTask.CompletedTask;
    }
}
