namespace Arc.ClickBench;

/// <summary>
/// SplitMix64: a small, fast, deterministic generator. Every stream is seeded from the data set seed and the place it is
/// used for (day, counter), so the same row count always yields the same bytes, whatever order things are computed in.
/// </summary>
internal struct Random64(ulong seed)
{
    private ulong _state = seed;

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public static ulong Mix(ulong a, ulong b) => Mix(a * 0x9E3779B97F4A7C15UL ^ Mix(b + 0x632BE59BD9B4E019UL));

    public ulong Next() => Mix(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, n).</summary>
    public int Below(int n) => (int)((Next() >> 33) * (ulong)n >> 31);

    public long Below(long n) => (long)(NextDouble() * n);

    public bool Chance(double p) => NextDouble() < p;

    /// <summary>Geometric number of failures before a success with probability <paramref name="p"/> (mean (1-p)/p).</summary>
    public int Geometric(double p) => (int)Math.Floor(Math.Log(1 - NextDouble()) / Math.Log(1 - p));

    /// <summary>Index into cumulative weights.</summary>
    public int Pick(double[] cumulative)
    {
        var x = NextDouble() * cumulative[^1];
        var index = Array.BinarySearch(cumulative, x);
        return index >= 0 ? Math.Min(index + 1, cumulative.Length - 1) : ~index;
    }

    public static double[] Cumulative(params double[] weights)
    {
        var result = new double[weights.Length];
        var sum = 0.0;
        for (var i = 0; i < weights.Length; i++)
        {
            sum += weights[i];
            result[i] = sum;
        }

        return result;
    }
}
