using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;

namespace Arc.Engine.Auth;

/// <summary>A token as listed by the API (never with its secret or hash). Ids are integers, as Arc's are.</summary>
public sealed record TokenInfo(long Id, string Name, string? Description, Permission Permissions, IReadOnlyList<string>? Databases,
    DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt)
{
    /// <summary>Whether the token works at <paramref name="now"/> (not revoked, not expired).</summary>
    public bool ActiveAt(DateTime now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

/// <summary>The properties of a token a change sets; null leaves one as it is.</summary>
public sealed record TokenChange(string? Name, string? Description, Permission? Permissions, IReadOnlyList<string>? Databases, DateTime? ExpiresAt);

/// <summary>Where tokens are kept and how long validations are cached (<c>auth.db_path</c>, <c>auth.cache_ttl</c>, <c>auth.max_cache_size</c>).</summary>
public sealed record TokenStoreOptions(string Path, TimeSpan CacheTtl, int MaxCache);

/// <summary>
/// Tokens in an embedded DuckDB file (<c>auth.db_path</c>). A token is 256 random bits shown once; only its HMAC-SHA256
/// under a server key (kept in <c>{db_path}.key</c>, mode 0600) is stored, and hashes are compared in constant time.
/// A presented token may be any string up to 256 characters (Arc takes its bootstrap token as given); the ones made here
/// start with <c>arc_</c>. Ids are integers from a sequence, as Arc's are (a store from before that had hex ids; they are
/// renumbered in creation order when it is opened).
/// Validated tokens are cached for <c>auth.cache_ttl</c>, so a revocation takes effect within that time. Creation,
/// expiry and revocation go by the clock it is given (the engine's). Built by the engine when auth is on (its options'
/// <c>Tokens</c>).
/// </summary>
public sealed class TokenStore : IDisposable
{
    /// <summary>The longest token accepted.</summary>
    public const int MaxSecretLength = 256;

    private const string Prefix = "arc_";
    private const string Columns =
        "id, name, description, permissions, databases, epoch_us(created_at), epoch_us(expires_at), epoch_us(revoked_at)";
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
        LocalStore.EnsureDirectory(Path.GetDirectoryName(full)!); // the key file is made first
        _key = KeyFile.LoadOrCreate(full + ".key");
        (_database, _connection) = MetadataFile.Open(full, connection =>
        {
            connection.Execute("""
                CREATE TABLE IF NOT EXISTS tokens (
                    id BIGINT PRIMARY KEY, name VARCHAR NOT NULL, description VARCHAR, hash VARCHAR NOT NULL UNIQUE, permissions INTEGER NOT NULL,
                    databases VARCHAR, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP, revoked_at TIMESTAMP)
                """);
            MigrateTextIds(connection);
            if (connection.QueryStrings("SELECT count(*) FROM duckdb_sequences() WHERE sequence_name = 'token_ids'")[0][0] == "0")
            {
                var next = connection.QueryStrings("SELECT coalesce(max(id), 0) + 1 FROM tokens")[0][0];
                connection.Execute($"CREATE SEQUENCE token_ids START {next}");
            }
        });

        _cacheTtl = options.CacheTtl;
        _maxCache = options.MaxCache;
    }

    /// <summary>The engine's clock, as token times are kept (UTC).</summary>
    public DateTime Now => _time.GetUtcNow().UtcDateTime;

    public static string NewSecret() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>Creates a token; the returned secret is the only copy.</summary>
    public (TokenInfo Info, string Secret) Create(string name, string? description, Permission permissions, IReadOnlyList<string>? databases,
        DateTime? expiresAt, string? secret = null)
    {
        secret ??= NewSecret();
        lock (_lock)
        {
            var id = long.Parse(_connection.QueryStrings("SELECT nextval('token_ids')")[0][0]!, CultureInfo.InvariantCulture);
            var info = new TokenInfo(id, name, description, permissions, databases, Now, expiresAt, null);
            _connection.Execute(string.Create(CultureInfo.InvariantCulture,
                $"INSERT INTO tokens VALUES ({id}, {Names.QuoteLiteral(name)}, {Literal(description)}, {Names.QuoteLiteral(Hash(secret))}, " +
                $"{(int)permissions}, {Literal(Joined(databases))}, {Timestamp(info.CreatedAt)}, {Timestamp(expiresAt)}, NULL)"));
            return (info, secret);
        }
    }

    public IReadOnlyList<TokenInfo> List() => Select("ORDER BY id");

    public TokenInfo? Get(long id) => Select($"WHERE id = {id}").FirstOrDefault();

    private List<TokenInfo> Select(string clause)
    {
        lock (_lock)
        {
            return _connection.QueryStrings($"SELECT {Columns} FROM tokens {clause}").Select(Read).ToList();
        }
    }

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

    public bool Revoke(long id)
    {
        lock (_lock)
        {
            return Changed($"UPDATE tokens SET revoked_at = {Timestamp(Now)} WHERE id = {id} AND revoked_at IS NULL");
        }
    }

    /// <summary>Removes a token (revoked or not) for good.</summary>
    public bool Delete(long id)
    {
        lock (_lock)
        {
            return Changed($"DELETE FROM tokens WHERE id = {id}");
        }
    }

    /// <summary>Sets what <paramref name="change"/> names on an active token.</summary>
    public bool Update(long id, TokenChange change)
    {
        var sets = new List<string>();
        if (change.Name is { } name)
        {
            sets.Add($"name = {Names.QuoteLiteral(name)}");
        }

        if (change.Description is { } description)
        {
            sets.Add($"description = {Names.QuoteLiteral(description)}");
        }

        if (change.Permissions is { } permissions)
        {
            sets.Add(string.Create(CultureInfo.InvariantCulture, $"permissions = {(int)permissions}"));
        }

        if (change.Databases is { } databases)
        {
            sets.Add($"databases = {Literal(Joined(databases))}");
        }

        if (change.ExpiresAt is { } expires)
        {
            sets.Add($"expires_at = {Timestamp(expires)}");
        }

        lock (_lock)
        {
            return sets.Count == 0
                ? _connection.QueryStrings($"SELECT count(*) FROM tokens WHERE id = {id} AND revoked_at IS NULL")[0][0] != "0"
                : Changed($"UPDATE tokens SET {string.Join(", ", sets)} WHERE id = {id} AND revoked_at IS NULL");
        }
    }

    /// <summary>Replaces a token's secret (same id, name and permissions); the old secret stops working.</summary>
    public string? Rotate(long id)
    {
        var secret = NewSecret();
        lock (_lock)
        {
            return Changed($"UPDATE tokens SET hash = {Names.QuoteLiteral(Hash(secret))} WHERE id = {id} AND revoked_at IS NULL") ? secret : null;
        }
    }

    /// <summary>The identity of a presented token, or null if it is unknown, revoked or expired.</summary>
    public TokenIdentity? Validate(string secret)
    {
        if (secret.Length is 0 or > MaxSecretLength)
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
            var rows = _connection.QueryStrings($"SELECT {Columns}, hash FROM tokens WHERE hash = {Names.QuoteLiteral(hash)}");
            if (rows.Count == 1 && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(rows[0][8]!), Encoding.ASCII.GetBytes(hash)))
            {
                var info = Read(rows[0]);
                if (info.ActiveAt(now))
                {
                    identity = new TokenIdentity(info.Id.ToString(CultureInfo.InvariantCulture), info.Name, info.Permissions,
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

    private static TokenInfo Read(string?[] row) => new(long.Parse(row[0]!, CultureInfo.InvariantCulture), row[1]!, row[2],
        (Permission)int.Parse(row[3]!, CultureInfo.InvariantCulture),
        row[4] is null ? null : row[4]!.Split(',', StringSplitOptions.RemoveEmptyEntries),
        FromMicros(row[5])!.Value, FromMicros(row[6]), FromMicros(row[7]));

    /// <summary>Renumbers a store whose ids are hex strings (before ids were integers), in creation order, in one transaction.</summary>
    private static void MigrateTextIds(DuckDbConnection connection)
    {
        var type = connection.QueryStrings("SELECT data_type FROM duckdb_columns() WHERE table_name = 'tokens' AND column_name = 'id'")[0][0];
        if (type == "BIGINT")
        {
            return;
        }

        connection.Execute("""
            BEGIN TRANSACTION;
            CREATE TABLE tokens_v2 (
                id BIGINT PRIMARY KEY, name VARCHAR NOT NULL, description VARCHAR, hash VARCHAR NOT NULL UNIQUE, permissions INTEGER NOT NULL,
                databases VARCHAR, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP, revoked_at TIMESTAMP);
            INSERT INTO tokens_v2 SELECT row_number() OVER (ORDER BY created_at, id), name, NULL, hash, permissions, databases, created_at,
                expires_at, revoked_at FROM tokens;
            DROP TABLE tokens;
            ALTER TABLE tokens_v2 RENAME TO tokens;
            COMMIT;
            """);
    }

    /// <summary>Runs a change and says whether it touched a row; cached validations are dropped, so it applies at once.</summary>
    private bool Changed(string sql)
    {
        var changed = _connection.QueryStrings(sql)[0][0] != "0";
        _cache.Clear();
        return changed;
    }

    private static string? Joined(IReadOnlyList<string>? databases) => databases is null ? null : string.Join(',', databases);

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
