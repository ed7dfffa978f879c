using System.Text.Json;
using System.Text.Json.Serialization;

namespace Arc.Engine.Storage;

/// <summary>
/// The durable record of a drop, <c>{local_path}/.drops/{id}.json</c>, written (and synced) before anything is removed. It
/// names the database (and the measurement, for a single one) and the last LSN logged for it when the drop cut its
/// writes off. While <see cref="Done"/> is false the drop is unfinished and the next start completes it before anything
/// reads the data; in both states write-ahead-log recovery discards the target's entries up to <see cref="Lsn"/>, so a
/// restart never replays dropped rows. A finished drop whose Parquet files queries that started before it still read
/// lists them in <see cref="Pending"/> (paths under the root): they are deleted once those queries end, or by the next
/// start, and only they, since the name takes new files at once. A marker is deleted once no log segment can hold such
/// entries any more and nothing is pending.
/// </summary>
public sealed record DropMarker(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string? Measurement,
    [property: JsonPropertyName("lsn")] long Lsn,
    [property: JsonPropertyName("done")] bool Done,
    [property: JsonPropertyName("pending")] IReadOnlyList<string>? Pending = null)
{
    public static string DirectoryOf(LocalStore store) => Path.Combine(store.Root, ".drops");

    private string PathIn(LocalStore store) => Path.Combine(DirectoryOf(store), Id + ".json");

    /// <summary>Whether rows of (<paramref name="database"/>, <paramref name="measurement"/>) are in this drop's target.</summary>
    public bool Covers(string database, string measurement) =>
        Database.Equals(database, StringComparison.OrdinalIgnoreCase)
        && (Measurement is null || Measurement.Equals(measurement, StringComparison.OrdinalIgnoreCase));

    /// <summary>The target's key prefix in the tree (and in object storage): <c>db/</c> or <c>db/m/</c>.</summary>
    public string Prefix => Measurement is null ? Database + "/" : $"{Database}/{Measurement}/";

    /// <summary>The target's local directory.</summary>
    public string DirectoryIn(LocalStore store) =>
        Measurement is null ? Path.Combine(store.Root, Database) : store.MeasurementDirectory(Database, Measurement);

    /// <summary>Writes the marker durably (temporary file, fsync, rename, directory fsync); rewriting replaces it atomically.</summary>
    public void Write(LocalStore store) =>
        Durability.WriteFile(PathIn(store), JsonSerializer.SerializeToUtf8Bytes(this, StorageJsonContext.Default.DropMarker));

    public void Delete(LocalStore store) => Durability.DeleteFile(PathIn(store));

    /// <summary>
    /// The markers on disk, oldest first. A torn marker (the process died while writing it, before anything was removed)
    /// is deleted: its drop never started.
    /// </summary>
    public static List<DropMarker> ReadAll(LocalStore store) => Durability.ReadMarkers(DirectoryOf(store), StorageJsonContext.Default.DropMarker);

    /// <summary>A new marker; ids sort in creation order.</summary>
    public static DropMarker Create(string database, string? measurement, long lsn, DateTimeOffset now) =>
        new($"{now.ToUnixTimeMilliseconds():D15}-{Guid.NewGuid():N}", database, measurement, lsn, Done: false);
}
