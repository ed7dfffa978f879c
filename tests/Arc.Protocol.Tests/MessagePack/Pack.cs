using MessagePack;
using MessagePack.Resolvers;

namespace Arc.Protocol.Tests.MessagePack;

/// <summary>Builds test payloads with MessagePack-CSharp, an encoder independent of the reader under test.</summary>
internal static class Pack
{
    private static readonly MessagePackSerializerOptions Options = ContractlessStandardResolver.Options;

    /// <summary>Serializes maps (Dictionary&lt;string, object?&gt;), arrays (object?[]), strings, numbers, booleans and null.</summary>
    public static byte[] Serialize(object? value) => MessagePackSerializer.Serialize(value, Options);

    public static Dictionary<string, object?> Map(params (string Key, object? Value)[] entries)
    {
        var map = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in entries)
        {
            map.Add(key, value);
        }

        return map;
    }

    public static object?[] Array(params object?[] items) => items;
}
