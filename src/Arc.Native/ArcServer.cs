using System.Net;
using System.Runtime.InteropServices;
using Arc.Engine.Auth;
using Arc.Engine.ContinuousQueries;
using Arc.Engine;
using Arc.Engine.Query;
using Arc.Engine.Retention;
using Arc.Native.Auth;
using Arc.Native.Configuration;
using Arc.Native.Http;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Arc.Native;

/// <summary>The HTTP host around the engine: Kestrel (slim builder), the endpoints, startup and ordered shutdown.</summary>
public sealed class ArcServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ServerState _state;
    private int _stopped;

    private ArcServer(WebApplication app, ArcEngine engine, ServerState state)
    {
        _app = app;
        Engine = engine;
        _state = state;
    }

    public ArcEngine Engine { get; }

    /// <summary>Every routed endpoint (the route audit test walks them).</summary>
    internal IReadOnlyList<Endpoint> Endpoints => _app.Services.GetRequiredService<EndpointDataSource>().Endpoints;

    /// <summary>The addresses Kestrel listens on (after <see cref="StartAsync"/>), e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public IReadOnlyCollection<string> Addresses =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();

    /// <summary>
    /// Builds the server: checks that no secret file lies where SQL can read it, opens storage and DuckDB (throwing if either
    /// fails) and maps the endpoints.
    /// </summary>
    public static async Task<ArcServer> CreateAsync(ArcConfig config, Action<ILoggingBuilder>? logging = null)
    {
        config.CheckSecretsAreUnreadable();

        // No appsettings.json reload: its file watcher watches the content root (the working directory) recursively with
        // inotify, which from "/" in a container walks all of /proc and /data and cost ~0.45 s of startup (and watches).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        var recentLogs = new RecentLogs(config.Engine.Time);
        builder.Services.AddSingleton(recentLogs);
        ServerLogging.Configure(builder.Logging, config, recentLogs);
        logging?.Invoke(builder.Logging);

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = config.MaxPayloadBytes;
            kestrel.Limits.KeepAliveTimeout = config.IdleTimeout;
            kestrel.Limits.RequestHeadersTimeout = config.ReadTimeout;
            // With TLS: HTTPS with HTTP/2 offered by ALPN, the certificate read per handshake (renewals are picked up).
            void Endpoint(ListenOptions listen)
            {
                if (config.TlsEnabled)
                {
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(https => https.ServerCertificateSelector = (_, _) =>
                        kestrel.ApplicationServices.GetRequiredService<TlsCertificate>().Current);
                }
            }

            if (config.Host.Length == 0)
            {
                kestrel.ListenAnyIP(config.Port, Endpoint);
            }
            else if (config.Host == "localhost")
            {
                kestrel.ListenLocalhost(config.Port, Endpoint);
            }
            else if (IPAddress.TryParse(config.Host, out var address))
            {
                kestrel.Listen(address, config.Port, Endpoint);
            }
            else
            {
                throw new ConfigException($"server.host: expected an IP address, \"localhost\" or empty, got \"{config.Host}\"");
            }
        });
        if (config.TlsEnabled)
        {
            builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out unless asked
            builder.Services.AddSingleton(sp => TlsCertificate.Load(config, sp.GetRequiredService<ILogger<TlsCertificate>>()));
        }

        // Registered after the slim builder's Kestrel services, so Kestrel's transport and HTTP layer take their pools from it.
        builder.Services.AddSingleton<ReceiveBlockPoolFactory>();
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>>(sp => sp.GetRequiredService<ReceiveBlockPoolFactory>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = config.ShutdownTimeout);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Insert(1, CompactionJsonContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Insert(2, AuthJsonContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Insert(3, DatabaseJsonContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Insert(4, DeleteJsonContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Add(RetentionJsonContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Add(RetentionEndpointJsonContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Add(JsonMetricsContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Insert(5, ContinuousQueryJsonContext.Api);
            o.SerializerOptions.TypeInfoResolverChain.Add(ImportJsonContext.Api);
        });

        var state = new ServerState();
        if (config.AuthEnabled)
        {
            builder.Services.AddSingleton(sp => sp.GetRequiredService<ArcEngine>().Tokens!); // built by the engine
        }

        builder.Services.AddRateLimiter(o =>
        {
            Operations.ConfigureRateLimiter(o, config);
            AuthEndpoints.AddPolicies(o);
        });
        builder.AddOperations(config);
        ArcEngine? started = null; // started once the host's logging exists (below), before anything resolves it
        builder.Services.AddSingleton(_ => started ?? throw new InvalidOperationException("the engine is not started yet"));
        builder.Services.AddSingleton(config);
        if (config.ExportEnabled)
        {
            builder.Services.AddSingleton(sp => sp.GetRequiredService<ArcEngine>().Exports!); // built by the engine
        }

        if (config.RetentionEnabled)
        {
            builder.Services.AddSingleton(sp => sp.GetRequiredService<ArcEngine>().Retention!); // built by the engine
        }

        if (config.ContinuousQueryEnabled)
        {
            builder.Services.AddSingleton(sp => sp.GetRequiredService<ArcEngine>().ContinuousQueries!); // built by the engine
        }

        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton<IngestStats>();
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new() { Title = "arc-native", Version = ServerInfo.Version, Description = "Arc's HTTP API: ingest, query, compaction, export, operations" };
            return Task.CompletedTask;
        }));

        var app = builder.Build();
        var engine = started = await ArcEngine.StartAsync(config.Engine with
        {
            Export = config.ExportEnabled ? config.ResolvedExport : null,
            Retention = config.RetentionEnabled ? config.ResolvedRetention : null,
            ContinuousQueries = config.ContinuousQueryEnabled ? config.ResolvedContinuousQuery : null,
            ResultCache = config.CacheEnabled ? new ResultCacheOptions(config.CacheMaxBytes, config.CacheTtl, config.CacheMaxEntryBytes) : null,
            Tokens = config.AuthEnabled ? new TokenStoreOptions(config.AuthDbPath, config.AuthCacheTtl, config.AuthMaxCacheSize) : null,
        },
            app.Services.GetRequiredService<ILoggerFactory>()).ConfigureAwait(false);
        try
        {
            return Build(app, engine, config, state);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            await engine.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Middleware, endpoints and the token bootstrap over a started engine.</summary>
    private static ArcServer Build(WebApplication app, ArcEngine engine, ArcConfig config, ServerState state)
    {
        app.Lifetime.ApplicationStopping.Register(() => state.Ready = false);
        if (config.TlsEnabled)
        {
            app.Services.GetRequiredService<TlsCertificate>(); // loaded now, so a bad certificate stops startup naming the key
        }

        app.UseRequestMiddleware();
        app.UseRouting();
        app.UseConfiguredCors(config);
        app.UseAuthFailureLimiter(config);
        if (config.AuthEnabled)
        {
            Bootstrap(app.Services.GetRequiredService<TokenStore>(), config, app.Logger);
            app.UseMiddleware<AuthMiddleware>();
            AuthEndpoints.Map(app);
        }

        app.UseRateLimiter();
        HealthEndpoints.Map(app, state);
        RecentLogs.Map(app);
        WriteEndpoints.Map(app);
        MsgPackEndpoints.Map(app);
        ImportEndpoints.Map(app);
        IngestStats.Map(app);
        QueryEndpoints.Map(app);
        CompactionEndpoints.Map(app);
        DatabaseEndpoints.Map(app, config.DeleteEnabled);
        DeleteEndpoints.Map(app, new DeleteSettings(config.DeleteEnabled, config.DeleteConfirmationThreshold, config.DeleteMaxRows));
        app.MapOperations(config);
        app.MapOpenApi("/openapi.json").Requires(Permission.Read);
        ConsoleEndpoints.Map(app);
        if (engine.Exports is not null)
        {
            ExportEndpoints.Map(app);
        }

        if (engine.Retention is not null)
        {
            RetentionEndpoints.Map(app);
        }

        if (engine.ContinuousQueries is not null)
        {
            ContinuousQueryEndpoints.Map(app);
        }

        return new ArcServer(app, engine, state);
    }

    /// <summary>The shortest bootstrap token accepted.</summary>
    public const int MinBootstrapLength = 16;

    /// <summary>Makes sure an admin token exists: the configured bootstrap token, or a new one printed once.</summary>
    private static void Bootstrap(TokenStore tokens, ArcConfig config, ILogger logger)
    {
        if (config.BootstrapToken is { } bootstrap)
        {
            // Taken as given, as Arc does (a migrating deployment keeps its token), but not guessable by its length.
            if (bootstrap.Length is < MinBootstrapLength or > TokenStore.MaxSecretLength)
            {
                throw new ConfigException($"auth.bootstrap_token (ARC_AUTH_BOOTSTRAP_TOKEN): must have {MinBootstrapLength} to " +
                    $"{TokenStore.MaxSecretLength} characters (it has {bootstrap.Length}); a long random value is best");
            }

            if (!tokens.Exists(bootstrap))
            {
                tokens.Create("bootstrap", null, Permission.Admin, null, null, bootstrap);
                logger.LogInformation("Installed the bootstrap admin token from the configuration");
            }

            return;
        }

        if (!tokens.HasActiveAdmin())
        {
            var (_, secret) = tokens.Create("admin", null, Permission.Admin, null, null);
            // Printed once, to the console only: it is not stored anywhere in clear.
            Console.WriteLine($"arc-native: created the first admin token (shown only now): {secret}");
        }
    }

    /// <summary>A startup message: a plain console line, or a log entry when <c>log.format = json</c>.</summary>
    public void Announce(string message, bool warning = false)
    {
        if (_app.Services.GetRequiredService<ArcConfig>().LogFormat != "json")
        {
            (warning ? Console.Error : Console.Out).WriteLine(warning ? "arc-native: " + message : message);
        }
        else if (warning)
        {
            _app.Logger.LogWarning("{Message}", message);
        }
        else
        {
            _app.Logger.LogInformation("{Message}", message);
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        Engine.Exports?.Start();
        Engine.Retention?.Start();
        Engine.ContinuousQueries?.Start();
        _state.Ready = true;
    }

    /// <summary>
    /// Runs until SIGTERM/Ctrl-C, then drains requests and flushes every buffered row before returning. A second signal
    /// ends the process at once: whatever was not flushed is in the write-ahead log and is recovered at the next start.
    /// </summary>
    public async Task RunAsync()
    {
        var signals = 0;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Increment(ref signals) == 1)
            {
                Announce("stopping: draining requests and flushing buffers (signal again to exit at once)", warning: true);
                _app.Lifetime.StopApplication();
                return;
            }

            Console.Error.WriteLine(Engine.Options.WalEnabled
                ? "arc-native: exiting at once; unflushed rows are in the write-ahead log and will be recovered at the next start"
                : "arc-native: exiting at once; the write-ahead log is disabled, so unflushed rows are lost");
            Console.Error.Flush();
            Posix.Exit(130);
        }

        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        await StartAsync().ConfigureAwait(false);
        await _app.WaitForShutdownAsync().ConfigureAwait(false);
        await DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Stops accepting requests, waits for in-flight ones, then flushes the engine to Parquet.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        _state.Ready = false;
        await _app.StopAsync().ConfigureAwait(false);
        await Engine.DisposeAsync().ConfigureAwait(false); // export jobs first, then compaction, buffers and DuckDB
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

internal static partial class Posix
{
    /// <summary>Ends the process without running any more managed code (no shutdown handlers that could wait).</summary>
    [LibraryImport("libc", EntryPoint = "_exit")]
    internal static partial void Exit(int status);

    /// <summary>The absolute path of an existing <paramref name="path"/> with every symlink resolved (realpath(3)); null if that fails.</summary>
    internal static string? RealPath(string path)
    {
        var resolved = RealPath(path, 0);
        if (resolved == 0)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    /// <summary>realpath(3) with a null buffer: the result is allocated with malloc and must be freed.</summary>
    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint RealPath(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);
}
