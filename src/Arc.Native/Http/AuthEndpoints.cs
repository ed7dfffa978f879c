using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Engine.Storage;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary><c>/api/v1/auth/verify</c> (public) and token management under <c>/api/v1/auth/tokens</c> (admin).</summary>
internal static class AuthEndpoints
{
    public const string CreatePolicy = "token-create";

    /// <summary>The longest lifetime a token may be given (100 years); a token without one never expires.</summary>
    public const long MaxExpiresInSeconds = 100L * 365 * 86_400;

    public static void AddPolicies(Microsoft.AspNetCore.RateLimiting.RateLimiterOptions options)
    {
        // Token creation is rate-limited per token (10 a minute), so a leaked admin token cannot mint thousands.
        options.AddPolicy(CreatePolicy, context => RateLimitPartition.GetFixedWindowLimiter(
            context.Token()?.Id ?? context.Connection.RemoteIpAddress?.ToString() ?? "anonymous",
            _ => new FixedWindowRateLimiterOptions { PermitLimit = 10, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
    }

    public static void Map(WebApplication app)
    {
        app.MapGet("/api/v1/auth/verify", (HttpContext context, TokenStore store) =>
            context.Token() is { } token && long.TryParse(token.Id, CultureInfo.InvariantCulture, out var id) && store.Get(id) is { } info
                ? Results.Json(new VerifyResponse(true, Item(info, store.Now), Words(token.Permissions), null), AuthJsonContext.Api.VerifyResponse)
                : Results.Json(new VerifyResponse(false, null, null, context.Request.Headers.Authorization.Count == 0 ? "No token provided" : "Invalid or expired token"),
                    AuthJsonContext.Api.VerifyResponse, statusCode: StatusCodes.Status401Unauthorized)).Public();

        // Arc's routes and shapes (its Python SDK's AuthClient parses these): {success, ...} bodies, integer ids.
        var tokens = app.MapGroup("/api/v1/auth/tokens").Requires(Permission.Admin);
        tokens.MapGet("/", (TokenStore store) =>
        {
            var list = store.List().Select(t => Item(t, store.Now)).ToList();
            return Results.Json(new TokenListResponse(true, list, list.Count), AuthJsonContext.Api.TokenListResponse);
        });
        tokens.MapGet("/{id}", (TokenStore store, string id) => WithId(id, number => store.Get(number) is { } token
            ? Results.Json(new TokenResponse(true, Item(token, store.Now)), AuthJsonContext.Api.TokenResponse)
            : NotFound()));
        tokens.MapPost("/", (TokenStore store, ArcEngine engine, TokenRequest request) =>
        {
            if (string.IsNullOrWhiteSpace(request.Name))
            {
                return Bad("Token name is required");
            }

            if (Change(request, engine, store.Now, out var change) is { } error)
            {
                return error;
            }

            // No permissions given: read and write, as Arc.
            var (info, secret) = store.Create(change.Name!, change.Description, change.Permissions ?? (Permission.Read | Permission.Write),
                change.Databases, change.ExpiresAt);
            return Results.Json(new CreatedTokenResponse(true, secret, "Token created successfully. Store this token securely - it cannot be retrieved again.",
                Item(info, store.Now)), AuthJsonContext.Api.CreatedTokenResponse, statusCode: StatusCodes.Status201Created);
        }).RequireRateLimiting(CreatePolicy);
        tokens.MapPatch("/{id}", (TokenStore store, ArcEngine engine, string id, TokenRequest request) => WithId(id, number =>
            Change(request, engine, store.Now, out var change) ?? (store.Update(number, change) ? Done("Token updated successfully") : NotFound())));
        tokens.MapPost("/{id}/rotate", (TokenStore store, string id) => WithId(id, number => store.Rotate(number) is { } secret
            ? Results.Json(new RotatedTokenResponse(true, secret, "Token rotated successfully. Store this new token securely - it cannot be retrieved again.",
                Item(store.Get(number)!, store.Now)), AuthJsonContext.Api.RotatedTokenResponse)
            : NotFound()));
        tokens.MapPost("/{id}/revoke", (TokenStore store, string id) => WithId(id, number =>
            store.Revoke(number) ? Done("Token revoked successfully") : NotFound()));
        tokens.MapDelete("/{id}", (TokenStore store, string id) => WithId(id, number =>
            store.Delete(number) ? Done("Token deleted successfully") : NotFound()));
    }

    /// <summary>
    /// Reads the properties a create or update request sets (name, description, permissions, databases, expiry), or the
    /// 400 that names what is wrong. An empty permission list is a token with no permissions, as Arc stores it.
    /// </summary>
    private static IResult? Change(TokenRequest request, ArcEngine engine, DateTime now, out TokenChange change)
    {
        change = new TokenChange(null, null, null, null, null);
        if (request.Name is { } name && (string.IsNullOrWhiteSpace(name) || name.Length > 128))
        {
            return Bad("name must be 1 to 128 characters");
        }

        if (request.Description is { Length: > 1024 })
        {
            return Bad("description must be at most 1024 characters");
        }

        Permission? permissions = null;
        if (request.Permissions is { } words)
        {
            if (words.Count > 16 || Permissions.Parse(words) is not { } parsed)
            {
                return Bad($"Invalid permission in [{string.Join(", ", words.Take(16))}]. Valid permissions are: read, write, delete, admin");
            }

            permissions = parsed;
        }

        List<string>? databases = null;
        if (request.Databases is { } requested && !TryScope(requested, engine.Databases, out databases, out var scopeError))
        {
            return Bad(scopeError);
        }

        if (request.ExpiresInSeconds is not null && request.ExpiresIn is not null)
        {
            return Bad("give expires_in or expires_in_seconds, not both");
        }

        TimeSpan? lifetime = null;
        if (request.ExpiresIn is { } text)
        {
            if (!GoDuration.TryParse(text, out var parsed) || parsed <= TimeSpan.Zero || parsed.TotalSeconds > MaxExpiresInSeconds)
            {
                return Bad($"Invalid expires_in '{text}': use a duration like '24h', '90m' or '7d', at most 100 years");
            }

            lifetime = parsed;
        }
        else if (request.ExpiresInSeconds is { } seconds)
        {
            if (seconds is <= 0 or > MaxExpiresInSeconds)
            {
                return Bad($"expires_in_seconds must be from 1 to {MaxExpiresInSeconds} (100 years); leave it out for a token that does not expire");
            }

            lifetime = TimeSpan.FromSeconds(seconds);
        }

        change = new TokenChange(request.Name?.Trim(), request.Description, permissions, databases, now + lifetime);
        return null;
    }

    /// <summary>Runs <paramref name="handle"/> with the route's integer token id, or answers Arc's 400 when it is not one.</summary>
    private static IResult WithId(string id, Func<long, IResult> handle) =>
        long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? handle(number) : Bad("Invalid token ID");

    /// <summary>
    /// A token's database scope as stored: each name as the catalog spells it when a database differing only in case
    /// exists (DuckDB resolves names ignoring case, so <c>GAMMA</c> means <c>gamma</c>), else as given. Names that are
    /// invalid, or listed twice ignoring case, are refused.
    /// </summary>
    private static bool TryScope(IReadOnlyList<string> requested, IEnumerable<string> existing, [NotNullWhen(true)] out List<string>? scope,
        [NotNullWhen(false)] out string? error)
    {
        var catalog = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in existing)
        {
            catalog.TryAdd(name, name);
        }

        scope = [];
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in requested)
        {
            if (Names.ValidateDatabase(name) is not null)
            {
                error = $"invalid database '{name}' in databases";
                return false;
            }

            if (!seen.Add(name))
            {
                error = $"database '{name}' is listed twice in databases (names are compared ignoring case)";
                return false;
            }

            scope.Add(catalog.GetValueOrDefault(name, name));
        }

        error = null;
        return true;
    }

    private static List<string> Words(Permission permissions) => Permissions.Format(permissions).Split(',', StringSplitOptions.RemoveEmptyEntries).ToList();

    private static TokenItem Item(TokenInfo token, DateTime now) => new(token.Id, token.Name, token.Description, Words(token.Permissions),
        token.Databases, token.CreatedAt, token.ExpiresAt, token.RevokedAt, token.ActiveAt(now));

    private static IResult Done(string message) => Results.Json(new TokenMessage(true, message), AuthJsonContext.Api.TokenMessage);

    private static IResult NotFound() => Results.Json(new ErrorResponse("Token not found"), ApiJsonContext.Api.ErrorResponse,
        statusCode: StatusCodes.Status404NotFound);

    private static IResult Bad(string message) => Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse,
        statusCode: StatusCodes.Status400BadRequest);
}

/// <summary>A token create (POST) or update (PATCH) request: Arc's fields, plus <c>databases</c> and <c>expires_in_seconds</c>.</summary>
public sealed record TokenRequest(
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("permissions")] IReadOnlyList<string>? Permissions,
    [property: JsonPropertyName("databases")] IReadOnlyList<string>? Databases,
    [property: JsonPropertyName("expires_in")] string? ExpiresIn,
    [property: JsonPropertyName("expires_in_seconds")] long? ExpiresInSeconds);

/// <summary>A token as listed: Arc's <c>TokenInfo</c> (<c>enabled</c> is false once revoked or expired), plus its scope and revocation time.</summary>
public sealed record TokenItem(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("permissions")] IReadOnlyList<string> Permissions,
    [property: JsonPropertyName("databases")] IReadOnlyList<string>? Databases,
    [property: JsonPropertyName("created_at")] DateTime CreatedAt,
    [property: JsonPropertyName("expires_at")] DateTime? ExpiresAt,
    [property: JsonPropertyName("revoked_at")] DateTime? RevokedAt,
    [property: JsonPropertyName("enabled")] bool Enabled);

public sealed record TokenListResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("tokens")] IReadOnlyList<TokenItem> Tokens,
    [property: JsonPropertyName("count")] int Count);

public sealed record TokenResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("token")] TokenItem Token);

public sealed record CreatedTokenResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("token")] string Token,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("info")] TokenItem Info);

public sealed record RotatedTokenResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("new_token")] string NewToken,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("info")] TokenItem Info);

/// <summary>Arc's answer to a token change: <c>{success, message}</c> (failures are the usual <c>{success: false, error}</c>).</summary>
public sealed record TokenMessage(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("message")] string Message);

public sealed record VerifyResponse(
    [property: JsonPropertyName("valid")] bool Valid,
    [property: JsonPropertyName("token_info"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] TokenItem? TokenInfo,
    [property: JsonPropertyName("permissions"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Permissions,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);

[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenListResponse))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(CreatedTokenResponse))]
[JsonSerializable(typeof(RotatedTokenResponse))]
[JsonSerializable(typeof(TokenMessage))]
[JsonSerializable(typeof(VerifyResponse))]
internal sealed partial class AuthJsonContext : JsonSerializerContext
{
    public static AuthJsonContext Api { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
