using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Arc.Native.Tests;

/// <summary>A generated point: two tags (region sometimes absent) and one field of each type (note sometimes absent).</summary>
public sealed record ExportPoint(long TimeNs, string Host, string? Region, double Usage, long Count, ulong Unsigned, bool Ok, string? Note);

/// <summary>Data and API helpers shared by the export tests.</summary>
public static class ExportTestData
{
    /// <summary>2023-11-14T22:13:20Z, whole milliseconds.</summary>
    public const long BaseTimeNs = 1_700_000_000_000_000_000;

    /// <summary>
    /// <paramref name="count"/> points, four per timestamp (one per host), so batch boundaries fall inside equal times.
    /// Times advance by 1 ms (plus a few ns when <paramref name="nanos"/>); (host, time) is unique.
    /// </summary>
    public static List<ExportPoint> Points(int count, int start = 0, bool nanos = false, bool withStrings = true) =>
        Enumerable.Range(start, count).Select(i => new ExportPoint(
            BaseTimeNs + ((i / 4) * 1_000_000L) + (nanos ? (i / 4) % 997 : 0),
            "h" + (i % 4),
            i % 7 == 0 ? null : i % 2 == 0 ? "eu west,1=x" : "us",
            (i * 0.25) + 0.1,
            (i * 1000L) - 500_000,
            (ulong)i * 3,
            i % 3 == 0,
            !withStrings || i % 5 == 0 ? null : $"note {i}: \"quoted\", comma, eq=é")).ToList();

    /// <summary>The points as line protocol for arc-native (ns precision).</summary>
    public static string LineProtocol(string measurement, IEnumerable<ExportPoint> points, bool withStrings = true)
    {
        var text = new StringBuilder();
        foreach (var p in points)
        {
            text.Append(measurement).Append(",host=").Append(p.Host);
            if (p.Region is not null)
            {
                text.Append(",region=").Append(p.Region.Replace(",", "\\,", StringComparison.Ordinal).Replace("=", "\\=", StringComparison.Ordinal)
                    .Replace(" ", "\\ ", StringComparison.Ordinal));
            }

            text.Append(CultureInfo.InvariantCulture, $" usage={p.Usage:R},count={p.Count}i,unsigned={p.Unsigned}u,ok={(p.Ok ? "true" : "false")}");
            if (withStrings && p.Note is not null)
            {
                text.Append(",note=\"").Append(p.Note.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
            }

            text.Append(' ').Append(p.TimeNs.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return text.ToString();
    }

    public static async Task WriteAsync(HttpClient client, string database, string measurement, IEnumerable<ExportPoint> points, bool withStrings = true)
    {
        using var response = await client.PostAsync($"/write?db={database}",
            new StringContent(LineProtocol(measurement, points, withStrings), Encoding.UTF8, "text/plain"));
        Assert.True(response.StatusCode == HttpStatusCode.NoContent, $"write: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Creates a job (JSON written with Utf8JsonWriter: the tests run without reflection-based JSON); returns its id.</summary>
    public static async Task<string> CreateJobAsync(HttpClient client, Action<Utf8JsonWriter> body, string path = "/api/v1/jobs")
    {
        var (status, json) = await PostJsonAsync(client, path, body);
        Assert.True(status == HttpStatusCode.Created, $"create job: {(int)status} {json}");
        return json.GetProperty("id").GetString()!;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostJsonAsync(HttpClient client, string path, Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        using var response = await client.PostAsync(path, new ByteArrayContent(buffer.WrittenSpan.ToArray())
        {
            Headers = { ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") },
        });
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Writes <c>"source": {...}</c> and the common job settings.</summary>
    public static void Source(Utf8JsonWriter writer, string name, string database, string measurement, long batchSize, string? filter = null,
        long minAgeSeconds = 0)
    {
        writer.WriteString("name", name);
        writer.WriteStartObject("source");
        writer.WriteString("database", database);
        writer.WriteString("measurement", measurement);
        if (filter is not null)
        {
            writer.WriteString("filter", filter);
        }

        writer.WriteEndObject();
        writer.WriteNumber("batch_size", batchSize);
        writer.WriteNumber("min_age_seconds", minAgeSeconds);
    }

    public static async Task<JsonElement> GetJobAsync(HttpClient client, string id)
    {
        using var response = await client.GetAsync($"/api/v1/jobs/{id}");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET job {id}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Polls the job until its status is one of <paramref name="statuses"/>.</summary>
    public static async Task<JsonElement> WaitForJobAsync(HttpClient client, string id, params string[] statuses)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        JsonElement job;
        do
        {
            job = await GetJobAsync(client, id);
            if (statuses.Contains(job.GetProperty("status").GetString()))
            {
                return job;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"job {id} did not reach {string.Join('/', statuses)}: {job}");
    }

    /// <summary>Writes <c>"target": {...}</c> with the given settings (an http_json target also gets two headers).</summary>
    public static void Target(Utf8JsonWriter writer, string type, params (string Name, string Value)[] settings)
    {
        writer.WriteStartObject("target");
        writer.WriteString("type", type);
        foreach (var (name, value) in settings)
        {
            writer.WriteString(name, value);
        }

        if (type == "http_json")
        {
            writer.WriteStartObject("headers");
            writer.WriteString("Authorization", "Bearer json-secret");
            writer.WriteString("X-Tenant", "acme");
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }

    /// <summary>The points as <c>time|host|region|usage|count|unsigned|ok|note</c> (null as <c>null</c>), sorted.</summary>
    public static List<string> Rows(IEnumerable<ExportPoint> points) => points
        .Select(p => string.Join('|', p.TimeNs, p.Host, p.Region ?? "null", R(p.Usage), p.Count, p.Unsigned, p.Ok ? "true" : "false", p.Note ?? "null"))
        .Order(StringComparer.Ordinal).ToList();

    public static string R(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
