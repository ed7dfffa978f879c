namespace Arc.Engine.Compaction;

/// <summary>
/// Which compaction jobs are under way and what they hold, so no two jobs touch the same file. An hourly or daily job holds
/// its partition (its key is a prefix of the keys of every job inside it, <see cref="CompactionCandidate.Key"/>); a level
/// merge holds its own inputs, so merges of one hour run side by side on runs of their own while a long merge of large
/// files is under way. Prefixes being dropped (<see cref="Block"/>) take no job. Thread-safe.
/// </summary>
internal sealed class CompactionLocks
{
    private readonly Dictionary<string, CompactionJob> _running = new(StringComparer.Ordinal);
    private readonly HashSet<string> _files = new(StringComparer.Ordinal); // the inputs of the jobs in _running
    private readonly List<string> _blocked = []; // key prefixes being dropped: no job starts there

    public IReadOnlyList<CompactionJob> Jobs
    {
        get
        {
            lock (_running)
            {
                return _running.Values.ToList();
            }
        }
    }

    /// <summary>
    /// Takes <paramref name="candidate"/>'s key and files for <paramref name="job"/>, unless a job under way holds its key,
    /// a key inside it or one of its files, its key is blocked, or <paramref name="gone"/> says one of its files left (a
    /// job that finished since the candidate was listed retired them: merging them again would store their rows twice).
    /// </summary>
    public bool TryTake(CompactionCandidate candidate, CompactionJob job, Func<string, bool> gone)
    {
        var key = candidate.Key;
        lock (_running)
        {
            if (_running.Keys.Any(k => k.StartsWith(key, StringComparison.Ordinal) || key.StartsWith(k, StringComparison.Ordinal))
                || _blocked.Any(b => key.StartsWith(b, StringComparison.OrdinalIgnoreCase))
                || candidate.Files.Any(f => _files.Contains(f) || gone(f)))
            {
                return false;
            }

            _running[key] = job;
            _files.UnionWith(candidate.Files);
            return true;
        }
    }

    /// <summary>Lets go of what <see cref="TryTake"/> took for <paramref name="candidate"/>.</summary>
    public void Release(CompactionCandidate candidate)
    {
        lock (_running)
        {
            _running.Remove(candidate.Key);
            _files.ExceptWith(candidate.Files);
        }
    }

    /// <summary>Whether <paramref name="file"/> is an input of a job under way.</summary>
    public bool Holds(string file)
    {
        lock (_running)
        {
            return _files.Contains(file);
        }
    }

    /// <summary>Keeps jobs off the keys under <paramref name="prefix"/> (ignoring case) until <see cref="Unblock"/>.</summary>
    public void Block(string prefix)
    {
        lock (_running)
        {
            _blocked.Add(prefix);
        }
    }

    public void Unblock(string prefix)
    {
        lock (_running)
        {
            _blocked.Remove(prefix);
        }
    }

    /// <summary>Whether a job under way has a key under <paramref name="prefix"/> (ignoring case).</summary>
    public bool AnyUnder(string prefix)
    {
        lock (_running)
        {
            return _running.Keys.Any(k => k.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));
        }
    }
}
