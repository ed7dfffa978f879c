namespace Arc.Engine.DuckDb;

/// <summary>
/// Interrupts the statement running on a connection once a token is cancelled (the time limit, the client leaving), and
/// again every <see cref="Repeat"/> until disposed. DuckDB clears a connection's interrupt flag when a statement starts, so
/// one interrupt that landed between two statements of a query (its time bounds, its transaction, the query itself) was
/// lost, and the query ran on past its time limit, holding the connection, since the token fires only once.
/// </summary>
internal sealed class ConnectionInterrupt : IDisposable
{
    private static readonly TimeSpan Repeat = TimeSpan.FromMilliseconds(50);

    private readonly DuckDbConnection _connection;
    private readonly Lock _lock = new();
    private readonly CancellationTokenRegistration _registration;
    private Timer? _timer;
    private bool _disposed;

    public ConnectionInterrupt(DuckDbConnection connection, CancellationToken token)
    {
        _connection = connection;
        _registration = token.UnsafeRegister(static state => ((ConnectionInterrupt)state!).Start(), this);
    }

    private void Start()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _connection.Interrupt();
                _timer = new Timer(static state => ((ConnectionInterrupt)state!).Again(), this, Repeat, Repeat);
            }
        }
    }

    private void Again()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _connection.Interrupt();
            }
        }
    }

    /// <summary>Stops interrupting: once this returns, no interrupt reaches the connection (it may go back to the pool).</summary>
    public void Dispose()
    {
        _registration.Dispose(); // waits for a Start running on another thread
        lock (_lock)
        {
            _disposed = true;
            _timer?.Dispose();
        }
    }
}
