using System.Buffers.Binary;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Arc.Engine;
using Microsoft.Win32.SafeHandles;

namespace Arc.Native.Distribution;

/// <summary>
/// The optional single-file layout: native libraries (libduckdb.so, ParquetSharpNative.so) appended to the executable by
/// <c>dotnet publish -p:ArcEmbedNativeLibraries=true</c> (see Arc.Native.csproj, target <c>ArcEmbedNativeLibraries</c>),
/// and loaded from there on first use through a <see cref="DllImportResolver"/>.
/// </summary>
/// <remarks>
/// <para>Layout of a bundled executable (all integers little-endian):</para>
/// <code>
/// [ELF executable as linked] [library 1] [library 2] ... [index: UTF-8 lines "name\toffset\tlength\n"]
/// [index offset: int64] [index length: int64] ["ARCNLIB1": 8 ASCII bytes]
/// </code>
/// <para>The ELF loader ignores bytes past the last segment, so the executable runs unchanged. A library is copied into
/// a sealed <c>memfd</c> and loaded from <c>/proc/self/fd/N</c> (no file on disk); where that is refused (no memfd, a
/// kernel with <c>vm.memfd_noexec=2</c>, no /proc) it goes to a private temporary file that is unlinked once loaded.
/// <c>ARC_NATIVE_EXTRACT=tempfile</c> forces the temporary file. Without a bundle nothing is registered and the runtime
/// finds the libraries beside the executable, the default layout.</para>
/// </remarks>
internal static partial class NativeBundle
{
    internal const string Magic = "ARCNLIB1";
    internal const int FooterSize = 24;
    private const string ExtractVariable = "ARC_NATIVE_EXTRACT";

    // memfd_create(2) and fcntl(2) constants (linux/memfd.h, linux/fcntl.h).
    private const uint MfdCloexec = 0x1;
    private const uint MfdAllowSealing = 0x2;
    private const uint MfdExec = 0x10;
    private const int Einval = 22;
    private const int FAddSeals = 1033;
    private const int FSealSeal = 0x1;
    private const int FSealShrink = 0x2;
    private const int FSealGrow = 0x4;
    private const int FSealWrite = 0x8;

    /// <summary>The memfds of loaded libraries, kept open (see <see cref="TryLoadFromMemfd"/>).</summary>
    private static readonly List<SafeFileHandle> _memfds = [];

    /// <summary>One library inside the bundle: its file name and where its bytes are in the executable.</summary>
    internal readonly record struct Entry(string Name, long Offset, long Length);

    /// <summary>
    /// Registers the resolver for every assembly that imports a bundled library, when this executable carries a bundle.
    /// Cheap (reads the last 24 bytes of the executable); the libraries themselves are extracted on first use, so
    /// <c>--help</c> and <c>healthcheck</c> never pay for them. Must run before the first DuckDB or ParquetSharp call.
    /// </summary>
    /// <returns>The bundled entries, or an empty list when the libraries are expected beside the executable.</returns>
    public static IReadOnlyList<Entry> Initialize()
    {
        var executable = File.Exists("/proc/self/exe") ? "/proc/self/exe" : Environment.ProcessPath;
        if (executable is null)
        {
            return [];
        }

        var entries = ReadIndex(executable);
        if (entries.Count == 0)
        {
            return entries;
        }

        var forceTempFile = string.Equals(Environment.GetEnvironmentVariable(ExtractVariable), "tempfile", StringComparison.Ordinal);
        var libraries = new Dictionary<string, Lazy<IntPtr>>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            var library = new Lazy<IntPtr>(() => Load(executable, entry, forceTempFile), LazyThreadSafetyMode.ExecutionAndPublication);
            foreach (var name in ImportNames(entry.Name))
            {
                libraries.TryAdd(name, library);
            }
        }

        DllImportResolver resolver = (name, _, _) => libraries.TryGetValue(name, out var library) ? library.Value : IntPtr.Zero;
        foreach (var assembly in ImportingAssemblies())
        {
            NativeLibrary.SetDllImportResolver(assembly, resolver);
        }

        return entries;
    }

    /// <summary>The assemblies whose DllImport/LibraryImport declarations name a bundled library.</summary>
    private static IEnumerable<Assembly> ImportingAssemblies() =>
    [
        typeof(DuckDB.NET.Native.NativeMethods).Assembly, // "duckdb"
        typeof(ParquetSharp.ParquetFileWriter).Assembly, // "ParquetSharpNative"
        typeof(ArcEngine).Assembly, // "duckdb" (DuckDbExtra) and "libc", which falls through to the default probing
    ];

    /// <summary>The names an import may use for a library file: <c>libduckdb.so</c> answers "duckdb", "libduckdb" and itself.</summary>
    internal static IEnumerable<string> ImportNames(string fileName)
    {
        yield return fileName;
        var stem = fileName.EndsWith(".so", StringComparison.Ordinal) ? fileName[..^3] : fileName;
        yield return stem;
        if (stem.StartsWith("lib", StringComparison.Ordinal) && stem.Length > 3)
        {
            yield return stem[3..];
        }
    }

    /// <summary>Reads the bundle index at the end of <paramref name="path"/>; empty when the file carries no bundle.</summary>
    /// <exception cref="InvalidDataException">The footer is there but the index is not consistent with the file.</exception>
    internal static IReadOnlyList<Entry> ReadIndex(string path)
    {
        using var file = File.OpenHandle(path);
        var length = RandomAccess.GetLength(file);
        if (length < FooterSize)
        {
            return [];
        }

        Span<byte> footer = stackalloc byte[FooterSize];
        ReadExactly(file, footer, length - FooterSize);
        if (!footer[16..].SequenceEqual(Encoding.ASCII.GetBytes(Magic)))
        {
            return [];
        }

        var indexOffset = BinaryPrimitives.ReadInt64LittleEndian(footer);
        var indexLength = BinaryPrimitives.ReadInt64LittleEndian(footer[8..]);
        if (indexOffset < 0 || indexLength < 0 || indexLength > 1 << 20 || indexOffset + indexLength != length - FooterSize)
        {
            throw new InvalidDataException($"{path}: corrupt native library bundle (index at {indexOffset}, {indexLength} bytes)");
        }

        var index = new byte[indexLength];
        ReadExactly(file, index, indexOffset);
        var entries = new List<Entry>();
        foreach (var line in Encoding.UTF8.GetString(index).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t');
            if (parts.Length != 3 || parts[0].Length == 0 || parts[0].Contains('/', StringComparison.Ordinal)
                || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
                || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
                || offset + size > indexOffset)
            {
                throw new InvalidDataException($"{path}: corrupt native library bundle (index line '{line}')");
            }

            entries.Add(new Entry(parts[0], offset, size));
        }

        return entries;
    }

    private static IntPtr Load(string executable, Entry entry, bool forceTempFile)
    {
        string? memfdError = null;
        if (!forceTempFile)
        {
            var handle = TryLoadFromMemfd(executable, entry, out memfdError);
            if (handle != IntPtr.Zero)
            {
                return handle;
            }
        }

        try
        {
            return LoadFromTempFile(executable, entry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException)
        {
            throw new DllNotFoundException(
                $"cannot load the bundled {entry.Name}: {(memfdError is null ? "" : memfdError + "; ")}temporary file: {e.Message}", e);
        }
    }

    private static IntPtr TryLoadFromMemfd(string executable, Entry entry, out string? error)
    {
        // MFD_EXEC (Linux 6.3+) keeps the memfd executable where vm.memfd_noexec=1 would default it to noexec;
        // older kernels reject the flag with EINVAL, so retry without it.
        var fd = MemfdCreate(entry.Name, MfdCloexec | MfdAllowSealing | MfdExec);
        if (fd < 0 && Marshal.GetLastPInvokeError() == Einval)
        {
            fd = MemfdCreate(entry.Name, MfdCloexec | MfdAllowSealing);
        }

        if (fd < 0)
        {
            error = $"memfd_create: errno {Marshal.GetLastPInvokeError()}";
            return IntPtr.Zero;
        }

        var memfd = new SafeFileHandle((IntPtr)fd, ownsHandle: true);
        try
        {
            Copy(executable, entry, memfd);
            _ = Fcntl(fd, FAddSeals, FSealSeal | FSealShrink | FSealGrow | FSealWrite); // best effort: read-only from here on
            if (NativeLibrary.TryLoad($"/proc/self/fd/{fd}", out var handle))
            {
                // The descriptor stays open for the life of the process: glibc recognises an already loaded library by
                // the path it was opened with, so closing it would let the next memfd reuse the number and dlopen of
                // "/proc/self/fd/N" would hand back the first library instead of loading the second.
                lock (_memfds)
                {
                    _memfds.Add(memfd);
                }

                error = null;
                return handle;
            }

            error = "dlopen of the memfd failed (noexec memfd or no /proc)";
        }
        catch (IOException e)
        {
            error = $"memfd: {e.Message}";
        }

        memfd.Dispose();
        return IntPtr.Zero;
    }

    private static IntPtr LoadFromTempFile(string executable, Entry entry)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("native library bundles are a Linux feature");
        }

        var directory = Path.Combine(Path.GetTempPath(), $"arc-native-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = Path.Combine(directory, entry.Name);
        try
        {
            using (var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None,
                       preallocationSize: entry.Length))
            {
                Copy(executable, entry, file);
            }

            return NativeLibrary.Load(path);
        }
        finally
        {
            Directory.Delete(directory, recursive: true); // a loaded library stays mapped after its file is unlinked
        }
    }

    /// <summary>Copies one library's bytes from the executable to <paramref name="target"/>, in the kernel when it can.</summary>
    private static void Copy(string executable, Entry entry, SafeFileHandle target)
    {
        using var source = File.OpenHandle(executable);
        var offset = entry.Offset;
        var end = entry.Offset + entry.Length;
        while (offset < end)
        {
            var sent = SendFile((int)target.DangerousGetHandle(), (int)source.DangerousGetHandle(), ref offset,
                (nuint)Math.Min(end - offset, 1 << 30));
            if (sent <= 0)
            {
                break; // sendfile refused (or EOF): finish with reads and writes
            }
        }

        if (offset < end)
        {
            var buffer = new byte[1 << 20];
            var written = offset - entry.Offset;
            while (offset < end)
            {
                var read = RandomAccess.Read(source, buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - offset)), offset);
                if (read == 0)
                {
                    throw new IOException($"{executable}: truncated native library bundle ({entry.Name})");
                }

                RandomAccess.Write(target, buffer.AsSpan(0, read), written);
                offset += read;
                written += read;
            }
        }
    }

    private static void ReadExactly(SafeFileHandle file, Span<byte> buffer, long offset)
    {
        while (buffer.Length > 0)
        {
            var read = RandomAccess.Read(file, buffer, offset);
            if (read == 0)
            {
                throw new InvalidDataException("unexpected end of file in the native library bundle");
            }

            buffer = buffer[read..];
            offset += read;
        }
    }

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "sendfile", SetLastError = true)]
    private static partial nint SendFile(int outFd, int inFd, ref long offset, nuint count);
}
