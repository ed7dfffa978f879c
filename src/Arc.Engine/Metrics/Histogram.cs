namespace Arc.Engine.Metrics;

/// <summary>
/// A cumulative histogram with fixed upper bounds (seconds, bytes, ...), as Prometheus exposes it. Lock-free: each
/// observation increments one bucket and adds to the sum. Reads are not atomic across buckets (a scrape may see an
/// observation in the count and not yet in the sum); Prometheus tolerates that.
/// </summary>
public sealed class Histogram
{
    /// <summary>Bounds for latencies in seconds: 1 ms to 60 s.</summary>
    public static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly double[] _bounds;
    private readonly long[] _counts;
    private long _sumBits;

    public Histogram(double[] bounds)
    {
        for (var i = 1; i < bounds.Length; i++)
        {
            if (!(bounds[i] > bounds[i - 1]))
            {
                throw new ArgumentException("bucket bounds must increase", nameof(bounds));
            }
        }

        _bounds = bounds;
        _counts = new long[bounds.Length + 1];
    }

    /// <summary>The finite upper bounds; the last bucket (+Inf) is implicit.</summary>
    public ReadOnlySpan<double> Bounds => _bounds;

    public void Observe(double value)
    {
        var bucket = _bounds.Length;
        for (var i = 0; i < _bounds.Length; i++)
        {
            if (value <= _bounds[i])
            {
                bucket = i;
                break;
            }
        }

        Interlocked.Increment(ref _counts[bucket]);
        var current = Interlocked.Read(ref _sumBits);
        while (true)
        {
            var updated = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(current) + value);
            var seen = Interlocked.CompareExchange(ref _sumBits, updated, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    public void Observe(TimeSpan elapsed) => Observe(elapsed.TotalSeconds);

    public double Sum => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits));

    /// <summary>Observations in bucket <paramref name="index"/> alone (not cumulative); index <c>Bounds.Length</c> is +Inf.</summary>
    public long BucketCount(int index) => Interlocked.Read(ref _counts[index]);

    public long Count
    {
        get
        {
            long total = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                total += Interlocked.Read(ref _counts[i]);
            }

            return total;
        }
    }
}

/// <summary>Summary statistics of the samples of a <see cref="RollingWindow"/>.</summary>
public readonly record struct WindowStats(long Count, double Mean, double P50, double P95, double P99, double Max);

/// <summary>
/// The most recent samples (at most <c>capacity</c>, none older than the window), for figures such as "execution time
/// over the last minute": mean, percentiles and maximum are computed when read.
/// </summary>
public sealed class RollingWindow(TimeSpan window, int capacity = 4096)
{
    private readonly (long Ticks, double Value)[] _samples = new (long, double)[capacity];
    private readonly Lock _lock = new();
    private int _next;
    private int _count;

    public TimeSpan Window => window;

    public void Add(double value)
    {
        var now = Environment.TickCount64;
        lock (_lock)
        {
            _samples[_next] = (now, value);
            _next = (_next + 1) % _samples.Length;
            _count = Math.Min(_count + 1, _samples.Length);
        }
    }

    public WindowStats Snapshot()
    {
        var oldest = Environment.TickCount64 - (long)window.TotalMilliseconds;
        double[] values;
        lock (_lock)
        {
            values = new double[_count];
            var n = 0;
            for (var i = 0; i < _count; i++)
            {
                var (ticks, value) = _samples[(_next - 1 - i + _samples.Length) % _samples.Length];
                if (ticks < oldest)
                {
                    break;
                }

                values[n++] = value;
            }

            Array.Resize(ref values, n);
        }

        if (values.Length == 0)
        {
            return default;
        }

        Array.Sort(values);
        double sum = 0;
        foreach (var value in values)
        {
            sum += value;
        }

        return new WindowStats(values.Length, sum / values.Length, Percentile(values, 0.50), Percentile(values, 0.95),
            Percentile(values, 0.99), values[^1]);
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
