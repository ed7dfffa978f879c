using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Arc.Benchmarking;

/// <summary>Starting and stopping the servers a benchmark measures (arc-native and its peers) on loopback.</summary>
internal static partial class ServerProcesses
{
    /// <summary>A TCP port free on loopback right now.</summary>
    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>SIGTERM (the server drains and flushes), SIGKILL if it has not exited after <paramref name="grace"/>; then disposes it.</summary>
    public static void Stop(Process process, TimeSpan grace)
    {
        if (!process.HasExited)
        {
            _ = Kill(process.Id, 15);
            if (!process.WaitForExit(grace))
            {
                process.Kill();
            }
        }

        process.WaitForExit();
        process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
