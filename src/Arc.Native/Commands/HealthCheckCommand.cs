using System.Collections;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Arc.Native.Configuration;

namespace Arc.Native.Commands;

/// <summary>
/// <c>arc-native healthcheck [--url URL] [--timeout SECONDS] [--config PATH]</c>: GETs the server's <c>/health</c> and exits
/// 0 when it answers 2xx, 1 otherwise (Docker's HEALTHCHECK convention; 2 is reserved there, so every failure is 1).
/// Made for images without curl or a shell. Without <c>--url</c> the address comes from the same configuration the
/// server reads (arc.toml, <c>--config</c>, <c>ARC_SERVER_HOST</c>/<c>ARC_SERVER_PORT</c>), so it follows the server's port.
/// It never touches storage or DuckDB, so it is cheap to run every few seconds.
/// </summary>
internal static class HealthCheckCommand
{
    public const int Healthy = 0;
    public const int Unhealthy = 1;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, string? configPath, IDictionary environment,
        TextWriter output, TextWriter error)
    {
        string? url = null;
        var timeout = TimeSpan.FromSeconds(5);
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--url" when i + 1 < args.Count:
                    url = args[++i];
                    break;
                case "--config" or "-c" when i + 1 < args.Count:
                    configPath = args[++i];
                    break;
                case "--timeout" when i + 1 < args.Count:
                    if (!double.TryParse(args[++i], CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
                    {
                        error.WriteLine($"unhealthy: --timeout expects a positive number of seconds, got '{args[i]}'");
                        return Unhealthy;
                    }

                    timeout = TimeSpan.FromSeconds(seconds);
                    break;
                default:
                    error.WriteLine($"unhealthy: unknown healthcheck argument '{args[i]}' " +
                                    "(usage: arc-native healthcheck [--url URL] [--timeout SECONDS] [--config PATH])");
                    return Unhealthy;
            }
        }

        if (url is null)
        {
            try
            {
                url = DefaultUrl(ArcConfig.Load(configPath, environment));
            }
            catch (ConfigException e)
            {
                error.WriteLine($"unhealthy: configuration error: {e.Message}");
                return Unhealthy;
            }
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
        {
            error.WriteLine($"unhealthy: not an http:// URL: '{url}'");
            return Unhealthy;
        }

        try
        {
            using var cancel = new CancellationTokenSource(timeout);
            var (status, reason) = await GetStatusAsync(uri, cancel.Token).ConfigureAwait(false);
            if (status is >= 200 and < 300)
            {
                output.WriteLine($"healthy: {uri} answered {status}");
                return Healthy;
            }

            error.WriteLine($"unhealthy: {uri} answered {status} {reason}");
            return Unhealthy;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine($"unhealthy: {uri}: no answer within {timeout.TotalSeconds:0.###} s");
            return Unhealthy;
        }
        catch (Exception e) when (e is SocketException or IOException or InvalidDataException)
        {
            error.WriteLine($"unhealthy: {uri}: {e.Message}");
            return Unhealthy;
        }
    }

    /// <summary>
    /// One HTTP/1.1 GET with <c>Connection: close</c>, returning the status line's code and reason. A plain socket rather
    /// than HttpClient: this probe only ever talks to the server's own plain-HTTP listener, and HttpClient would add
    /// 2.7 MB to the AOT binary. No proxy is consulted, so an http_proxy variable cannot send the probe elsewhere.
    /// </summary>
    private static async Task<(int Status, string Reason)> GetStatusAsync(Uri uri, CancellationToken cancellationToken)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(uri.IdnHost, uri.Port, cancellationToken).ConfigureAwait(false);
        var request = Encoding.ASCII.GetBytes(
            $"GET {uri.PathAndQuery} HTTP/1.1\r\nHost: {uri.Authority}\r\nUser-Agent: arc-native-healthcheck\r\n" +
            "Accept: */*\r\nConnection: close\r\n\r\n");
        await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false);

        // The status line is all that is needed: "HTTP/1.1 200 OK\r\n".
        var buffer = new byte[512];
        var length = 0;
        int end;
        while ((end = Array.IndexOf(buffer, (byte)'\n', 0, length)) < 0)
        {
            if (length == buffer.Length)
            {
                throw new InvalidDataException("the status line is too long");
            }

            var read = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new InvalidDataException(length == 0 ? "the connection closed without an answer" : "truncated status line");
            }

            length += read;
        }

        var line = Encoding.ASCII.GetString(buffer, 0, end).TrimEnd('\r');
        var parts = line.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || parts[1].Length != 3
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            throw new InvalidDataException($"not an HTTP/1.x status line: '{line}'");
        }

        return (status, parts.Length == 3 ? parts[2] : "");
    }

    /// <summary>
    /// <c>http://{host}:{port}/health</c> for the configured listener: loopback when the server listens on every interface
    /// (or on "localhost"), the configured address otherwise.
    /// </summary>
    /// <exception cref="ConfigException">The port is 0 (picked at startup), so there is nothing to derive a URL from.</exception>
    internal static string DefaultUrl(ArcConfig config)
    {
        if (config.Port == 0)
        {
            throw new ConfigException("server.port is 0 (a free port picked at startup); pass --url");
        }

        var host = config.Host switch
        {
            "" or "localhost" or "0.0.0.0" => "127.0.0.1",
            "::" or "[::]" => "[::1]",
            var address when IPAddress.TryParse(address, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 =>
                $"[{ip}]",
            var address => address,
        };
        return $"http://{host}:{config.Port}/health";
    }
}
