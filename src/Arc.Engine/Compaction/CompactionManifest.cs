using System.Text.Json;
using System.Text.Json.Serialization;
using Arc.Engine.Storage;
using Microsoft.Extensions.Logging;

namespace Arc.Engine.Compaction;

/// <summary>
/// What a compaction job is about to replace, written (and synced) before anything else happens. The rename of the output
/// is the commit point: at startup a manifest whose output exists is rolled forward (its remaining inputs deleted), one
/// whose output does not is rolled back (its temporary output deleted); either way every row exists exactly once. A job
/// with several outputs (a level merge writing series ranges, <see cref="Also"/>) renames them one by one: it is rolled
/// forward only when every output exists, otherwise back, the outputs already renamed deleted with the temporary ones.
/// With object storage, where the output's presence alone can mislead, a job whose store call failed records the way out
/// in <see cref="Resolution"/>: <see cref="Forward"/> (the output replaced the inputs but their delete in the store failed:
/// delete them even if the output was compacted again meanwhile) or <see cref="Back"/> (the output's upload failed but may
/// have landed: delete it from the store, keep the inputs).
/// </summary>
public sealed record CompactionManifest(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("inputs")] IReadOnlyList<string> Inputs,
    [property: JsonPropertyName("output")] string Output,
    [property: JsonPropertyName("temp")] string Temp,
    [property: JsonPropertyName("resolution")] string? Resolution = null,
    [property: JsonPropertyName("also")] IReadOnlyList<CompactionOutput>? Also = null)
{
    public const string Forward = "forward";
    public const string Back = "back";

    /// <summary>Every output with its temporary name: <see cref="Output"/> first, then <see cref="Also"/>.</summary>
    public List<CompactionOutput> AllOutputs() => [new(Output, Temp), .. Also ?? []];

    public static string DirectoryOf(LocalStore store) => Path.Combine(store.Root, ".compaction");

    public string PathIn(LocalStore store) => Path.Combine(DirectoryOf(store), Id + ".json");

    public void Write(LocalStore store) =>
        Durability.WriteFile(PathIn(store), JsonSerializer.SerializeToUtf8Bytes(this, CompactionJsonContext.Default.CompactionManifest));

    public void Delete(LocalStore store) => Durability.DeleteFile(PathIn(store));

    /// <summary>
    /// Finishes or undoes the jobs a crash interrupted. Runs at startup, before anything reads the files. With object
    /// storage the output counts as placed when it is local or in the store (it is uploaded before it is renamed in), and
    /// rolling forward makes sure the store has it before deleting the inputs there too.
    /// </summary>
    internal static async Task RecoverAsync(LocalStore store, ILogger logger, Storage.Remote.RemoteStore? remote)
    {
        var directory = DirectoryOf(store);
        if (!System.IO.Directory.Exists(directory))
        {
            return;
        }

        foreach (var file in System.IO.Directory.GetFiles(directory, "*.json"))
        {
            CompactionManifest? manifest;
            try
            {
                manifest = JsonSerializer.Deserialize(File.ReadAllBytes(file), CompactionJsonContext.Default.CompactionManifest);
            }
            catch (JsonException e)
            {
                // Torn manifest write: the job had not started (the manifest is written before any file work).
                logger.LogWarning(e, "Ignoring an unreadable compaction manifest {File}", file);
                File.Delete(file);
                continue;
            }

            if (manifest is null)
            {
                File.Delete(file);
                continue;
            }

            var outputs = manifest.AllOutputs();
            var local = outputs.ConvertAll(o => File.Exists(o.Output));
            if (manifest.Resolution == Back)
            {
                if (remote is not null)
                {
                    await remote.DeleteAsync(outputs.ConvertAll(o => o.Output), CancellationToken.None).ConfigureAwait(false);
                }

                outputs.ForEach(o => File.Delete(o.Temp));
                logger.LogWarning("Compaction {Id} rolled back: its output's upload had failed, the object is deleted from the store", manifest.Id);
            }
            else if (manifest.Resolution == Forward || await AllPlacedAsync(outputs, local, remote).ConfigureAwait(false))
            {
                if (remote is not null)
                {
                    for (var i = 0; i < outputs.Count; i++)
                    {
                        if (local[i] && !await remote.ExistsAsync(outputs[i].Output, CancellationToken.None).ConfigureAwait(false))
                        {
                            await remote.UploadNowAsync(outputs[i].Output, outputs[i].Output, CancellationToken.None).ConfigureAwait(false);
                            remote.Placed(outputs[i].Output);
                        }
                    }

                    await remote.DeleteAsync(manifest.Inputs, CancellationToken.None).ConfigureAwait(false);
                }

                var deleted = manifest.Inputs.Count(File.Exists);
                foreach (var input in manifest.Inputs)
                {
                    File.Delete(input);
                }

                logger.LogWarning("Compaction {Id} rolled forward: output in place, {Count} remaining inputs deleted", manifest.Id, deleted);
            }
            else
            {
                // Outputs renamed (or uploaded) before the crash hold copies of the inputs' rows: they go with the temporary ones.
                if (remote is not null && outputs.Count > 1)
                {
                    await remote.DeleteAsync(outputs.ConvertAll(o => o.Output), CancellationToken.None).ConfigureAwait(false);
                }

                foreach (var output in outputs)
                {
                    File.Delete(output.Temp);
                    if (outputs.Count > 1)
                    {
                        File.Delete(output.Output);
                    }
                }

                logger.LogWarning("Compaction {Id} rolled back: inputs kept", manifest.Id);
            }

            File.Delete(file);
        }

        foreach (var temp in System.IO.Directory.GetFiles(directory, "*.tmp"))
        {
            File.Delete(temp);
        }
    }

    /// <summary>Whether every output was placed: renamed in locally or, with object storage, uploaded.</summary>
    private static async Task<bool> AllPlacedAsync(List<CompactionOutput> outputs, List<bool> local, Storage.Remote.RemoteStore? remote)
    {
        for (var i = 0; i < outputs.Count; i++)
        {
            if (!local[i] && (remote is null || !await remote.ExistsAsync(outputs[i].Output, CancellationToken.None).ConfigureAwait(false)))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>One output of a compaction job and the temporary name it is written under.</summary>
public sealed record CompactionOutput(
    [property: JsonPropertyName("output")] string Output,
    [property: JsonPropertyName("temp")] string Temp);

/// <summary>Source-generated JSON metadata for <see cref="CompactionManifest"/> (AOT: no reflection).</summary>
[JsonSerializable(typeof(CompactionManifest))]
internal sealed partial class CompactionJsonContext : JsonSerializerContext;
