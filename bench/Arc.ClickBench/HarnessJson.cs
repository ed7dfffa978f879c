using System.Text.Json.Serialization;

namespace Arc.ClickBench;

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(Manifest))]
[JsonSerializable(typeof(QueryRequest))]
[JsonSerializable(typeof(string))]
internal sealed partial class HarnessJson : JsonSerializerContext;
