using System.Diagnostics;

namespace Arc.Native.Tests;

/// <summary>Runs a helper program (server control scripts, psql, ...) to its end within a time limit.</summary>
internal static class ChildProcess
{
    /// <summary>Both streams are read while it runs, so neither pipe can fill and stall it; a timeout throws.</summary>
    public static async Task<(int Code, string Output, string Error)> RunAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(timeout);
        return (process.ExitCode, await output, await error);
    }
}
