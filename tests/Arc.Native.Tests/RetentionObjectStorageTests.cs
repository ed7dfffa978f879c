using System.Net;
using System.Text.Json;
using Arc.Engine.Storage.Remote;
using static Arc.Native.Tests.TestServer;

namespace Arc.Native.Tests;

/// <summary>Retention against a real Ceph radosgw: a confirmed run deletes the expired objects from the bucket too.</summary>
[Collection("ceph")]
public sealed class RetentionObjectStorageTests(CephFixture ceph)
{
    [Fact]
    public async Task AConfirmedRunDeletesTheExpiredObjectsAndAColdServerSeesOnlyTheKeptRows()
    {
        var bucket = ceph.NewBucket();
        var now = DateTimeOffset.UtcNow;
        long Nanos(DateTimeOffset time) => (time - DateTimeOffset.UnixEpoch).Ticks * 100;
        await using (var server = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket }))
        {
            var lines = $"cpu,host=old v=1 {Nanos(now.AddDays(-100))}\ncpu,host=older v=2 {Nanos(now.AddDays(-200))}\ncpu,host=new v=3 {Nanos(now.AddDays(-1))}\n";
            Assert.Equal(HttpStatusCode.NoContent, (await server.WriteAsync("/write?db=obj&precision=ns", lines)).StatusCode);
            await server.Server.Engine.CheckpointAsync();
            Assert.True(await server.Server.Engine.DrainUploadsAsync(TimeSpan.FromSeconds(30)));
            using var store = new S3ObjectStore(bucket);
            Assert.Equal(3, (await store.ListAsync("obj/", CancellationToken.None)).Count);

            using var created = await server.Client.PostAsync("/api/v1/retention", Json(
                """{"name":"obj-30d","database":"obj","retention_days":30,"buffer_days":7,"is_active":true}"""));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt64();
            using var run = await server.Client.PostAsync($"/api/v1/retention/{id}/execute", Json("""{"dry_run":false,"confirm":true}"""));
            var result = JsonDocument.Parse(await run.Content.ReadAsStringAsync()).RootElement;
            Assert.True(run.StatusCode == HttpStatusCode.OK, result.ToString());
            Assert.Equal(2, result.GetProperty("files_deleted").GetInt32());

            var left = Assert.Single(await store.ListAsync("obj/", CancellationToken.None));
            Assert.Equal(Path.GetRelativePath(server.DataPath, Assert.Single(server.ParquetFiles())).Replace('\\', '/'), left.Key);
            Assert.Equal(["new"], (await server.RowsAsync("SELECT host FROM obj.cpu")).Select(r => r[0]));
            Assert.Empty(Directory.GetFiles(Path.Combine(server.DataPath, ".retention")));
        }

        // A server with an empty cache reads only what the bucket still has.
        await using var cold = await TestServer.StartAsync(c => c.Engine = c.Engine with { ObjectStore = bucket });
        Assert.Equal(["new"], (await cold.RowsAsync("SELECT host FROM obj.cpu")).Select(r => r[0]));
    }
}
