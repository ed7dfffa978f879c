using System.Runtime.InteropServices;

namespace Arc.Engine.Storage;

/// <summary>fsync for files and directories, so a rename is durable before the data it replaces is dropped.</summary>
internal static partial class Durability
{
    private const int ReadOnly = 0;
    private const int Directory = 0x10000; // O_DIRECTORY on Linux

    /// <summary>Flushes a file's data and metadata to the device.</summary>
    public static void FsyncFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Flushes a directory's entries (a rename or create inside it) to the device.</summary>
    public static void FsyncDirectory(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = Open(path, ReadOnly | Directory);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {path} to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {path} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Flushes an open file's data (fdatasync) or data and metadata (fsync) to the device.</summary>
    public static void Sync(Microsoft.Win32.SafeHandles.SafeFileHandle file, bool dataOnly)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(file);
            return;
        }

        var fd = (int)file.DangerousGetHandle();
        if ((dataOnly ? Fdatasync(fd) : Fsync(fd)) != 0)
        {
            throw new IOException($"{(dataOnly ? "fdatasync" : "fsync")} failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    /// <summary>Renames <paramref name="temp"/> over <paramref name="final"/> after syncing it, then syncs the directory.</summary>
    public static void CommitFile(string temp, string final)
    {
        FsyncFile(temp);
        File.Move(temp, final, overwrite: true);
        FsyncDirectory(Path.GetDirectoryName(final)!);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> durably (its directory created if needed, a temporary
    /// file synced and renamed over it, the directory synced): a reader sees the old content or the new, never a torn one.
    /// </summary>
    public static void WriteFile(string path, byte[] bytes)
    {
        LocalStore.EnsureDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, bytes);
        CommitFile(temp, path);
    }

    /// <summary>Deletes <paramref name="path"/> and syncs its directory, so the deletion survives a crash.</summary>
    public static void DeleteFile(string path)
    {
        File.Delete(path);
        FsyncDirectory(Path.GetDirectoryName(path)!);
    }

    /// <summary>
    /// The JSON markers (<c>*.json</c>, written by <see cref="WriteFile"/>) in <paramref name="directory"/>, oldest first
    /// (their names sort in creation order). Leftover temporary files are deleted, and so is a torn marker: the process
    /// died while writing it, before the job it describes touched anything.
    /// </summary>
    public static List<T> ReadMarkers<T>(string directory, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        var markers = new List<T>();
        if (!System.IO.Directory.Exists(directory))
        {
            return markers;
        }

        foreach (var temp in System.IO.Directory.GetFiles(directory, "*.tmp"))
        {
            File.Delete(temp);
        }

        foreach (var file in System.IO.Directory.GetFiles(directory, "*.json").Order(StringComparer.Ordinal))
        {
            T? marker;
            try
            {
                marker = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(file), type);
            }
            catch (System.Text.Json.JsonException)
            {
                marker = null;
            }

            if (marker is null)
            {
                File.Delete(file);
                continue;
            }

            markers.Add(marker);
        }

        return markers;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int Fdatasync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
