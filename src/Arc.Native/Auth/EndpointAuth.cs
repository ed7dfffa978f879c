using Arc.Engine.Auth;
namespace Arc.Native.Auth;

/// <summary>Endpoint metadata: the permission a route requires. A route without any auth metadata requires admin.</summary>
public sealed record RequiresPermission(Permission Permission);

/// <summary>Endpoint metadata: the route is served without a token (the public allowlist).</summary>
public sealed record PublicEndpoint;

public static class EndpointAuthExtensions
{
    public static TBuilder Requires<TBuilder>(this TBuilder builder, Permission permission)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiresPermission(permission));

    public static TBuilder Public<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new PublicEndpoint());

    /// <summary>The token of the request (null when authentication is disabled or the route is public without one).</summary>
    public static TokenIdentity? Token(this HttpContext context) =>
        context.Items.TryGetValue(AuthMiddleware.TokenKey, out var token) ? token as TokenIdentity : null;

    /// <summary>
    /// What the request's SQL may read: everything for an admin token without a database scope (or without authentication),
    /// otherwise the measurements of the token's databases (all databases when it has no scope) and nothing of DuckDB's
    /// catalog or files.
    /// </summary>
    public static Engine.Query.QueryAccess QueryAccess(this HttpContext context) => context.Token() is { } token
        ? new Engine.Query.QueryAccess(token.Has(Permission.Admin) && token.Databases is null, token.Databases)
        : Engine.Query.QueryAccess.Full;

    /// <summary>Whether the request's token may use <paramref name="database"/> (always, without authentication).</summary>
    public static bool MayUse(this HttpContext context, string database) => context.Token()?.Allows(database) ?? true;
}
