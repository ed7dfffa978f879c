namespace Arc.Engine.Ingest;

/// <summary>
/// The settings the write path reads: buffer limits, Parquet flushes, what one request may send, the clock. The engine's
/// options (<c>EngineOptions</c>, where each is described with its <c>arc.toml</c> key) implement it, so this folder does
/// not depend on the options of every other part.
/// </summary>
internal interface IIngestSettings
{
    int MaxBufferRows { get; }

    TimeSpan MaxBufferAge { get; }

    long MaxBufferBytes { get; }

    long MaxBufferMemory { get; }

    string Compression { get; }

    int RowGroupSize { get; }

    int FlushWorkers { get; }

    /// <summary>Whether a flush of <paramref name="measurement"/> writes its rows by series (tags then time), as its merges sort them.</summary>
    bool FlushesBySeries(string measurement);

    int MaxColumnsPerMeasurement { get; }

    int MaxMeasurementsPerRequest { get; }

    int MaxReportedErrors { get; }

    WriteLimits Writes { get; }

    TimeProvider Time { get; }
}
