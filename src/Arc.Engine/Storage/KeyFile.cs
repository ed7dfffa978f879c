using System.Security.Cryptography;

namespace Arc.Engine.Storage;

/// <summary>
/// A 256-bit secret key in a file of its own (mode 0600), created with random bytes on first use and flushed to disk
/// before it is used, so a restart never meets a key other than the one its data was protected with. The token store
/// (HMAC of tokens) and the export store (AES-GCM of credentials) each keep one beside their database.
/// </summary>
public static class KeyFile
{
    public const int KeySize = 32;

    public static byte[] LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            var existing = File.ReadAllBytes(path);
            return existing.Length == KeySize ? existing : throw new InvalidDataException($"{path} is not a {KeySize}-byte key");
        }

        var key = RandomNumberGenerator.GetBytes(KeySize);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(path, options))
        {
            stream.Write(key);
            stream.Flush(flushToDisk: true);
        }

        return key;
    }
}
