using Microsoft.Extensions.Time.Testing;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Arc.Native.Configuration;

namespace Arc.Native.Tests;

/// <summary>
/// HTTPS from PEM files (Arc's <c>server.tls_*</c> keys) with certificates made here: HTTP/1.1 and HTTP/2 over TLS, a
/// renewed certificate served to new connections without a restart, a broken renewal leaving the previous one in use,
/// and bad files stopping startup naming the keys.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("arc-tls-").FullName;

    private string CertFile => Path.Combine(_directory, "cert.pem");

    private string KeyFile => Path.Combine(_directory, "key.pem");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task HttpsAndHttp2ServeTheCertificateAndARenewalIsPickedUpWithoutARestart()
    {
        var first = WriteCertificate("first");
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(c =>
        {
            c.Engine = c.Engine with { Time = clock };
            c.TlsEnabled = true;
            c.TlsCertFile = CertFile;
            c.TlsKeyFile = KeyFile;
        });
        var address = server.Server.Addresses.First();
        Assert.StartsWith("https://", address, StringComparison.Ordinal);

        var (status, version, seen) = await GetAsync(address, HttpVersion.Version20);
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20, first), (status, version, seen));
        (status, version, seen) = await GetAsync(address, HttpVersion.Version11);
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version11, first), (status, version, seen));

        // Files are looked at once a second at most: not before the second is over, then on the next connection.
        var renewed = WriteCertificate("renewed");
        clock.Advance(TimeSpan.FromSeconds(0.9));
        Assert.Equal(first, (await GetAsync(address, HttpVersion.Version20)).Thumbprint);
        clock.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal(renewed, (await GetAsync(address, HttpVersion.Version20)).Thumbprint);

        await File.WriteAllTextAsync(CertFile, "-----BEGIN CERTIFICATE-----\nbroken\n"); // a renewal caught half written
        clock.Advance(TimeSpan.FromSeconds(1.1));
        Assert.Equal((HttpStatusCode.OK, renewed), ((await GetAsync(address, HttpVersion.Version11)).Status, (await GetAsync(address, HttpVersion.Version11)).Thumbprint));

        using var plain = new HttpClient();
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync(address.Replace("https://", "http://", StringComparison.Ordinal) + "/health"));
    }

    [Fact]
    public async Task MissingOrBadFilesStopStartupNamingTheKeys()
    {
        var missing = await Assert.ThrowsAsync<ConfigException>(() => TestServer.StartAsync(c => c.TlsEnabled = true));
        Assert.Equal("server.tls_cert_file: required when server.tls_enabled is true (a PEM certificate)", missing.Message);

        WriteCertificate("mismatch");
        using (var other = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(KeyFile, other.ExportPkcs8PrivateKeyPem());
        }

        var mismatched = await Assert.ThrowsAsync<ConfigException>(() => TestServer.StartAsync(c =>
        {
            c.TlsEnabled = true;
            c.TlsCertFile = CertFile;
            c.TlsKeyFile = KeyFile;
        }));
        Assert.StartsWith($"server.tls_cert_file / server.tls_key_file: cannot load {CertFile} with {KeyFile}: ", mismatched.Message, StringComparison.Ordinal);
    }

    /// <summary>Writes a new self-signed pair for 127.0.0.1 over the files and returns its thumbprint.</summary>
    private string WriteCertificate(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(KeyFile, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(CertFile, certificate.ExportCertificatePem());
        return certificate.Thumbprint;
    }

    /// <summary>GET /health on a new connection: the status, the HTTP version used and the thumbprint the server presented.</summary>
    private static async Task<(HttpStatusCode Status, Version Version, string? Thumbprint)> GetAsync(string address, Version version)
    {
        string? seen = null;
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            seen = certificate is null ? null : new X509Certificate2(certificate).Thumbprint;
            return true; // self-signed: the test checks which one was presented instead
        };
        using var client = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, address + "/health") { Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await client.SendAsync(request);
        return (response.StatusCode, response.Version, seen);
    }
}
