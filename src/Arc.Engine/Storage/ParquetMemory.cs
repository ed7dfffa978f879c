using System.Runtime.InteropServices;

namespace Arc.Engine.Storage;

/// <summary>
/// The allocator of the Arrow C++ library under ParquetSharp (every flush, merge and Parquet import). Arrow picks its
/// default pool once, at its first allocation, from <c>ARROW_DEFAULT_MEMORY_POOL</c>; this library's build defaults to
/// mimalloc, which reserves 1 GiB arenas, asks for transparent huge pages on them and keeps what it freed resident: in a
/// sustained ingest it held 150–220 MB more than jemalloc. <see cref="Configure"/> sets the variable
/// to <c>jemalloc</c> in the process's C environment (Arrow's own jemalloc: 1-second decay, a background thread
/// returning freed pages) unless the operator set it, before anything reaches Arrow.
/// </summary>
internal static partial class ParquetMemory
{
    private const string Variable = "ARROW_DEFAULT_MEMORY_POOL";
    private const string Default = "jemalloc";
    private static int _configured;

    /// <summary>Idempotent; the operator's own <c>ARROW_DEFAULT_MEMORY_POOL</c> (jemalloc, mimalloc, system) wins.</summary>
    public static void Configure()
    {
        if (Interlocked.Exchange(ref _configured, 1) == 0 && SetEnv(Variable, Default, overwrite: 0) != 0)
        {
            throw new InvalidOperationException($"setenv({Variable}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>The backend Arrow uses (<c>jemalloc</c>, <c>mimalloc</c>, <c>system</c>) and the bytes it has allocated now.</summary>
    public static (string Backend, long Bytes) Usage()
    {
        var pool = ParquetSharp.MemoryPool.GetDefaultMemoryPool();
        return (pool.BackendName, pool.BytesAllocated);
    }

    /// <summary>setenv(3): .NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not reach the C environment native libraries read.</summary>
    [LibraryImport("libc", EntryPoint = "setenv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
