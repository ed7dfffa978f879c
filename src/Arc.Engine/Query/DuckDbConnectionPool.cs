using System.Diagnostics;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Query;

/// <summary>
/// A pool of connections. Admission goes through a <see cref="QueryPriorityPool"/>: at most its size statements run at
/// once, and waiting queries are served by priority, FIFO within one.
/// </summary>
public sealed class DuckDbConnectionPool : IDisposable
{
    private readonly DuckDbDatabase _database;
    private readonly QueryPriorityPool _slots;
    private readonly System.Collections.Concurrent.ConcurrentBag<DuckDbConnection> _idle = [];
    private readonly List<DuckDbConnection> _all = [];

    public DuckDbConnectionPool(DuckDbDatabase database, QueryPriorityPool slots)
    {
        _database = database;
        _slots = slots;
    }

    /// <summary>The admission gate (its queue, waits and execution times are the pool's metrics).</summary>
    public QueryPriorityPool Slots => _slots;

    /// <summary>Connections opened and not rented.</summary>
    public int Idle => _idle.Count;

    public ValueTask<DuckDbConnection> RentAsync(CancellationToken cancellationToken) => RentAsync(QueryPriority.Normal, cancellationToken);

    public async ValueTask<DuckDbConnection> RentAsync(QueryPriority priority, CancellationToken cancellationToken)
    {
        await _slots.AcquireAsync(priority, cancellationToken).ConfigureAwait(false);
        if (!_idle.TryTake(out var connection))
        {
            try
            {
                connection = _database.Connect();
            }
            catch
            {
                _slots.Release(TimeSpan.Zero);
                throw;
            }

            lock (_all)
            {
                _all.Add(connection);
            }
        }

        connection.RentedAt = Stopwatch.GetTimestamp();
        return connection;
    }

    /// <summary>
    /// Takes a connection back, ending the transaction a query left open on it; a connection whose transaction DuckDB
    /// refuses to end is closed rather than handed to the next request in an unknown state.
    /// </summary>
    public void Return(DuckDbConnection connection)
    {
        var held = Stopwatch.GetElapsedTime(connection.RentedAt);
        try
        {
            connection.EndTransaction();
            _idle.Add(connection);
        }
        catch (DuckDbException)
        {
            lock (_all)
            {
                _all.Remove(connection);
            }

            connection.Dispose();
        }

        _slots.Release(held);
    }

    public void Dispose()
    {
        lock (_all)
        {
            foreach (var connection in _all)
            {
                connection.Dispose();
            }

            _all.Clear();
        }
    }
}
