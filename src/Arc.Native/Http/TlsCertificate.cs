using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Arc.Native.Configuration;

namespace Arc.Native.Http;

/// <summary>
/// The certificate served over TLS, from PEM files (<c>server.tls_cert_file</c>, <c>server.tls_key_file</c>). A renewed
/// certificate is picked up without a restart: on a new connection, at most once a second, the files' modification times
/// are compared and a changed pair is loaded (certbot and cert-manager replace both files). A pair that does not load (a
/// half-written file, a key that does not match) keeps the previous certificate in use and is logged once.
/// </summary>
internal sealed class TlsCertificate
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);
    private readonly string _certFile;
    private readonly string _keyFile;
    private readonly ILogger? _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private X509Certificate2 _current;
    private (DateTime Cert, DateTime Key) _loadedStamps;
    private (DateTime Cert, DateTime Key) _failedStamps;
    private long _nextCheck;

    private TlsCertificate(string certFile, string keyFile, X509Certificate2 first, ILogger? logger, TimeProvider time)
    {
        _time = time;
        _certFile = certFile;
        _keyFile = keyFile;
        _current = first;
        _loadedStamps = Stamps();
        _logger = logger;
    }

    /// <summary>Loads the configured pair, or stops startup naming the key at fault.</summary>
    public static TlsCertificate Load(ArcConfig config, ILogger? logger)
    {
        var certFile = config.TlsCertFile ?? throw new ConfigException("server.tls_cert_file: required when server.tls_enabled is true (a PEM certificate)");
        var keyFile = config.TlsKeyFile ?? throw new ConfigException("server.tls_key_file: required when server.tls_enabled is true (a PEM private key)");
        try
        {
            return new TlsCertificate(certFile, keyFile, Read(certFile, keyFile), logger, config.Engine.Time);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ConfigException($"server.tls_cert_file / server.tls_key_file: cannot load {certFile} with {keyFile}: {e.Message}");
        }
    }

    /// <summary>The certificate for a new connection (called by Kestrel on each TLS handshake).</summary>
    public X509Certificate2 Current
    {
        get
        {
            var now = _time.GetTimestamp(); // the engine's clock (EngineOptions.Time), so a test moves it instead of waiting
            if (now >= Interlocked.Read(ref _nextCheck))
            {
                Interlocked.Exchange(ref _nextCheck, now + (long)(CheckInterval.TotalSeconds * _time.TimestampFrequency));
                ReloadIfChanged();
            }

            return Volatile.Read(ref _current);
        }
    }

    private void ReloadIfChanged()
    {
        lock (_lock)
        {
            var stamps = Stamps();
            if (stamps == _loadedStamps || stamps == _failedStamps)
            {
                return;
            }

            try
            {
                Volatile.Write(ref _current, Read(_certFile, _keyFile));
                _loadedStamps = stamps;
                _logger?.LogInformation("Loaded the renewed TLS certificate from {CertFile}", _certFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                _failedStamps = stamps;
                _logger?.LogWarning("The TLS certificate in {CertFile} changed but does not load ({Error}); still serving the previous one", _certFile,
                    e.Message);
            }
        }
    }

    private (DateTime, DateTime) Stamps() => (File.GetLastWriteTimeUtc(_certFile), File.GetLastWriteTimeUtc(_keyFile));

    private static X509Certificate2 Read(string certFile, string keyFile) => X509Certificate2.CreateFromPemFile(certFile, keyFile);
}
