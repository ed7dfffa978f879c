using System.Text.Json;
using System.Text.Json.Serialization;

namespace Arc.Engine.Storage;

/// <summary>
/// One file of a row delete: <see cref="Input"/> is replaced by <see cref="Output"/> (its rows the predicate does not
/// match), or removed when <see cref="Output"/> is null. Paths are relative to the storage root.
/// </summary>
public sealed record DeleteStep(
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("output")] string? Output);

/// <summary>
/// The durable record of a row delete, <c>{local_path}/.deletes/{id}.json</c>, written (and synced) before any file is
/// touched: the measurement, the checked predicate (DuckDB's rendering, see <c>DeletePredicate.MatchSql</c>) and every
/// file to rewrite with the name of its replacement. Each step's commit point is its output appearing (locally or in
/// object storage); the input is deleted only after that. So after a crash a step whose output exists is finished by
/// deleting its input, and one whose output does not is run again from its input: every matching row ends up gone and
/// every other row stays exactly once. The marker is deleted when every step is done; a start resumes the ones left.
/// </summary>
public sealed record DeleteMarker(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string Measurement,
    [property: JsonPropertyName("where")] string Where,
    [property: JsonPropertyName("match_sql")] string MatchSql,
    [property: JsonPropertyName("steps")] IReadOnlyList<DeleteStep> Steps)
{
    public static string DirectoryOf(LocalStore store) => Path.Combine(store.Root, ".deletes");

    private string PathIn(LocalStore store) => Path.Combine(DirectoryOf(store), Id + ".json");

    /// <summary>Writes the marker durably (temporary file, fsync, rename, directory fsync).</summary>
    public void Write(LocalStore store) =>
        Durability.WriteFile(PathIn(store), JsonSerializer.SerializeToUtf8Bytes(this, StorageJsonContext.Default.DeleteMarker));

    public void Delete(LocalStore store) => Durability.DeleteFile(PathIn(store));

    /// <summary>
    /// The unfinished deletes on disk, oldest first. A torn marker (the process died while writing it, before any file was
    /// touched) is deleted: its delete never started.
    /// </summary>
    public static List<DeleteMarker> ReadAll(LocalStore store) => Durability.ReadMarkers(DirectoryOf(store), StorageJsonContext.Default.DeleteMarker);

    /// <summary>A new marker; ids sort in creation order.</summary>
    public static DeleteMarker Create(string database, string measurement, string where, string matchSql, IReadOnlyList<DeleteStep> steps,
        DateTimeOffset now) =>
        new($"{now.ToUnixTimeMilliseconds():D15}-{Guid.NewGuid():N}", database, measurement, where, matchSql, steps);
}
