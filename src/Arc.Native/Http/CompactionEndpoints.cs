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
        // Triggering needs admin; the rest is readable with the read permission.
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
        // Arc's shapes: {count, candidates}, {active_jobs, jobs}, {total_jobs, recent_jobs} and the trigger's
        // {message, status, tiers, cycle_id}; listing is open to any token, as in Arc, triggering needs admin.
        group.MapGet("/candidates", async (ArcEngine engine, string? database, string? measurement, string? tier, CancellationToken cancellationToken) =>
        {
            if (!TryTier(tier, out var parsed))
            {
                return BadTier(tier);
            }

            var candidates = (await engine.Compaction.CandidatesAsync(parsed, NullIfEmpty(database), NullIfEmpty(measurement), cancellationToken)
                .ConfigureAwait(false)).Select(Item).ToList();
            return Results.Json(new CandidatesResponse(candidates.Count, candidates), CompactionJsonContext.Api.CandidatesResponse);
        }).Requires(Permission.Read);
        group.MapGet("/jobs", (ArcEngine engine) =>
        {
            var jobs = engine.Compaction.Jobs.Select(j => new JobItem(j.Key, Tier(j.Tier), j.Files, j.Bytes, j.Started)).ToList();
            return Results.Json(new JobsResponse(jobs.Count, jobs), CompactionJsonContext.Api.JobsResponse);
        }).Requires(Permission.Read);
        group.MapGet("/history", (ArcEngine engine, int? limit) =>
        {
            // The newest jobs first; Arc's default of 10, at most the 200 kept.
            var recent = engine.Compaction.History.Take(Math.Clamp(limit ?? 10, 1, 200)).Select(History).ToList();
            return Results.Json(new HistoryResponse(engine.Compaction.Stats.JobsCompleted, recent), CompactionJsonContext.Api.HistoryResponse);
        }).Requires(Permission.Read);
        group.MapPost("/trigger", async (ArcEngine engine, string? database, string? measurement, string? tier, bool? wait, CancellationToken cancellationToken) =>
        {
            if (!TryTier(tier, out var parsed))
            {
                return BadTier(tier);
            }

            database = NullIfEmpty(database);
            measurement = NullIfEmpty(measurement);
            if (measurement is not null && database is null)
            {
                return Results.Json(new ErrorResponse("measurement requires database"), ApiJsonContext.Api.ErrorResponse,
                    statusCode: StatusCodes.Status400BadRequest);
            }

            // Beyond Arc: wait=true answers when the run is over, with its jobs.
            var cycle = engine.Compaction.Start(parsed, database, measurement, wait == true ? cancellationToken : CancellationToken.None);
            IReadOnlyList<string> tiers = parsed is { } one ? [Tier(one)] : ["hourly", "daily"];
            if (wait != true)
            {
                return Results.Json(new TriggerResponse("Compaction triggered", "running", tiers, cycle.Id, database, measurement, null),
                    CompactionJsonContext.Api.TriggerResponse);
            }

            var results = await cycle.Results.ConfigureAwait(false);
            return Results.Json(new TriggerResponse("Compaction completed", "completed", tiers, cycle.Id, database, measurement,
                results.Select(History).ToList()), CompactionJsonContext.Api.TriggerResponse);
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

    private static string Tier(CompactionTier tier) => tier switch
    {
        CompactionTier.Daily => "daily",
        CompactionTier.Level => "level",
        _ => "hourly",
    };

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
    [property: JsonPropertyName("partition_path")] string PartitionPath,
    [property: JsonPropertyName("file_count")] int FileCount,
    [property: JsonPropertyName("bytes")] long Bytes);

public sealed record CandidatesResponse(
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("candidates")] IReadOnlyList<CandidateItem> Candidates);

public sealed record JobItem(
    [property: JsonPropertyName("partition_path")] string PartitionPath,
    [property: JsonPropertyName("tier")] string Tier,
    [property: JsonPropertyName("file_count")] int FileCount,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("started")] DateTime Started);

public sealed record JobsResponse(
    [property: JsonPropertyName("active_jobs")] int ActiveJobs,
    [property: JsonPropertyName("jobs")] IReadOnlyList<JobItem> Jobs);

public sealed record HistoryItem(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("partition_path")] string PartitionPath,
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

public sealed record HistoryResponse(
    [property: JsonPropertyName("total_jobs")] long TotalJobs,
    [property: JsonPropertyName("recent_jobs")] IReadOnlyList<HistoryItem> RecentJobs);

public sealed record TriggerResponse(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("tiers")] IReadOnlyList<string> Tiers,
    [property: JsonPropertyName("cycle_id")] long CycleId,
    [property: JsonPropertyName("database"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Database,
    [property: JsonPropertyName("measurement"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Measurement,
    [property: JsonPropertyName("jobs"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<HistoryItem>? Jobs);

[JsonSerializable(typeof(CompactionStatusResponse))]
[JsonSerializable(typeof(CompactionStatsResponse))]
[JsonSerializable(typeof(CandidatesResponse))]
[JsonSerializable(typeof(JobsResponse))]
[JsonSerializable(typeof(HistoryResponse))]
[JsonSerializable(typeof(TriggerResponse))]
internal sealed partial class CompactionJsonContext : JsonSerializerContext
{
    public static CompactionJsonContext Api { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
