using System.Text.Json.Serialization;
using Arc.Engine.Auth;
using Arc.Engine;
using Arc.Engine.Compaction;
using Arc.Native.Auth;

namespace Arc.Native.Http;

/// <summary>Compaction status and control: <c>/api/v1/compaction/{status,stats,candidates,jobs,history,trigger}</c>.</summary>
internal static class CompactionEndpoints
{
    public static void Map(WebApplication app)
    {
        // Status and stats are readable with the read permission; everything else, triggering above all, needs admin.
        var group = app.MapGroup("/api/v1/compaction").Requires(Permission.Admin);
        group.MapGet("/status", (ArcEngine engine) =>
        {
            var manager = engine.Compaction;
            var options = manager.Options;
            return Results.Json(new CompactionStatusResponse(
                options.Enabled, options.HourlyEnabled, options.DailyEnabled, options.HourlySchedule, options.DailySchedule,
                manager.NextRun(CompactionTier.Hourly), manager.NextRun(CompactionTier.Daily), manager.Jobs.Count,
                manager.LastRunStarted, manager.LastRunFinished, options.SortOrder == CompactionSortOrder.Time ? "time" : "tags_time"),
                CompactionJsonContext.Api.CompactionStatusResponse);
        }).Requires(Permission.Read);
        group.MapGet("/stats", (ArcEngine engine) =>
        {
            var stats = engine.Compaction.Stats;
            return Results.Json(new CompactionStatsResponse(stats.JobsCompleted, stats.JobsFailed, stats.FilesCompacted,
                stats.BytesBefore, stats.BytesAfter, Math.Round(stats.Ratio, 4), stats.FilesQuarantined), CompactionJsonContext.Api.CompactionStatsResponse);
        }).Requires(Permission.Read);
        group.MapGet("/candidates", async (ArcEngine engine, string? database, string? measurement, string? tier, CancellationToken cancellationToken) =>
            TryTier(tier, out var parsed)
                ? Results.Json((await engine.Compaction.CandidatesAsync(parsed, NullIfEmpty(database), NullIfEmpty(measurement), cancellationToken)
                        .ConfigureAwait(false)).Select(Item).ToList(),
                    CompactionJsonContext.Api.ListCandidateItem)
                : BadTier(tier));
        group.MapGet("/jobs", (ArcEngine engine) => Results.Json(
            engine.Compaction.Jobs.Select(j => new JobItem(j.Key, Tier(j.Tier), j.Files, j.Bytes, j.Started)).ToList(),
            CompactionJsonContext.Api.ListJobItem));
        group.MapGet("/history", (ArcEngine engine) => Results.Json(engine.Compaction.History.Select(History).ToList(),
            CompactionJsonContext.Api.ListHistoryItem));
        group.MapPost("/trigger", async (ArcEngine engine, string? database, string? measurement, string? tier, bool? wait, CancellationToken cancellationToken) =>
        {
            if (!TryTier(tier, out var parsed))
            {
                return BadTier(tier);
            }

            var run = engine.Compaction.RunAsync(parsed, NullIfEmpty(database), NullIfEmpty(measurement),
                wait == true ? cancellationToken : CancellationToken.None);
            if (wait != true)
            {
                return Results.Json(new TriggerResponse("started", null), CompactionJsonContext.Api.TriggerResponse,
                    statusCode: StatusCodes.Status202Accepted);
            }

            var results = await run.ConfigureAwait(false);
            return Results.Json(new TriggerResponse("completed", results.Select(History).ToList()), CompactionJsonContext.Api.TriggerResponse);
        });
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static bool TryTier(string? text, out CompactionTier? tier)
    {
        tier = text?.ToLowerInvariant() switch
        {
            null or "" => null,
            "hourly" => CompactionTier.Hourly,
            "daily" => CompactionTier.Daily,
            _ => (CompactionTier)(-1),
        };
        return tier is null or CompactionTier.Hourly or CompactionTier.Daily;
    }

    private static IResult BadTier(string? tier) => Results.Json(new ErrorResponse($"tier must be hourly or daily, got '{tier}'"),
        ApiJsonContext.Api.ErrorResponse, statusCode: StatusCodes.Status400BadRequest);

    private static string Tier(CompactionTier tier) => tier == CompactionTier.Daily ? "daily" : "hourly";

    private static CandidateItem Item(CompactionCandidate c) => new(c.Database, c.Measurement, Tier(c.Tier), c.Key, c.Files.Count, c.Bytes);

    private static HistoryItem History(CompactionResult r) => new(r.Id, r.Candidate.Key, Tier(r.Candidate.Tier), r.Succeeded, r.Started, r.Finished,
        r.FilesIn, r.BytesIn, r.BytesOut, r.RowsIn, r.RowsOut, r.Output, r.Quarantined, r.Error);
}

public sealed record CompactionStatusResponse(
    [property: JsonPropertyName("enabled")] bool Enabled,
    [property: JsonPropertyName("hourly_enabled")] bool HourlyEnabled,
    [property: JsonPropertyName("daily_enabled")] bool DailyEnabled,
    [property: JsonPropertyName("hourly_schedule")] string HourlySchedule,
    [property: JsonPropertyName("daily_schedule")] string DailySchedule,
    [property: JsonPropertyName("next_hourly_run")] DateTime? NextHourlyRun,
    [property: JsonPropertyName("next_daily_run")] DateTime? NextDailyRun,
    [property: JsonPropertyName("running_jobs")] int RunningJobs,
    [property: JsonPropertyName("last_run_started")] DateTime? LastRunStarted,
    [property: JsonPropertyName("last_run_finished")] DateTime? LastRunFinished,
    [property: JsonPropertyName("sort_order")] string SortOrder);

public sealed record CompactionStatsResponse(
    [property: JsonPropertyName("jobs_completed")] long JobsCompleted,
    [property: JsonPropertyName("jobs_failed")] long JobsFailed,
    [property: JsonPropertyName("files_compacted")] long FilesCompacted,
    [property: JsonPropertyName("bytes_before")] long BytesBefore,
    [property: JsonPropertyName("bytes_after")] long BytesAfter,
    [property: JsonPropertyName("ratio")] double Ratio,
    [property: JsonPropertyName("files_quarantined")] long FilesQuarantined);

public sealed record CandidateItem(
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("measurement")] string Measurement,
    [property: JsonPropertyName("tier")] string Tier,
    [property: JsonPropertyName("partition")] string Partition,
    [property: JsonPropertyName("files")] int Files,
    [property: JsonPropertyName("bytes")] long Bytes);

public sealed record JobItem(
    [property: JsonPropertyName("partition")] string Partition,
    [property: JsonPropertyName("tier")] string Tier,
    [property: JsonPropertyName("files")] int Files,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("started")] DateTime Started);

public sealed record HistoryItem(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("partition")] string Partition,
    [property: JsonPropertyName("tier")] string Tier,
    [property: JsonPropertyName("succeeded")] bool Succeeded,
    [property: JsonPropertyName("started")] DateTime Started,
    [property: JsonPropertyName("finished")] DateTime Finished,
    [property: JsonPropertyName("files_in")] int FilesIn,
    [property: JsonPropertyName("bytes_in")] long BytesIn,
    [property: JsonPropertyName("bytes_out")] long BytesOut,
    [property: JsonPropertyName("rows_in")] long RowsIn,
    [property: JsonPropertyName("rows_out")] long RowsOut,
    [property: JsonPropertyName("output")] string? Output,
    [property: JsonPropertyName("quarantined")] IReadOnlyList<string> Quarantined,
    [property: JsonPropertyName("error")] string? Error);

public sealed record TriggerResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("jobs")] IReadOnlyList<HistoryItem>? Jobs);

[JsonSerializable(typeof(CompactionStatusResponse))]
[JsonSerializable(typeof(CompactionStatsResponse))]
[JsonSerializable(typeof(List<CandidateItem>))]
[JsonSerializable(typeof(List<JobItem>))]
[JsonSerializable(typeof(List<HistoryItem>))]
[JsonSerializable(typeof(TriggerResponse))]
internal sealed partial class CompactionJsonContext : JsonSerializerContext
{
    public static CompactionJsonContext Api { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
