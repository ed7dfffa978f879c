namespace Arc.Engine.Query;

/// <summary>
/// The limits the query engine enforces on each statement. The engine's options (<c>EngineOptions</c>, where each is
/// described with its <c>arc.toml</c> key) implement it, so this folder does not depend on the options of every other part.
/// </summary>
internal interface IQuerySettings
{
    TimeSpan QueryTimeout { get; }

    int MaxSqlLength { get; }

    int MaxQueryBlocks { get; }
}
