using Arc.Engine.Storage;

namespace Arc.Engine.Tests;

/// <summary>
/// Listing a measurement's files while compaction deletes retired inputs: a file gone between the directory listing and
/// its stat is left out (before, its Length threw FileNotFoundException into the compaction planner: a 500 on trigger).
/// </summary>
public sealed class LocalStoreFilesTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("arc-store-files-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void AFileDeletedWhileListingIsLeftOut()
    {
        var store = new LocalStore(_root);
        var directory = store.PartitionDirectory("db", "m", 473_000);
        Directory.CreateDirectory(directory);
        var paths = Enumerable.Range(0, 50).Select(i => Path.Combine(directory, $"f{i:00}.parquet")).ToList();
        foreach (var path in paths)
        {
            File.WriteAllBytes(path, new byte[paths.IndexOf(path) + 1]);
        }

        var seen = new List<(string Name, long Length)>();
        using (var files = store.Files("db", "m").GetEnumerator())
        {
            Assert.True(files.MoveNext());
            seen.Add((files.Current.Name, files.Current.Length));
            foreach (var path in paths.Where(p => Path.GetFileName(p) != files.Current.Name).Take(25))
            {
                File.Delete(path); // listed by the directory read already, gone before its stat
            }

            while (files.MoveNext())
            {
                seen.Add((files.Current.Name, files.Current.Length));
            }
        }

        Assert.Equal(25, seen.Count);
        Assert.All(seen, f => Assert.Equal(int.Parse(f.Name[1..3], System.Globalization.CultureInfo.InvariantCulture) + 1, f.Length));
    }
}
