using System.Buffers.Binary;
using System.Text;
using Arc.Native.Distribution;

namespace Arc.Native.Tests;

/// <summary>
/// The bundle index reader. The writer is the MSBuild task in Arc.Native.csproj; the end-to-end check (a published
/// executable with the libraries appended, started from an empty directory) is scripts/smoke-aot.sh in scripts/test.sh.
/// </summary>
public sealed class NativeBundleTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "arc-bundle-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void AnExecutableWithoutABundleHasNoEntries()
    {
        File.WriteAllBytes(_path, Encoding.ASCII.GetBytes("\u007fELF not a bundle, just some bytes long enough for a footer"));
        Assert.Empty(NativeBundle.ReadIndex(_path));
        File.WriteAllBytes(_path, [1, 2, 3]);
        Assert.Empty(NativeBundle.ReadIndex(_path));
    }

    [Fact]
    public void EntriesPointAtTheAppendedBytes()
    {
        var executable = Encoding.ASCII.GetBytes("\u007fELF-executable");
        WriteBundle(executable, ("libduckdb.so", "duck bytes"u8.ToArray()), ("ParquetSharpNative.so", "parquet"u8.ToArray()));

        var entries = NativeBundle.ReadIndex(_path);

        Assert.Equal(["libduckdb.so", "ParquetSharpNative.so"], entries.Select(e => e.Name));
        var bytes = File.ReadAllBytes(_path);
        Assert.Equal("duck bytes", Encoding.ASCII.GetString(bytes, (int)entries[0].Offset, (int)entries[0].Length));
        Assert.Equal("parquet", Encoding.ASCII.GetString(bytes, (int)entries[1].Offset, (int)entries[1].Length));
        Assert.Equal(executable.Length, entries[0].Offset);
    }

    [Fact]
    public void ACorruptIndexIsReportedNotIgnored()
    {
        WriteBundle("exe"u8.ToArray(), ("libduckdb.so", new byte[10]));
        var bytes = File.ReadAllBytes(_path);
        bytes[^FooterSize()] ^= 0x40; // index offset no longer matches the file
        File.WriteAllBytes(_path, bytes);
        Assert.Throws<InvalidDataException>(() => NativeBundle.ReadIndex(_path));
    }

    [Theory]
    [InlineData("libduckdb.so", new[] { "libduckdb.so", "libduckdb", "duckdb" })]
    [InlineData("ParquetSharpNative.so", new[] { "ParquetSharpNative.so", "ParquetSharpNative" })]
    public void ImportNamesCoverWhatDllImportsSay(string file, string[] names)
    {
        Assert.Equal(names, NativeBundle.ImportNames(file));
    }

    private static int FooterSize() => NativeBundle.FooterSize;

    /// <summary>The format the MSBuild task writes (see NativeBundle's remarks).</summary>
    private void WriteBundle(byte[] executable, params (string Name, byte[] Bytes)[] libraries)
    {
        using var stream = new MemoryStream();
        stream.Write(executable);
        var index = new StringBuilder();
        foreach (var (name, bytes) in libraries)
        {
            index.Append($"{name}\t{stream.Position}\t{bytes.Length}\n");
            stream.Write(bytes);
        }

        var indexOffset = stream.Position;
        var indexBytes = Encoding.UTF8.GetBytes(index.ToString());
        stream.Write(indexBytes);
        Span<byte> footer = stackalloc byte[NativeBundle.FooterSize];
        BinaryPrimitives.WriteInt64LittleEndian(footer, indexOffset);
        BinaryPrimitives.WriteInt64LittleEndian(footer[8..], indexBytes.Length);
        Encoding.ASCII.GetBytes(NativeBundle.Magic, footer[16..]);
        stream.Write(footer);
        File.WriteAllBytes(_path, stream.ToArray());
    }
}
