using Arc.Engine;
using Arc.Native;
using Arc.Native.Commands;
using Arc.Native.Configuration;
using Arc.Native.Distribution;

return await ArcProgram.MainAsync(args).ConfigureAwait(false);

namespace Arc.Native
{
    internal static class ArcProgram
    {
        public static async Task<int> MainAsync(string[] args)
        {
            // Before anything touches DuckDB or ParquetSharp: with an embedded bundle, resolve their imports from it.
            try
            {
                NativeBundle.Initialize();
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"arc-native: cannot read the embedded native libraries: {e.Message}");
                return 1;
            }

            string? configPath = null;
            for (var i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--config" or "-c" when i + 1 < args.Length:
                        configPath = args[++i];
                        break;
                    case "--version" or "-v":
                        Console.WriteLine($"arc-native {Http.ServerInfo.Version} (DuckDB {ArcEngine.DuckDbVersion})");
                        return 0;
                    case "--help" or "-h":
                        PrintHelp();
                        return 0;
                    case "healthcheck":
                        return await HealthCheckCommand.RunAsync(args[(i + 1)..], configPath, Environment.GetEnvironmentVariables(),
                            Console.Out, Console.Error).ConfigureAwait(false);
                    default:
                        Console.Error.WriteLine($"arc-native: unknown argument '{args[i]}' (see --help)");
                        return 2;
                }
            }

            ArcConfig config;
            try
            {
                config = ArcConfig.Load(configPath, Environment.GetEnvironmentVariables());
            }
            catch (ConfigException e)
            {
                Console.Error.WriteLine($"arc-native: configuration error: {e.Message}");
                return 2;
            }

            ArcServer server;
            try
            {
                server = await ArcServer.CreateAsync(config).ConfigureAwait(false);
            }
            catch (ConfigException e)
            {
                Console.Error.WriteLine($"arc-native: configuration error: {e.Message}");
                return 2;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or Engine.DuckDb.DuckDbException)
            {
                Console.Error.WriteLine($"arc-native: cannot open storage at {config.Engine.DataPath}: {e.Message}");
                return 1;
            }

            // With log.format = json, these go through the logger too, so every line on the console is one JSON object.
            foreach (var ignored in config.Ignored)
            {
                server.Announce($"warning: ignoring {ignored}", warning: true);
            }

            var storage = config.Engine.ObjectStore is { } objectStore
                ? $"{objectStore.Describe()}, local cache and WAL {server.Engine.Store.Root}"
                : server.Engine.Store.Root;
            server.Announce($"arc-native {Http.ServerInfo.Version}: storage {storage}, " +
                            $"config {config.SourceFile ?? "(defaults and environment)"}");
            await server.RunAsync().ConfigureAwait(false);
            return 0;
        }

        private static void PrintHelp()
        {
            Console.WriteLine("""
                arc-native: time-series database server (InfluxDB line protocol in, Parquet on disk, SQL out)

                Usage: arc-native [--config PATH]
                       arc-native [--config PATH] healthcheck [--url URL] [--timeout SECONDS]

                  --config, -c PATH   read settings from PATH (default: ./arc.toml when present)
                  --version, -v       print the version and exit
                  --help, -h          print this help and exit
                  healthcheck         GET http://127.0.0.1:{server.port}/health (or --url; timeout 5 s) and exit
                                      0 when it answers 2xx, 1 otherwise; for container health checks (no curl needed)

                Every setting can be overridden from the environment as ARC_ + the key upper-cased,
                dots as underscores, e.g. ARC_SERVER_PORT=8123 ARC_STORAGE_LOCAL_PATH=/var/lib/arc
                Supported keys:
                """);
            foreach (var key in ArcConfig.SupportedKeys)
            {
                Console.WriteLine($"  {key,-38} {ArcConfig.EnvironmentName(key)}");
            }
        }
    }
}
