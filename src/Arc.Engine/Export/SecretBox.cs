using System.Security.Cryptography;
using System.Text;
using Arc.Engine.Storage;

namespace Arc.Engine.Export;

/// <summary>
/// AES-256-GCM for the credentials in the export metadata store. The key is 32 random bytes in a file of its own (mode
/// 0600) beside the store, so a copy of the store alone reveals no secret. Each value gets a fresh 96-bit nonce and is
/// bound to its record (associated data), so a ciphertext cannot be moved to another job or connection.
/// </summary>
internal sealed class SecretBox
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _key;

    public SecretBox(string keyPath) => _key = KeyFile.LoadOrCreate(keyPath);

    /// <summary>base64(nonce | ciphertext | tag).</summary>
    public string Seal(string plaintext, string context)
    {
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[NonceSize + plain.Length + TagSize];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, output.AsSpan(NonceSize, plain.Length), output.AsSpan(NonceSize + plain.Length), Encoding.UTF8.GetBytes(context));
        return Convert.ToBase64String(output);
    }

    public string Open(string sealedText, string context)
    {
        var input = Convert.FromBase64String(sealedText);
        if (input.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("sealed secret is too short");
        }

        var length = input.Length - NonceSize - TagSize;
        var plain = new byte[length];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(input.AsSpan(0, NonceSize), input.AsSpan(NonceSize, length), input.AsSpan(NonceSize + length), plain, Encoding.UTF8.GetBytes(context));
        return Encoding.UTF8.GetString(plain);
    }
}
