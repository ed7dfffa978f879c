namespace Arc.Native.Configuration;

/// <summary>A configuration problem that stops startup; the message names the key.</summary>
public sealed class ConfigException(string message) : Exception(message);
