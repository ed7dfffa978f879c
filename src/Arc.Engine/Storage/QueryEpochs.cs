namespace Arc.Engine.Storage;

/// <summary>
/// Deletes replaced files only after the queries that might still read them have finished. A query enters the current
/// epoch when it binds (under the visibility read lock); replacing files (under the write lock) retires them at the
/// current epoch and starts the next, so only queries of earlier or equal epochs can hold the old file list. Files are
/// deleted once no such query is running.
/// </summary>
internal sealed class QueryEpochs
{
    private readonly Dictionary<long, int> _active = [];
    private readonly List<(long Epoch, IReadOnlyList<string> Files, Action Done)> _retired = [];
    private readonly HashSet<string> _retiredFiles = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private long _epoch;

    public long Enter()
    {
        lock (_lock)
        {
            _active[_epoch] = _active.GetValueOrDefault(_epoch) + 1;
            return _epoch;
        }
    }

    public void Exit(long epoch)
    {
        List<(long, IReadOnlyList<string>, Action)>? ready;
        lock (_lock)
        {
            if (--_active[epoch] == 0)
            {
                _active.Remove(epoch);
            }

            ready = TakeReadyLocked();
        }

        Delete(ready);
    }

    /// <summary>
    /// Schedules <paramref name="files"/> for deletion once no query that may list them runs; <paramref name="done"/> runs
    /// after they are deleted. Call while holding the visibility write lock, right after the replacement became visible.
    /// </summary>
    public void Retire(IReadOnlyList<string> files, Action done)
    {
        List<(long, IReadOnlyList<string>, Action)>? ready;
        lock (_lock)
        {
            _retired.Add((_epoch, files, done));
            _retiredFiles.UnionWith(files);
            _epoch++;
            ready = TakeReadyLocked();
        }

        Delete(ready);
    }

    /// <summary>Whether <paramref name="file"/> was replaced and only waits for queries to finish before it is deleted.</summary>
    public bool IsRetired(string file)
    {
        lock (_lock)
        {
            return _retiredFiles.Contains(file);
        }
    }

    /// <summary>Retired files not deleted yet (queries still running).</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _retired.Count;
            }
        }
    }

    private List<(long, IReadOnlyList<string>, Action)>? TakeReadyLocked()
    {
        if (_retired.Count == 0)
        {
            return null;
        }

        var oldestActive = _active.Count == 0 ? long.MaxValue : _active.Keys.Min();
        var ready = _retired.Where(r => r.Epoch < oldestActive).ToList();
        _retired.RemoveAll(r => r.Epoch < oldestActive);
        return ready;
    }

    private void Delete(List<(long, IReadOnlyList<string> Files, Action Done)>? ready)
    {
        if (ready is null)
        {
            return;
        }

        foreach (var (_, files, done) in ready)
        {
            foreach (var file in files)
            {
                File.Delete(file);
            }

            lock (_lock)
            {
                _retiredFiles.ExceptWith(files);
            }

            done();
        }
    }
}
