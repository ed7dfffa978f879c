using System.Text.Json.Serialization;

namespace Arc.Engine;

/// <summary>Source-generated JSON metadata for the few values the engine serializes itself (AOT: no reflection).</summary>
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(Compaction.CompactionManifest))]
internal sealed partial class EngineJsonContext : JsonSerializerContext;
