using System.Net.Http.Headers;
using System.Text;
using Arc.Engine.Auth;
using Arc.Native.Http;

namespace Arc.Native.Auth;

/// <summary>
/// Authenticates every request that reaches an endpoint. Deny by default: a route must say which permission it needs
/// (<see cref="RequiresPermission"/>) or that it is public (<see cref="PublicEndpoint"/>); a route that says nothing
/// requires admin. Tokens are accepted as <c>Authorization: Bearer</c>, <c>Authorization: Token</c> (InfluxDB 2.x
/// clients), the bare token as the <c>Authorization</c> header (as Arc), <c>x-api-key</c>, Basic auth with the token as password, and InfluxDB 1.x <c>?u=&amp;p=</c> (p is the token).
/// Secrets are never logged.
/// </summary>
public sealed class AuthMiddleware(RequestDelegate next, TokenStore tokens)
{
    public const string TokenKey = "arc.token";

    public async Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        if (endpoint is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var secret = Extract(context.Request);
        var identity = secret is null ? null : tokens.Validate(secret);
        if (identity is not null)
        {
            context.Items[TokenKey] = identity;
        }

        if (endpoint.Metadata.GetMetadata<PublicEndpoint>() is not null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var required = endpoint.Metadata.GetMetadata<RequiresPermission>()?.Permission ?? Permission.Admin;
        if (identity is null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"arc\"";
            await WriteEndpoints.Error(context, StatusCodes.Status401Unauthorized, secret is null
                ? "authentication required: send Authorization: Bearer <token> (or Token, x-api-key, Basic, ?p=)"
                : "invalid, expired or revoked token").ConfigureAwait(false);
            return;
        }

        if (!identity.Has(required))
        {
            await WriteEndpoints.Error(context, StatusCodes.Status403Forbidden,
                $"token '{identity.Name}' lacks the '{Permissions.Format(required)}' permission").ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    }

    private static string? Extract(HttpRequest request)
    {
        if (AuthenticationHeaderValue.TryParse(request.Headers.Authorization.ToString(), out var header) && header.Parameter is { Length: > 0 } value)
        {
            if (header.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) || header.Scheme.Equals("Token", StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }

            if (header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
            {
                try
                {
                    var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(value));
                    var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                    return colon >= 0 ? decoded[(colon + 1)..] : null;
                }
                catch (FormatException)
                {
                    return null;
                }
            }
        }

        // Arc also takes the bare token as the whole header (Authorization: arc_...).
        if (request.Headers.Authorization.ToString().Trim() is { Length: > 0 } bare && !bare.Contains(' ', StringComparison.Ordinal))
        {
            return bare;
        }

        if (request.Headers["x-api-key"].ToString() is { Length: > 0 } apiKey)
        {
            return apiKey;
        }

        return request.Query["p"].ToString() is { Length: > 0 } password ? password : null;
    }
}
