using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Arc.Native.Tests;

/// <summary>
/// The web console's files as the server serves them from the binary: the page at <c>/</c> and its hashed assets, with
/// their content types, cache headers, Content-Security-Policy and compression; and the columns route its measurement
/// browser reads. The page in a real browser is tested by <c>tests/js-console</c>.
/// </summary>
public sealed partial class ConsoleTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ThePageIsPublicNotCachedAndAllowsOnlyTheServersOwnFiles()
    {
        using var anonymous = _server.NewClient(null);
        using var page = await anonymous.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType?.ToString());
        Assert.Equal("no-cache", page.Headers.CacheControl?.ToString());
        var csp = Assert.Single(page.Headers.GetValues("Content-Security-Policy"));
        Assert.Equal("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
                     "base-uri 'none'; form-action 'none'; frame-ancestors 'none'", csp);
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
        var html = await page.Content.ReadAsStringAsync();
        Assert.DoesNotContain("http://", html.Replace("http-equiv", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);

        // The page and its API calls: the page needs no token, the API still does.
        using var api = await anonymous.GetAsync("/api/v1/databases");
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
    }

    [Fact]
    public async Task HashedAssetsAreCachedForAYearWithTheirContentTypes()
    {
        using var anonymous = _server.NewClient(null);
        var html = await anonymous.GetStringAsync("/");
        var assets = AssetReference().Matches(html).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, assets.Count);
        foreach (var (suffix, type) in new[] { (".js", "text/javascript; charset=utf-8"), (".css", "text/css; charset=utf-8") })
        {
            var name = Assert.Single(assets, a => a.EndsWith(suffix, StringComparison.Ordinal));
            Assert.Matches(@"^app-[A-Z0-9]{8}\.(js|css)$", name);
            using var response = await anonymous.GetAsync("/console/" + name);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(type, response.Content.Headers.ContentType?.ToString());
            Assert.Equal("public, max-age=31536000, immutable", response.Headers.CacheControl?.ToString());
            Assert.NotNull(response.Headers.GetValues("Content-Security-Policy"));
            Assert.True((await response.Content.ReadAsByteArrayAsync()).Length > 1000);
        }
    }

    [Fact]
    public async Task UnknownAssetsAre404()
    {
        using var anonymous = _server.NewClient(null);
        foreach (var path in new[] { "/console/app-00000000.js", "/console/..%2Fappsettings.json", "/console/nope" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("no console file", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var deeper = await anonymous.GetAsync("/console/a/b.js");
        Assert.Equal(HttpStatusCode.NotFound, deeper.StatusCode);
    }

    [Fact]
    public async Task AssetsAreCompressedWhenTheClientAsks()
    {
        using var anonymous = _server.NewClient(null);
        var html = await anonymous.GetStringAsync("/");
        var script = "/console/" + AssetReference().Matches(html).Select(m => m.Groups[1].Value).Single(a => a.EndsWith(".js", StringComparison.Ordinal));
        var plain = await anonymous.GetByteArrayAsync(script);

        using var gzipRequest = new HttpRequestMessage(HttpMethod.Get, script);
        gzipRequest.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
        using var gzipped = await anonymous.SendAsync(gzipRequest);
        Assert.Equal("gzip", Assert.Single(gzipped.Content.Headers.ContentEncoding));
        Assert.Contains("Accept-Encoding", gzipped.Headers.Vary);
        var compressed = await gzipped.Content.ReadAsByteArrayAsync();
        Assert.True(compressed.Length < plain.Length / 2, $"{compressed.Length} of {plain.Length} bytes");
        using var unzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var unzipped = new MemoryStream();
        await unzip.CopyToAsync(unzipped);
        Assert.Equal(plain, unzipped.ToArray());

        using var zstdRequest = new HttpRequestMessage(HttpMethod.Get, script);
        zstdRequest.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate, br, zstd");
        using var zstd = await anonymous.SendAsync(zstdRequest);
        Assert.Equal("zstd", Assert.Single(zstd.Content.Headers.ContentEncoding));
        Assert.Equal(plain, new ZstdSharp.Decompressor().Unwrap(await zstd.Content.ReadAsByteArrayAsync()).ToArray());
    }

    [Fact]
    public async Task ColumnsNameEachColumnsTypeAndRole()
    {
        Assert.Equal(HttpStatusCode.NoContent,
            (await _server.WriteAsync("/write?db=telegraf", "cpu,host=a,region=eu usage=1.5,cores=4i,up=true,note=\"x\",big=7u 1700000000000000000\n")).StatusCode);
        using var response = await _server.Client.GetAsync("/api/v1/databases/telegraf/measurements/cpu/columns");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("telegraf", body.GetProperty("database").GetString());
        Assert.Equal("cpu", body.GetProperty("measurement").GetString());
        Assert.Equal(["time:time:time", "big:unsigned:field", "cores:integer:field", "host:tag:tag", "note:string:field",
                "region:tag:tag", "up:boolean:field", "usage:float:field"],
            body.GetProperty("columns").EnumerateArray().Select(c =>
                $"{c.GetProperty("name").GetString()}:{c.GetProperty("type").GetString()}:{c.GetProperty("role").GetString()}"));

        // The same after a restart, when the roles come back from the Parquet files' metadata.
        await _server.Server.Engine.FlushAsync();
        _server = await _server.RestartAsync();
        var again = JsonDocument.Parse(await _server.Client.GetStringAsync("/api/v1/databases/telegraf/measurements/cpu/columns")).RootElement;
        Assert.Equal(["time", "tag", "tag"], again.GetProperty("columns").EnumerateArray()
            .Where(c => c.GetProperty("role").GetString() != "field").Select(c => c.GetProperty("role").GetString()));

        using var noMeasurement = await _server.Client.GetAsync("/api/v1/databases/telegraf/measurements/nope/columns");
        Assert.Equal(HttpStatusCode.NotFound, noMeasurement.StatusCode);
        Assert.Contains("measurement 'nope' not found", await noMeasurement.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var noDatabase = await _server.Client.GetAsync("/api/v1/databases/nope/measurements/cpu/columns");
        Assert.Equal(HttpStatusCode.NotFound, noDatabase.StatusCode);
        using var badName = await _server.Client.GetAsync("/api/v1/databases/..%2Fx/measurements/cpu/columns");
        Assert.Equal(HttpStatusCode.BadRequest, badName.StatusCode);

        using var created = await _server.Client.PostAsync("/api/v1/auth/tokens", new StringContent(
            "{\"name\":\"other\",\"permissions\":[\"read\"],\"databases\":[\"other\"]}", Encoding.UTF8, "application/json"));
        var scoped = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString();
        using var outside = await _server.NewClient(scoped).GetAsync("/api/v1/databases/telegraf/measurements/cpu/columns");
        Assert.Equal(HttpStatusCode.Forbidden, outside.StatusCode);
    }

    [GeneratedRegex("/console/(app-[^\"]+)\"")]
    private static partial Regex AssetReference();
}
