using System.Globalization;
using Arc.Engine.Buffers;

namespace Arc.Engine.Storage;

/// <summary>
/// The on-disk layout: <c>{root}/{database}/{measurement}/{YYYY}/{MM}/{DD}/{HH}/{file}.parquet</c>, the hour being the UTC
/// hour of the rows' time. Work files live under <c>{root}/.tmp</c>, which can never be a database name.
/// </summary>
public sealed class LocalStore
{
    public const long NanosPerHour = SeriesOrder.NanosPerHour;

    /// <summary>The directory of a day's compacted file, beside its hour directories: <c>…/YYYY/MM/DD/daily/</c>.</summary>
    public const string DailyDirectory = "daily";

    public LocalStore(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
        TempDirectory = Path.Combine(Root, ".tmp");
        if (Directory.Exists(TempDirectory))
        {
            // Leftovers of writes interrupted by a crash: never renamed into place, so never acknowledged as stored.
            Directory.Delete(TempDirectory, recursive: true);
        }

        Directory.CreateDirectory(TempDirectory);
    }

    public string Root { get; }

    public string TempDirectory { get; }

    public string MeasurementDirectory(string database, string measurement) => Path.Combine(Root, database, measurement);

    /// <summary>The directory of the hour that contains <paramref name="hour"/> (hours since the Unix epoch).</summary>
    public string PartitionDirectory(string database, string measurement, long hour) => Path.Combine(Root, PartitionPath(database, measurement, hour));

    /// <summary><c>{database}/{measurement}/YYYY/MM/DD/HH</c>: the partition layout, relative to a root or key prefix.</summary>
    public static string PartitionPath(string database, string measurement, long hour)
    {
        var start = DateTime.UnixEpoch.AddHours(hour);
        return string.Join('/', database, measurement,
            start.ToString("yyyy", CultureInfo.InvariantCulture), start.ToString("MM", CultureInfo.InvariantCulture),
            start.ToString("dd", CultureInfo.InvariantCulture), start.ToString("HH", CultureInfo.InvariantCulture));
    }

    /// <summary>A glob matching every Parquet file of a measurement (and nothing under construction).</summary>
    public string Glob(string database, string measurement) =>
        Path.Combine(Root, database, measurement, "*", "*", "*", "*", "*.parquet");

    /// <summary>Hours since the epoch, rounding toward negative infinity.</summary>
    public static long HourOf(long unixNanos) => SeriesOrder.HourOf(unixNanos);

    public IEnumerable<string> Databases() =>
        Directory.Exists(Root)
            ? Directory.EnumerateDirectories(Root).Select(Path.GetFileName).OfType<string>().Where(Names.IsValidDatabase)
            : [];

    public IEnumerable<string> Measurements(string database)
    {
        var path = Path.Combine(Root, database);
        return Directory.Exists(path)
            ? Directory.EnumerateDirectories(path).Select(Path.GetFileName).OfType<string>().Where(Names.IsValidMeasurement)
            : [];
    }

    /// <summary>
    /// The Parquet files of a measurement, with their sizes read as they are listed. A file deleted between the directory
    /// listing and its stat (compaction retiring its inputs while this runs) is left out instead of failing the caller.
    /// </summary>
    public IEnumerable<FileInfo> Files(string database, string measurement)
    {
        var path = MeasurementDirectory(database, measurement);
        if (!Directory.Exists(path))
        {
            return [];
        }

        return new DirectoryInfo(path).EnumerateFiles("*.parquet", new EnumerationOptions
        {
            RecurseSubdirectories = true,
            MaxRecursionDepth = 4,
            IgnoreInaccessible = true,
        }).Where(Exists);
    }

    /// <summary>Stats the file now (FileInfo keeps the result, so its Length no longer throws); false when it is gone.</summary>
    private static bool Exists(FileInfo file)
    {
        try
        {
            _ = file.Length;
            return true;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Creates a directory and any missing parents, syncing each parent whose entries changed.</summary>
    public static void EnsureDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            return;
        }

        var parent = Path.GetDirectoryName(path);
        if (parent is not null)
        {
            EnsureDirectory(parent);
        }

        Directory.CreateDirectory(path);
        if (parent is not null)
        {
            Durability.FsyncDirectory(parent);
        }
    }
}
