namespace Arc.Engine.Auth;

/// <summary>What a token may do. <see cref="Admin"/> includes every other permission.</summary>
[Flags]
public enum Permission
{
    None = 0,
    Read = 1,
    Write = 2,
    Delete = 4,
    Admin = 8,
}

public static class Permissions
{
    public static string Format(Permission permissions) =>
        string.Join(',', new[] { Permission.Read, Permission.Write, Permission.Delete, Permission.Admin }
            .Where(p => (permissions & p) != 0)
            .Select(p => p.ToString().ToLowerInvariant()));

    /// <summary>Parses <c>read,write,...</c>; null when a word is unknown.</summary>
    public static Permission? Parse(IEnumerable<string> words)
    {
        var result = Permission.None;
        foreach (var word in words)
        {
            switch (word.Trim().ToLowerInvariant())
            {
                case "read":
                    result |= Permission.Read;
                    break;
                case "write":
                    result |= Permission.Write;
                    break;
                case "delete":
                    result |= Permission.Delete;
                    break;
                case "admin":
                    result |= Permission.Admin;
                    break;
                case "":
                    break;
                default:
                    return null;
            }
        }

        return result;
    }
}

/// <summary>A validated token, as the request handlers see it.</summary>
/// <param name="Databases">
/// The databases the token is scoped to (null: any), compared ignoring case as DuckDB resolves names: every check, here and
/// in the query engine, goes through this set's comparer.
/// </param>
public sealed record TokenIdentity(string Id, string Name, Permission Permissions, IReadOnlySet<string>? Databases, DateTime? ExpiresAt)
{
    public bool Has(Permission permission) => (Permissions & Permission.Admin) != 0 || (Permissions & permission) == permission;

    /// <summary>Whether the token may touch <paramref name="database"/> (unscoped tokens may touch any).</summary>
    public bool Allows(string database) => Databases is null || Databases.Contains(database);
}
