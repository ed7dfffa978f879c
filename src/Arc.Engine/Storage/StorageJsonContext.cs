using System.Text.Json.Serialization;

namespace Arc.Engine.Storage;

/// <summary>Source-generated JSON metadata for the tag-name lists in Parquet key-value metadata (AOT: no reflection).</summary>
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(DropMarker))]
[JsonSerializable(typeof(DatabaseMarker))]
[JsonSerializable(typeof(DeleteMarker))]
[JsonSerializable(typeof(RetentionMarker))]
internal sealed partial class StorageJsonContext : JsonSerializerContext;
