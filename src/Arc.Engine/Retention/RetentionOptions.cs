namespace Arc.Engine.Retention;

/// <summary>Retention's settings (the host maps the <c>retention.*</c> keys onto it).</summary>
public sealed record RetentionOptions
{
    /// <summary>The file holding the policies and their run history (<c>retention.db_path</c>), outside the storage root.</summary>
    public string DbPath { get; init; } = "./data/retention.json";

    /// <summary>When active policies run (<c>retention.schedule</c>, cron, UTC); empty runs them only on request.</summary>
    public string Schedule { get; init; } = "15 * * * *";
}
