using System.Net;

namespace Arc.Native.Tests;

/// <summary>A row delete against a real Ceph radosgw: the rewritten files replace the old objects, as a cold server sees.</summary>
[Collection("ceph")]
public sealed class DeleteObjectStorageTests(CephFixture ceph)
{
    [Fact]
    public async Task ADeleteRewritesTheObjectsAndAColdServerSeesOnlyTheSurvivors()
    {
        var bucket = ceph.NewBucket();
        await using (var server = await TestServer.StartAsync(c =>
        {
            c.DeleteEnabled = true;
            c.Engine = c.Engine with { ObjectStore = bucket, MaxBufferRows = 50 };
        }))
        {
            await DeleteApiTests.WriteAsync(server.Client, DeleteApiTests.Lines(0, 300));
            Assert.True(await server.Server.Engine.DrainUploadsAsync(TimeSpan.FromSeconds(60)));
            var result = await TestServer.BodyAsync(await DeleteApiTests.DeleteAsync(server.Client, "host = 'h1'", dryRun: false, confirm: true),
                HttpStatusCode.OK);
            Assert.Equal(100, result.GetProperty("deleted_count").GetInt64());
            Assert.Equal([["200", "200", "0"]], await server.RowsAsync("SELECT count(*), count(DISTINCT seq), count(*) FILTER (WHERE host = 'h1') FROM cpu", "db"));
            Assert.True(await server.Server.Engine.DrainUploadsAsync(TimeSpan.FromSeconds(60)));
        }

        await using var cold = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket });
        Assert.Equal([["200", "200", "0"]], await cold.RowsAsync("SELECT count(*), count(DISTINCT seq), count(*) FILTER (WHERE host = 'h1') FROM cpu", "db"));
    }
}
