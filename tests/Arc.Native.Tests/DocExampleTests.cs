using System.Diagnostics;
using System.Text.RegularExpressions;
using Arc.Native.Configuration;
using Arc.Testing;

namespace Arc.Native.Tests;

/// <summary>
/// Every shell example of README.md and docs/ that talks to the server (a <c>```sh</c> block naming <c>localhost:8000</c>)
/// runs against a real server, in reading order, file by file: <c>curl</c> fails on any HTTP error (<c>--fail-with-body</c>),
/// a query answering <c>"success":false</c> fails, and the block runs under <c>bash -euo pipefail</c>. A documented example
/// that does not work is a failing test.
/// </summary>
public sealed partial class DocExampleTests
{
    /// <summary>The order the examples run in: the README's tour first, then the reference in the order a reader meets it.</summary>
    private static readonly string[] Documents =
    [
        "README.md", "docs/api.md", "docs/security.md", "docs/storage.md", "docs/export.md", "docs/operations.md",
        "docs/configuration.md", "docs/distribution.md", "docs/benchmarks.md", "docs/architecture.md", "CONTRIBUTING.md",
    ];

    [Fact]
    public void EveryDocumentIsInTheRunOrder()
    {
        var root = RepositoryRoot();
        var onDisk = Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Select(f => "docs/" + Path.GetFileName(f));
        Assert.Empty(onDisk.Except(Documents));
        Assert.All(Documents, d => Assert.True(File.Exists(Path.Combine(root, d)), d));
    }

    [Fact]
    public void TheConfigurationDocumentListsEveryKeyTheServerKnows()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "configuration.md"));
        var documented = ConfigurationRow().Matches(text).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var undocumented = ArcConfig.SupportedKeys.Except(documented, StringComparer.Ordinal).ToList();
        Assert.True(undocumented.Count == 0, "keys missing from docs/configuration.md: " + string.Join(", ", undocumented));
        var unknown = documented.Except(ArcConfig.SupportedKeys, StringComparer.Ordinal).ToList();
        Assert.True(unknown.Count == 0, "docs/configuration.md names keys the server does not know: " + string.Join(", ", unknown));
    }

    [Fact]
    public async Task EveryServerExampleInTheDocsRuns()
    {
        var root = RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("arc-doc-examples-").FullName;
        try
        {
            await WriteFixturesAsync(work);
            await using var server = await TestServer.StartAsync(c => c.DeleteEnabled = true); // docs/api.md drops a database
            var address = server.Client.BaseAddress!.GetLeftPart(UriPartial.Authority);
            var ran = 0;
            foreach (var document in Documents)
            {
                foreach (var (line, block) in Examples(await File.ReadAllTextAsync(Path.Combine(root, document))))
                {
                    var script = Prelude + block.Replace("http://localhost:8000", address, StringComparison.Ordinal)
                        .Replace("localhost:8000", address, StringComparison.Ordinal);
                    var start = new ProcessStartInfo("bash", ["-euo", "pipefail", "-c", script]) { WorkingDirectory = work };
                    start.Environment["TOKEN"] = TestServer.AdminToken;
                    var (code, output, error) = await ChildProcess.RunAsync(start, TimeSpan.FromSeconds(60));
                    var where = $"{document}:{line}\n{block}\n--- stdout\n{output}\n--- stderr\n{error}";
                    Assert.True(code == 0, $"the example at {where}");
                    Assert.DoesNotContain("\"success\":false", output, StringComparison.Ordinal);
                    ran++;
                }
            }

            Assert.True(ran >= 10, $"only {ran} examples found: the extraction is broken");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Every curl fails on an HTTP error (the block stops there) and prints a line break after each body.</summary>
    private const string Prelude = "curl() { command curl -sS --fail-with-body \"$@\" && echo; }\n";

    /// <summary>The <c>```sh</c> blocks that name the server, with the line each starts on.</summary>
    private static IEnumerable<(int Line, string Block)> Examples(string markdown)
    {
        foreach (Match match in ShellBlock().Matches(markdown))
        {
            var block = match.Groups[1].Value;
            if (block.Contains("localhost:8000", StringComparison.Ordinal))
            {
                yield return (markdown.AsSpan(0, match.Index).Count('\n') + 1, block);
            }
        }
    }

    /// <summary>The files the examples send: <c>points.lp</c> and <c>cpu.msgpack</c>, as docs/api.md describes them.</summary>
    private static async Task WriteFixturesAsync(string directory)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await File.WriteAllTextAsync(Path.Combine(directory, "points.lp"),
            $"cpu,host=server03,region=eu-west usage_idle=91.5,usage_user=3.5 {now * 1_000_000}\n" +
            $"cpu,host=server04,region=eu-west usage_idle=72,usage_user=20.25 {now * 1_000_000}\n");

        // {"m":"cpu","columns":{"time":[now],"host":["a"],"usage":[0.5]},"tags":["host"]}
        var body = new MsgPackBodyWriter().Map(3)
            .Str("m").Str("cpu")
            .Str("columns").Map(3)
            .Str("time").Array(1).Int64(now)
            .Str("host").Array(1).Str("a")
            .Str("usage").Array(1).Float64(0.5)
            .Str("tags").Array(1).Str("host")
            .ToArray();
        await File.WriteAllBytesAsync(Path.Combine(directory, "cpu.msgpack"), body);

        // A Parquet file of another system, for the bulk import example (docs/api.md).
        TestServer.ReadParquet($"""
            COPY (SELECT TIMESTAMP '2024-03-01 10:00:00' + INTERVAL (i) MINUTE AS time, 'north' AS site, 20 + i / 10 AS temp,
                  i::INTEGER AS samples FROM range(10) t(i)) TO '{Path.Combine(directory, "readings.parquet")}' (FORMAT PARQUET)
            """);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "arc-native.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("arc-native.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^```sh\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex ShellBlock();

    /// <summary>A row of the key table: <c>| `section.key` | default | meaning |</c>.</summary>
    [GeneratedRegex(@"^\| `([a-z_]+\.[a-z0-9_.]+)` \|", RegexOptions.Multiline)]
    private static partial Regex ConfigurationRow();
}
