using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.Auth;

/// <summary>A token as listed by the API (never with its secret or hash).</summary>
public sealed record TokenInfo(string Id, string Name, Permission Permissions, IReadOnlyList<string>? Databases, DateTime CreatedAt,
    DateTime? ExpiresAt, DateTime? RevokedAt)
{
    /// <summary>Whether the token works at <paramref name="now"/> (not revoked, not expired).</summary>
    public bool ActiveAt(DateTime now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

/// <summary>Where tokens are kept and how long validations are cached (<c>auth.db_path</c>, <c>auth.cache_ttl</c>, <c>auth.max_cache_size</c>).</summary>
public sealed record TokenStoreOptions(string Path, TimeSpan CacheTtl, int MaxCache);

/// <summary>
/// Tokens in an embedded DuckDB file (<c>auth.db_path</c>). A token is 256 random bits shown once; only its HMAC-SHA256
/// under a server key (kept in <c>{db_path}.key</c>, mode 0600) is stored, and hashes are compared in constant time.
/// Validated tokens are cached for <c>auth.cache_ttl</c>, so a revocation takes effect within that time. Creation,
/// expiry and revocation go by the clock it is given (the engine's). Built by the engine when auth is on (its options'
/// <c>Tokens</c>).
/// </summary>
public sealed class TokenStore : IDisposable
{
    private const string Prefix = "arc_";
    private readonly DuckDbDatabase _database;
    private readonly DuckDbConnection _connection;
    private readonly byte[] _key;
    private readonly Lock _lock = new();
    private readonly TimeSpan _cacheTtl;
    private readonly int _maxCache;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, (TokenIdentity? Identity, DateTime Until)> _cache = new(StringComparer.Ordinal);

    public TokenStore(TokenStoreOptions options, TimeProvider time)
    {
        _time = time;
        var full = Path.GetFullPath(options.Path);
        LocalStore.EnsureDirectory(Path.GetDirectoryName(full)!);
        _key = KeyFile.LoadOrCreate(full + ".key");
        _database = DuckDbDatabase.Open(full, [new("threads", "1")]);
        _connection = _database.Connect();
        _connection.Execute("""
            CREATE TABLE IF NOT EXISTS tokens (
                id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, hash VARCHAR NOT NULL UNIQUE, permissions INTEGER NOT NULL,
                databases VARCHAR, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP, revoked_at TIMESTAMP)
            """);
        _cacheTtl = options.CacheTtl;
        _maxCache = options.MaxCache;
    }

    /// <summary>The engine's clock, as token times are kept (UTC).</summary>
    public DateTime Now => _time.GetUtcNow().UtcDateTime;

    public static string NewSecret() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>Creates a token; the returned secret is the only copy.</summary>
    public (TokenInfo Info, string Secret) Create(string name, Permission permissions, IReadOnlyList<string>? databases, DateTime? expiresAt,
        string? secret = null)
    {
        secret ??= NewSecret();
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var info = new TokenInfo(id, name, permissions, databases, Now, expiresAt, null);
        lock (_lock)
        {
            _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                $"INSERT INTO tokens VALUES ({Names.QuoteLiteral(id)}, {Names.QuoteLiteral(name)}, {Names.QuoteLiteral(Hash(secret))}, " +
                $"{(int)permissions}, {Literal(databases is null ? null : string.Join(',', databases))}, {Timestamp(info.CreatedAt)}, " +
                $"{Timestamp(expiresAt)}, NULL)"));
        }

        return (info, secret);
    }

    public IReadOnlyList<TokenInfo> List()
    {
        lock (_lock)
        {
            return _connection.QueryStrings(
                    "SELECT id, name, permissions, databases, epoch_us(created_at), epoch_us(expires_at), epoch_us(revoked_at) FROM tokens ORDER BY created_at")
                .Select(Read).ToList();
        }
    }

    public TokenInfo? Get(string id) => List().FirstOrDefault(t => t.Id == id);

    /// <summary>Whether an active token with the admin permission exists (bootstrap creates one if not).</summary>
    public bool HasActiveAdmin() => List().Any(t => t.ActiveAt(Now) && (t.Permissions & Permission.Admin) != 0);

    /// <summary>Whether <paramref name="secret"/> is already a stored token (the bootstrap token across restarts).</summary>
    public bool Exists(string secret)
    {
        lock (_lock)
        {
            return _connection.QueryStrings($"SELECT count(*) FROM tokens WHERE hash = {Names.QuoteLiteral(Hash(secret))}")[0][0] != "0";
        }
    }

    public bool Revoke(string id)
    {
        lock (_lock)
        {
            var exists = _connection.QueryStrings($"SELECT count(*) FROM tokens WHERE id = {Names.QuoteLiteral(id)} AND revoked_at IS NULL")[0][0] != "0";
            if (exists)
            {
                _connection.Execute($"UPDATE tokens SET revoked_at = {Timestamp(Now)} WHERE id = {Names.QuoteLiteral(id)}");
                _cache.Clear();
            }

            return exists;
        }
    }

    /// <summary>Replaces a token's secret (same id, name and permissions); the old secret stops working.</summary>
    public string? Rotate(string id)
    {
        var secret = NewSecret();
        lock (_lock)
        {
            var exists = _connection.QueryStrings($"SELECT count(*) FROM tokens WHERE id = {Names.QuoteLiteral(id)} AND revoked_at IS NULL")[0][0] != "0";
            if (!exists)
            {
                return null;
            }

            _connection.Execute($"UPDATE tokens SET hash = {Names.QuoteLiteral(Hash(secret))} WHERE id = {Names.QuoteLiteral(id)}");
            _cache.Clear();
        }

        return secret;
    }

    /// <summary>The identity of a presented token, or null if it is unknown, revoked or expired.</summary>
    public TokenIdentity? Validate(string secret)
    {
        if (!secret.StartsWith(Prefix, StringComparison.Ordinal) || secret.Length > 256)
        {
            return null;
        }

        var hash = Hash(secret);
        var now = Now;
        lock (_lock)
        {
            if (_cache.TryGetValue(hash, out var cached) && cached.Until > now)
            {
                return cached.Identity is { ExpiresAt: { } expires } && expires <= now ? null : cached.Identity;
            }
        }

        TokenIdentity? identity = null;
        lock (_lock)
        {
            var rows = _connection.QueryStrings(
                "SELECT id, name, permissions, databases, epoch_us(created_at), epoch_us(expires_at), epoch_us(revoked_at), hash " +
                $"FROM tokens WHERE hash = {Names.QuoteLiteral(hash)}");
            if (rows.Count == 1 && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(rows[0][7]!), Encoding.ASCII.GetBytes(hash)))
            {
                var info = Read(rows[0]);
                if (info.ActiveAt(now))
                {
                    identity = new TokenIdentity(info.Id, info.Name, info.Permissions,
                        info.Databases is null ? null : new HashSet<string>(info.Databases, StringComparer.OrdinalIgnoreCase), info.ExpiresAt);
                }
            }

            if (_cache.Count >= _maxCache)
            {
                _cache.Clear();
            }

            _cache[hash] = (identity, now + _cacheTtl);
        }

        return identity;
    }

    private string Hash(string secret) => Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(secret)));

    private static TokenInfo Read(string?[] row) => new(row[0]!, row[1]!,
        (Permission)int.Parse(row[2]!, CultureInfo.InvariantCulture),
        row[3] is null ? null : row[3]!.Split(',', StringSplitOptions.RemoveEmptyEntries),
        FromMicros(row[4])!.Value, FromMicros(row[5]), FromMicros(row[6]));

    private static DateTime? FromMicros(string? micros) =>
        micros is null ? null : DateTime.UnixEpoch.AddTicks(long.Parse(micros, CultureInfo.InvariantCulture) * 10);

    private static string Timestamp(DateTime? value) =>
        value is null ? "NULL" : $"make_timestamp({(value.Value - DateTime.UnixEpoch).Ticks / 10}::BIGINT)";

    private static string Literal(string? value) => value is null ? "NULL" : Names.QuoteLiteral(value);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        _connection.Dispose();
        _database.Dispose();
    }
}
