using System.Text.Json.Serialization;

namespace Arc.Engine.Storage;

/// <summary>The file <c>{database}/.arc-database</c> that makes an empty database exist (Arc's marker, same content).</summary>
public sealed record DatabaseMarker([property: JsonPropertyName("created_at")] string CreatedAt)
{
    public const string FileName = ".arc-database";
}
