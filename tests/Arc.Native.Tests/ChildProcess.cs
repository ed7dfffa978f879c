using System.Diagnostics;

namespace Arc.Native.Tests;

/// <summary>Runs a helper program (server control scripts, psql, ...) to its end within a time limit.</summary>
internal static class ChildProcess
{
    /// <summary>
    /// Both streams are read while it runs, so neither pipe can fill and stall it; a timeout kills it (and its children)
    /// and throws, so a program that does not end never outlives the test.
    /// </summary>
    public static async Task<(int Code, string Output, string Error)> RunAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await error);
    }
}
