namespace Arc.Engine.Export;

/// <summary>Named storage connections (<c>/api/v1/connections/storage</c>): a local directory or an S3-compatible bucket.</summary>
public sealed partial class ExportManager
{
    public IReadOnlyList<StorageConnectionView> ListConnections()
    {
        lock (_lock)
        {
            return _connections.Values.OrderBy(c => c.Spec.Name, StringComparer.Ordinal).Select(ConnectionView).ToList();
        }
    }

    public StorageConnectionView? GetConnection(string name)
    {
        lock (_lock)
        {
            return _connections.TryGetValue(name, out var connection) ? ConnectionView(connection) : null;
        }
    }

    /// <summary>
    /// Stores a connection; null when the name is taken. Throws <see cref="ExportValidationException"/> for an invalid one.
    /// </summary>
    public StorageConnectionView? CreateConnection(StorageConnectionSpec spec)
    {
        var normalized = ValidateConnection(spec);
        var record = new StorageConnectionRecord(normalized, Now);
        lock (_lock)
        {
            if (_connections.ContainsKey(normalized.Name!) || !_store.InsertConnection(record))
            {
                return null;
            }

            _connections[normalized.Name!] = record;
            return ConnectionView(record);
        }
    }

    public bool DeleteConnection(string name)
    {
        lock (_lock)
        {
            return _connections.Remove(name) && _store.DeleteConnection(name);
        }
    }

    /// <summary>The ids of the export jobs that write into the connection (it cannot be deleted while there are any).</summary>
    public IReadOnlyList<string> JobsUsing(string connection)
    {
        lock (_lock)
        {
            return _jobs.Values.Where(j => j.Record.Spec.Target!.Connection == connection).Select(j => j.Record.Id).Order(StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>The connection with its credentials, for the server's own use (never for an API answer).</summary>
    public StorageConnectionSpec? ResolveConnection(string name)
    {
        lock (_lock)
        {
            return _connections.TryGetValue(name, out var connection) ? connection.Spec : null;
        }
    }

    private static StorageConnectionSpec ValidateConnection(StorageConnectionSpec spec)
    {
        var name = spec.Name?.Trim();
        if (name is null || !ConnectionName().IsMatch(name))
        {
            throw new ExportValidationException("name is required: 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit");
        }

        var type = spec.Type?.Trim().ToLowerInvariant();
        switch (type)
        {
            case "local":
                if (string.IsNullOrWhiteSpace(spec.Path) || !Path.IsPathFullyQualified(spec.Path))
                {
                    throw new ExportValidationException("path must be an absolute directory path for a local connection");
                }

                if (spec.Bucket is not null || spec.AccessKeyId is not null || spec.SecretAccessKey is not null)
                {
                    throw new ExportValidationException("a local connection takes only path");
                }

                return new StorageConnectionSpec { Name = name, Type = type, Path = Path.GetFullPath(spec.Path) };
            case "s3":
                if (string.IsNullOrWhiteSpace(spec.Bucket) || spec.Bucket.Length is < 3 or > 63)
                {
                    throw new ExportValidationException("bucket is required for an s3 connection (3 to 63 characters)");
                }

                if (spec.Endpoint is { } endpoint && !Uri.TryCreate(endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "https://" + endpoint,
                        UriKind.Absolute, out _))
                {
                    throw new ExportValidationException($"endpoint is not a valid host or URL: '{endpoint}'");
                }

                if ((spec.AccessKeyId is null) != (spec.SecretAccessKey is null))
                {
                    throw new ExportValidationException("access_key_id and secret_access_key go together");
                }

                return spec with { Name = name, Type = type, Path = null, Prefix = spec.Prefix?.Trim('/') };
            default:
                throw new ExportValidationException($"type must be local or s3, got '{spec.Type}'");
        }
    }

    private static StorageConnectionView ConnectionView(StorageConnectionRecord record)
    {
        var spec = record.Spec;
        return new StorageConnectionView(spec.Name!, spec.Type!, spec.Path, spec.Bucket, spec.Region, spec.Endpoint, spec.Prefix, spec.UseSsl,
            spec.PathStyle, spec.AccessKeyId is not null, spec.SecretAccessKey is not null, record.CreatedAt);
    }
}
