using System.Globalization;
using System.Text;

namespace Arc.DashboardBench;

/// <summary>
/// Telegraf-like <c>cpu</c> points: tags <c>cpu=cpu-total</c>, <c>host=host-N</c>, <c>region</c>, <c>datacenter</c>; the ten
/// float fields of Telegraf's cpu plugin; one point per host every <see cref="IntervalSeconds"/> seconds at multiples of the
/// interval since the epoch. Every value is a function of (host, time) only, so any time range regenerates the same points
/// in any order, and line protocol is written with the shortest round-trip text of each double (both systems store the
/// same doubles).
/// </summary>
internal sealed class Telegraf(int hosts, int intervalSeconds)
{
    public static readonly string[] Fields =
        ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"];

    private static readonly string[] Regions = ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1", "sa-east-1"];

    public int Hosts { get; } = hosts;

    public int IntervalSeconds { get; } = intervalSeconds;

    /// <summary>The first tick at or after <paramref name="unixSeconds"/>.</summary>
    public long CeilTick(long unixSeconds) => (unixSeconds + IntervalSeconds - 1) / IntervalSeconds * IntervalSeconds;

    /// <summary>The last tick at or before <paramref name="unixSeconds"/>.</summary>
    public long FloorTick(long unixSeconds) => unixSeconds / IntervalSeconds * IntervalSeconds;

    /// <summary>Points (lines) with a time in [<paramref name="from"/>, <paramref name="to"/>) (unix seconds).</summary>
    public long Points(long from, long to) => Math.Max(0, (CeilTick(to) - CeilTick(from)) / IntervalSeconds) * Hosts;

    /// <summary>
    /// Line-protocol bodies (<c>precision=s</c>) of <paramref name="batch"/> lines for the ticks in [<paramref name="from"/>,
    /// <paramref name="to"/>), in time order, every host at each tick.
    /// </summary>
    public IEnumerable<byte[]> Bodies(long from, long to, int batch)
    {
        var text = new StringBuilder(batch * 300);
        var lines = 0;
        var values = new double[Fields.Length];
        for (var time = CeilTick(from); time < to; time += IntervalSeconds)
        {
            for (var host = 0; host < Hosts; host++)
            {
                Values(host, time, values);
                text.Append("cpu,cpu=cpu-total,datacenter=").Append(Regions[host % Regions.Length]).Append(host % 2 == 0 ? 'a' : 'b')
                    .Append(",host=host-").Append(host.ToString(CultureInfo.InvariantCulture))
                    .Append(",region=").Append(Regions[host % Regions.Length]).Append(' ');
                for (var f = 0; f < Fields.Length; f++)
                {
                    text.Append(f == 0 ? "" : ",").Append(Fields[f]).Append('=').Append(values[f].ToString("R", CultureInfo.InvariantCulture));
                }

                text.Append(' ').Append(time.ToString(CultureInfo.InvariantCulture)).Append('\n');
                if (++lines == batch)
                {
                    yield return Encoding.UTF8.GetBytes(text.ToString());
                    text.Clear();
                    lines = 0;
                }
            }
        }

        if (lines > 0)
        {
            yield return Encoding.UTF8.GetBytes(text.ToString());
        }
    }

    /// <summary>
    /// The ten fields of one point: a per-host base load with a daily cycle and noise, system time, occasional iowait,
    /// softirq and steal, idle the rest (four decimals, as the fields sum to 100).
    /// </summary>
    public static void Values(int host, long unixSeconds, Span<double> values)
    {
        var state = Mix(((ulong)(uint)host << 40) ^ (ulong)unixSeconds ^ 0x5DEECE66DUL);
        var baseLoad = 5 + (Mix((ulong)host * 0x9E3779B97F4A7C15UL) % 3000 / 100.0); // 5 .. 35 %
        var phase = Mix((ulong)host + 17) % 24;
        var hour = (((unixSeconds % 86400) / 3600.0) + phase) % 24;
        var user = Math.Clamp(baseLoad + (8 * Math.Sin(hour / 24 * 2 * Math.PI)) + (Unit(ref state) * 6) - 3, 0.5, 90);
        var system = 0.5 + (Unit(ref state) * 6);
        var iowait = Unit(ref state) < 0.25 ? Unit(ref state) * 2 : 0;
        var softirq = Unit(ref state) < 0.3 ? Unit(ref state) * 0.6 : 0;
        var steal = Unit(ref state) < 0.1 ? Unit(ref state) * 0.3 : 0;
        user = Math.Round(user, 4);
        system = Math.Round(system, 4);
        iowait = Math.Round(iowait, 4);
        softirq = Math.Round(softirq, 4);
        steal = Math.Round(steal, 4);
        values[0] = user;
        values[1] = system;
        values[2] = Math.Round(100 - user - system - iowait - softirq - steal, 4);
        values[3] = 0;
        values[4] = iowait;
        values[5] = 0;
        values[6] = softirq;
        values[7] = steal;
        values[8] = 0;
        values[9] = 0;
    }

    private static double Unit(ref ulong state)
    {
        state = Mix(state + 0x9E3779B97F4A7C15UL);
        return (state >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>SplitMix64's finalizer.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
