namespace Arc.Engine;

/// <summary>A database as the API lists it.</summary>
public sealed record DatabaseSummary(string Name, int MeasurementCount, string? CreatedAt);

/// <summary>What a drop removed.</summary>
/// <param name="Measurements">Measurements whose data went away.</param>
/// <param name="FilesDeleted">Files deleted: local Parquet files and the objects deleted from object storage.</param>
public sealed record DropResult(string Database, string? Measurement, IReadOnlyList<string> Measurements, int FilesDeleted);
