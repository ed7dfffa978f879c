using System.Diagnostics.CodeAnalysis;
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
        app.MapGet("/api/v1/auth/verify", (HttpContext context) => context.Token() is { } token
            ? Results.Json(new VerifyResponse(true, token.Id, token.Name, Words(token.Permissions), token.Databases?.Order().ToList(), token.ExpiresAt),
                AuthJsonContext.Api.VerifyResponse)
            : Results.Json(new VerifyResponse(false, null, null, [], null, null), AuthJsonContext.Api.VerifyResponse,
                statusCode: StatusCodes.Status401Unauthorized)).Public();

        var tokens = app.MapGroup("/api/v1/auth/tokens").Requires(Permission.Admin);
        tokens.MapGet("/", (TokenStore store) => Results.Json(store.List().Select(t => Item(t, store.Now)).ToList(), AuthJsonContext.Api.ListTokenItem));
        tokens.MapGet("/{id}", (TokenStore store, string id) => store.Get(id) is { } token
            ? Results.Json(Item(token, store.Now), AuthJsonContext.Api.TokenItem)
            : NotFound(id));
        tokens.MapPost("/", (TokenStore store, ArcEngine engine, CreateTokenRequest request) =>
        {
            if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 128)
            {
                return Bad("name is required (at most 128 characters)");
            }

            if (Permissions.Parse(request.Permissions ?? []) is not { } permissions || permissions == Permission.None)
            {
                return Bad("permissions must be a non-empty list of read, write, delete, admin");
            }

            List<string>? databases = null;
            if (request.Databases is { } requested && !TryScope(requested, engine.Databases, out databases, out var scopeError))
            {
                return Bad(scopeError);
            }

            if (request.ExpiresInSeconds is <= 0 or > MaxExpiresInSeconds)
            {
                return Bad($"expires_in_seconds must be from 1 to {MaxExpiresInSeconds} (100 years); leave it out for a token that does not expire");
            }

            var expires = request.ExpiresInSeconds is { } seconds ? store.Now.AddSeconds(seconds) : (DateTime?)null;
            var (info, secret) = store.Create(request.Name.Trim(), permissions, databases, expires);
            return Results.Json(new CreatedTokenResponse(secret, Item(info, store.Now)), AuthJsonContext.Api.CreatedTokenResponse,
                statusCode: StatusCodes.Status201Created);
        }).RequireRateLimiting(CreatePolicy);
        tokens.MapPost("/{id}/rotate", (TokenStore store, string id) => store.Rotate(id) is { } secret
            ? Results.Json(new CreatedTokenResponse(secret, Item(store.Get(id)!, store.Now)), AuthJsonContext.Api.CreatedTokenResponse)
            : NotFound(id));
        tokens.MapPost("/{id}/revoke", (TokenStore store, string id) => store.Revoke(id) ? Results.NoContent() : NotFound(id));
        tokens.MapDelete("/{id}", (TokenStore store, string id) => store.Revoke(id) ? Results.NoContent() : NotFound(id));
    }

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

    private static TokenItem Item(TokenInfo token, DateTime now) => new(token.Id, token.Name, Words(token.Permissions), token.Databases,
        token.CreatedAt, token.ExpiresAt, token.RevokedAt, token.ActiveAt(now));

    private static IResult NotFound(string id) => Results.Json(new ErrorResponse($"no active token with id '{id}'"), ApiJsonContext.Api.ErrorResponse,
        statusCode: StatusCodes.Status404NotFound);

    private static IResult Bad(string message) => Results.Json(new ErrorResponse(message), ApiJsonContext.Api.ErrorResponse,
        statusCode: StatusCodes.Status400BadRequest);
}

public sealed record CreateTokenRequest(
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("permissions")] IReadOnlyList<string>? Permissions,
    [property: JsonPropertyName("databases")] IReadOnlyList<string>? Databases,
    [property: JsonPropertyName("expires_in_seconds")] long? ExpiresInSeconds);

public sealed record TokenItem(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("permissions")] IReadOnlyList<string> Permissions,
    [property: JsonPropertyName("databases")] IReadOnlyList<string>? Databases,
    [property: JsonPropertyName("created_at")] DateTime CreatedAt,
    [property: JsonPropertyName("expires_at")] DateTime? ExpiresAt,
    [property: JsonPropertyName("revoked_at")] DateTime? RevokedAt,
    [property: JsonPropertyName("active")] bool Active);

public sealed record CreatedTokenResponse(
    [property: JsonPropertyName("token")] string Token,
    [property: JsonPropertyName("info")] TokenItem Info);

public sealed record VerifyResponse(
    [property: JsonPropertyName("valid")] bool Valid,
    [property: JsonPropertyName("id")] string? Id,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("permissions")] IReadOnlyList<string> Permissions,
    [property: JsonPropertyName("databases")] IReadOnlyList<string>? Databases,
    [property: JsonPropertyName("expires_at")] DateTime? ExpiresAt);

[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(TokenItem))]
[JsonSerializable(typeof(List<TokenItem>))]
[JsonSerializable(typeof(CreatedTokenResponse))]
[JsonSerializable(typeof(VerifyResponse))]
internal sealed partial class AuthJsonContext : JsonSerializerContext
{
    public static AuthJsonContext Api { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
