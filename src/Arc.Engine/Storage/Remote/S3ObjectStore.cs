using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Arc.Engine.Storage.Remote;

/// <summary>
/// The S3 API through AWSSDK.S3, set up for S3-compatible servers as well as AWS: explicit endpoint, optional path-style
/// addressing and plain HTTP, checksums only when the operation requires them, no chunked (streaming) signing, and a
/// timeout on every call so a hung store fails a request instead of hanging it.
/// </summary>
public sealed class S3ObjectStore : IObjectStore
{
    private readonly AmazonS3Client _client;
    private readonly ObjectStoreOptions _options;

    public S3ObjectStore(ObjectStoreOptions options)
    {
        _options = options;
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.PathStyle,
            Timeout = options.Timeout,
            MaxErrorRetry = 2,
            // Each store owns its connections and closes them when disposed. With the SDK's process-wide cache, a store
            // created after another was disposed (an export run's target, a server started again in the same process)
            // reused that store's keep-alive connections, and against Ceph radosgw its first request then got no answer
            // in about one run of two, so the call waited out the whole timeout (20 s at startup in the tests).
            CacheHttpClient = false,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            AuthenticationRegion = options.Region,
        };
        if (options.Endpoint.Length > 0)
        {
            var endpoint = options.Endpoint.Contains("://", StringComparison.Ordinal)
                ? options.Endpoint
                : (options.UseSsl ? "https://" : "http://") + options.Endpoint;
            config.ServiceURL = endpoint;
            config.UseHttp = endpoint.StartsWith("http://", StringComparison.OrdinalIgnoreCase);
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }

        _client = options.AccessKey.Length > 0
            ? new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config)
            : new AmazonS3Client(config);
    }

    /// <summary>Creates the bucket if it does not exist (for test and first-run setups).</summary>
    public async Task EnsureBucketAsync(CancellationToken cancellationToken)
    {
        await Call("check the bucket", async token =>
        {
            try
            {
                await _client.GetBucketLocationAsync(new GetBucketLocationRequest { BucketName = _options.Bucket }, token).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                await _client.PutBucketAsync(new PutBucketRequest { BucketName = _options.Bucket }, token).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Uploads a file (in parts above the multipart threshold); returns the object's ETag.</summary>
    public async Task<string> PutAsync(string key, string path, CancellationToken cancellationToken)
    {
        var length = new FileInfo(path).Length;
        if (length <= _options.MultipartThreshold)
        {
            return await Call($"upload {key}", async token => (await _client.PutObjectAsync(new PutObjectRequest
            {
                BucketName = _options.Bucket,
                Key = _options.KeyPrefix + key,
                FilePath = path,
                UseChunkEncoding = false,
            }, token).ConfigureAwait(false)).ETag, cancellationToken).ConfigureAwait(false);
        }

        var upload = await Call($"start the upload of {key}", token => _client.InitiateMultipartUploadAsync(
            new InitiateMultipartUploadRequest { BucketName = _options.Bucket, Key = _options.KeyPrefix + key }, token), cancellationToken).ConfigureAwait(false);
        try
        {
            var parts = new List<PartETag>();
            for (long offset = 0, number = 1; offset < length; offset += _options.PartSize, number++)
            {
                var size = Math.Min(_options.PartSize, length - offset);
                var (partNumber, partOffset) = ((int)number, offset);
                var response = await Call($"upload part {partNumber} of {key}", token => _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = _options.Bucket,
                    Key = _options.KeyPrefix + key,
                    UploadId = upload.UploadId,
                    PartNumber = partNumber,
                    FilePath = path,
                    FilePosition = partOffset,
                    PartSize = size,
                    UseChunkEncoding = false,
                }, token), cancellationToken).ConfigureAwait(false);
                parts.Add(new PartETag(partNumber, response.ETag));
            }

            var completed = await Call($"complete the upload of {key}", token => _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _options.Bucket,
                Key = _options.KeyPrefix + key,
                UploadId = upload.UploadId,
                PartETags = parts,
            }, token), cancellationToken).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(completed.ETag))
            {
                return completed.ETag;
            }

            // Ceph's completion answer carries no ETag the SDK reads; the object's metadata has it.
            return await Call($"read the ETag of {key}", async token => (await _client.GetObjectMetadataAsync(
                new GetObjectMetadataRequest { BucketName = _options.Bucket, Key = _options.KeyPrefix + key }, token).ConfigureAwait(false)).ETag,
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest
            {
                BucketName = _options.Bucket,
                Key = _options.KeyPrefix + key,
                UploadId = upload.UploadId,
            }, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Downloads an object to <paramref name="path"/> (via a temporary name) and checks its ETag and size against the listing.</summary>
    public async Task GetAsync(RemoteObject remote, string path, CancellationToken cancellationToken)
    {
        var temp = path + ".download";
        try
        {
            await Call($"download {remote.Key}", async token =>
            {
                using var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _options.Bucket, Key = _options.KeyPrefix + remote.Key }, token)
                    .ConfigureAwait(false);
                if (remote.ETag.Length > 0 && response.ETag != remote.ETag)
                {
                    throw new ObjectStoreException($"{remote.Key} changed in the store since it was listed (ETag {response.ETag}, listed {remote.ETag})");
                }

                var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                await using (stream.ConfigureAwait(false))
                {
                    await response.ResponseStream.CopyToAsync(stream, token).ConfigureAwait(false);
                }

                return 0;
            }, cancellationToken).ConfigureAwait(false);
            var size = new FileInfo(temp).Length;
            if (size != remote.Size)
            {
                throw new ObjectStoreException($"downloaded {remote.Key} has {size} bytes; the store lists {remote.Size}");
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Every object under <paramref name="prefix"/> (relative to the store's prefix).</summary>
    public async Task<List<RemoteObject>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var objects = new List<RemoteObject>();
        string? continuation = null;
        do
        {
            var response = await Call($"list {prefix}", token => _client.ListObjectsV2Async(new ListObjectsV2Request
            {
                BucketName = _options.Bucket,
                Prefix = _options.KeyPrefix + prefix,
                ContinuationToken = continuation,
            }, token), cancellationToken).ConfigureAwait(false);
            foreach (var item in response.S3Objects ?? [])
            {
                objects.Add(new RemoteObject(item.Key[_options.KeyPrefix.Length..], item.Size ?? 0, item.ETag ?? ""));
            }

            continuation = response.IsTruncated == true ? response.NextContinuationToken : null;
        }
        while (continuation is not null);
        return objects;
    }

    /// <summary>The "directories" directly under <paramref name="prefix"/> (delimiter listing), without the trailing slash.</summary>
    public async Task<List<string>> ListPrefixesAsync(string prefix, CancellationToken cancellationToken)
    {
        var prefixes = new List<string>();
        string? continuation = null;
        do
        {
            var response = await Call($"list {prefix}", token => _client.ListObjectsV2Async(new ListObjectsV2Request
            {
                BucketName = _options.Bucket,
                Prefix = _options.KeyPrefix + prefix,
                Delimiter = "/",
                ContinuationToken = continuation,
            }, token), cancellationToken).ConfigureAwait(false);
            foreach (var common in response.CommonPrefixes ?? [])
            {
                prefixes.Add(common[(_options.KeyPrefix.Length + prefix.Length)..].TrimEnd('/'));
            }

            continuation = response.IsTruncated == true ? response.NextContinuationToken : null;
        }
        while (continuation is not null);
        return prefixes;
    }

    public async Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        foreach (var chunk in keys.Chunk(1000))
        {
            await Call("delete objects", token => _client.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = _options.Bucket,
                Objects = chunk.Select(k => new KeyVersion { Key = _options.KeyPrefix + k }).ToList(),
            }, token), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs one call with the store's timeout, turning failures into <see cref="ObjectStoreException"/>.</summary>
    private async Task<T> Call<T>(string what, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            return await call(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ObjectStoreException($"object storage did not answer within {_options.Timeout.TotalSeconds:0} s ({what})", e);
        }
        catch (AmazonServiceException e)
        {
            throw new ObjectStoreException($"object storage refused to {what}: {e.Message}", e);
        }
        catch (Exception e) when (e is HttpRequestException or AmazonClientException or IOException and not ObjectStoreException)
        {
            throw new ObjectStoreException($"object storage is unreachable ({what}): {e.Message}", e);
        }
    }

    public void Dispose() => _client.Dispose();
}
