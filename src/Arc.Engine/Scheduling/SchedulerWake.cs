namespace Arc.Engine.Scheduling;

/// <summary>
/// The loop of a scheduler that runs what is due on the engine's clock (export jobs, continuous queries): a pass, then a
/// wait until <see cref="Wake"/> is called (something was added or changed) or a second of the engine's clock has passed
/// (a fake clock in tests: moving it runs what became due). The second starts before the pass reads the clock, so a move
/// of the clock during the pass is not lost: it either shows in the pass or ends the wait.
/// </summary>
internal sealed class SchedulerWake(TimeProvider time)
{
    private readonly SemaphoreSlim _signal = new(0);

    /// <summary>Ends the current wait (or the next one) at once.</summary>
    public void Wake() => _signal.Release();

    /// <summary>Runs passes until <paramref name="stopping"/> is cancelled; a pass cancelled by it ends the loop.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> pass, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            using var sleep = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            var second = Task.Delay(TimeSpan.FromSeconds(1), time, sleep.Token);
            try
            {
                await pass(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }

            try
            {
                await Task.WhenAny(_signal.WaitAsync(sleep.Token), second).ConfigureAwait(false);
            }
            finally
            {
                await sleep.CancelAsync().ConfigureAwait(false);
            }
        }
    }
}
