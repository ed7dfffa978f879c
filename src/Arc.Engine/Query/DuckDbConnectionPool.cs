using System.Diagnostics;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Query;

/// <summary>
/// A pool of connections. Admission goes through a <see cref="QueryPriorityPool"/>: at most its size statements run at
/// once, and waiting queries are served by priority, FIFO within one. The instance the connections come from can be
/// replaced (<see cref="Replace"/>): from then on only the new one's connections are handed out, and the old one's are
/// closed as they come back.
/// </summary>
public sealed class DuckDbConnectionPool : IDisposable
{
    private readonly QueryPriorityPool _slots;
    private readonly System.Collections.Concurrent.ConcurrentBag<DuckDbConnection> _idle = [];
    private readonly List<DuckDbConnection> _all = [];
    private DuckDbDatabase _database;
    private volatile int _generation;

    public DuckDbConnectionPool(DuckDbDatabase database, QueryPriorityPool slots)
    {
        _database = database;
        _slots = slots;
    }

    /// <summary>The admission gate (its queue, waits and execution times are the pool's metrics).</summary>
    public QueryPriorityPool Slots => _slots;

    /// <summary>Connections opened and not rented.</summary>
    public int Idle => _idle.Count;

    /// <summary>The instance connections come from now.</summary>
    public DuckDbDatabase Database => Volatile.Read(ref _database);

    public ValueTask<DuckDbConnection> RentAsync(CancellationToken cancellationToken) => RentAsync(QueryPriority.Normal, cancellationToken);

    public async ValueTask<DuckDbConnection> RentAsync(QueryPriority priority, CancellationToken cancellationToken)
    {
        await _slots.AcquireAsync(priority, cancellationToken).ConfigureAwait(false);
        DuckDbConnection? connection;
        while (_idle.TryTake(out connection) && connection.Generation != _generation)
        {
            Close(connection); // taken from the bag while Replace emptied it
        }

        if (connection is null)
        {
            try
            {
                connection = Open();
            }
            catch
            {
                _slots.Release(TimeSpan.Zero);
                throw;
            }
        }

        connection.RentedAt = Stopwatch.GetTimestamp();
        return connection;
    }

    /// <summary>
    /// Takes a connection back, ending the transaction a query left open on it; a connection whose transaction DuckDB
    /// refuses to end is closed rather than handed to the next request in an unknown state, and so is one of a replaced
    /// instance.
    /// </summary>
    public void Return(DuckDbConnection connection)
    {
        var held = Stopwatch.GetElapsedTime(connection.RentedAt);
        try
        {
            connection.EndTransaction();
            if (connection.Generation == _generation)
            {
                _idle.Add(connection);
            }
            else
            {
                Close(connection);
            }
        }
        catch (DuckDbException)
        {
            Close(connection);
        }

        _slots.Release(held);
    }

    /// <summary>
    /// Hands out connections of <paramref name="database"/> from now on and closes the idle ones of the instance before;
    /// rented ones are closed when they come back (DuckDB keeps an instance alive while a connection to it is open).
    /// Returns the instance before, for the caller to close.
    /// </summary>
    public DuckDbDatabase Replace(DuckDbDatabase database)
    {
        DuckDbDatabase old;
        lock (_all)
        {
            old = _database;
            Volatile.Write(ref _database, database);
            _generation++;
        }

        var current = new List<DuckDbConnection>(); // opened after the swap by a concurrent rent and returned already
        while (_idle.TryTake(out var connection))
        {
            if (connection.Generation == _generation)
            {
                current.Add(connection);
            }
            else
            {
                Close(connection);
            }
        }

        current.ForEach(_idle.Add);
        return old;
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

    private DuckDbConnection Open()
    {
        lock (_all)
        {
            var connection = _database.Connect();
            connection.Generation = _generation;
            _all.Add(connection);
            return connection;
        }
    }

    private void Close(DuckDbConnection connection)
    {
        lock (_all)
        {
            _all.Remove(connection);
        }

        connection.Dispose();
    }
}
