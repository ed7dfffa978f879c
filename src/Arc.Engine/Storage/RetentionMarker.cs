using System.Text.Json;
using System.Text.Json.Serialization;

namespace Arc.Engine.Storage;

/// <summary>
/// The durable record of one measurement's retention removal, <c>{local_path}/.retention/{id}.json</c>, written (and
/// synced) before any of its files is removed. It names the files as keys under the storage root (the same keys as in
/// object storage). From then on the removal happens: if the process dies before it finished, the next start deletes the
/// named files locally before anything reads the tree, and from object storage once that is connected, then the marker.
/// A torn marker (the process died while writing it) is deleted: nothing had been removed yet.
/// </summary>
public sealed record RetentionMarker(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string Measurement,
    [property: JsonPropertyName("files")] IReadOnlyList<string> Files)
{
    public static string DirectoryOf(LocalStore store) => Path.Combine(store.Root, ".retention");

    private string PathIn(LocalStore store) => Path.Combine(DirectoryOf(store), Id + ".json");

    /// <summary>The local paths of <see cref="Files"/>.</summary>
    public IEnumerable<string> PathsIn(LocalStore store) => Files.Select(f => Path.Combine(store.Root, f.Replace('/', Path.DirectorySeparatorChar)));

    /// <summary>The key of a local path under the root, as <see cref="Files"/> holds it.</summary>
    public static string KeyOf(LocalStore store, string path) => Path.GetRelativePath(store.Root, path).Replace(Path.DirectorySeparatorChar, '/');

    /// <summary>Writes the marker durably (temporary file, fsync, rename, directory fsync).</summary>
    public void Write(LocalStore store) =>
        Durability.WriteFile(PathIn(store), JsonSerializer.SerializeToUtf8Bytes(this, StorageJsonContext.Default.RetentionMarker));

    public void Delete(LocalStore store) => Durability.DeleteFile(PathIn(store));

    /// <summary>The markers on disk, oldest first; torn ones are deleted.</summary>
    public static List<RetentionMarker> ReadAll(LocalStore store) => Durability.ReadMarkers(DirectoryOf(store), StorageJsonContext.Default.RetentionMarker);

    /// <summary>A new marker; ids sort in creation order.</summary>
    public static RetentionMarker Create(string database, string measurement, IReadOnlyList<string> files, DateTimeOffset now) =>
        new($"{now.ToUnixTimeMilliseconds():D15}-{Guid.NewGuid():N}", database, measurement, files);
}
