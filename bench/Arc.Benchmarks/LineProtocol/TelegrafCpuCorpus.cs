using System.Globalization;
using System.Text;

namespace Arc.Benchmarks.LineProtocol;

/// <summary>
/// A realistic Telegraf <c>inputs.cpu</c> body: measurement <c>cpu</c>, tags cpu/host/region, the ten usage_* float
/// fields printed as Telegraf prints them (shortest round-trip, so mostly 15-17 significant digits, zeros for the
/// usually idle counters) and a nanosecond timestamp. Deterministic, so every process builds the same bytes.
/// </summary>
public static class TelegrafCpuCorpus
{
    public const int LineCount = 10_000;

    private static readonly string[] Regions = ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1"];

    public static byte[] Body { get; } = Build(LineCount);

    public static double BytesPerLine => (double)Body.Length / LineCount;

    private static byte[] Build(int lines)
    {
        var random = new Random(20240601);
        var sb = new StringBuilder(lines * 300);
        var timestamp = 1_717_200_000_000_000_000L;
        for (var i = 0; i < lines; i++)
        {
            var cpu = i % 8;
            var host = i / 8 % 64;
            if (cpu == 0)
            {
                timestamp += 10_000_000_000L; // one 10 s interval per 8 cpus
            }

            var user = Percent(random, 2, 35);
            var system = Percent(random, 0.5, 8);
            var iowait = random.Next(4) == 0 ? Percent(random, 0, 2) : 0;
            var softirq = random.Next(3) == 0 ? Percent(random, 0, 0.6) : 0;
            var steal = random.Next(10) == 0 ? Percent(random, 0, 0.3) : 0;
            var idle = 100 - user - system - iowait - softirq - steal;
            sb.Append("cpu,cpu=cpu").Append(cpu)
              .Append(",host=host-").Append(host)
              .Append(",region=").Append(Regions[host % Regions.Length])
              .Append(" usage_user=").Append(F(user))
              .Append(",usage_system=").Append(F(system))
              .Append(",usage_idle=").Append(F(idle))
              .Append(",usage_nice=0")
              .Append(",usage_iowait=").Append(F(iowait))
              .Append(",usage_irq=0")
              .Append(",usage_softirq=").Append(F(softirq))
              .Append(",usage_steal=").Append(F(steal))
              .Append(",usage_guest=0")
              .Append(",usage_guest_nice=0 ")
              .Append(timestamp).Append('\n');
        }

        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>Telegraf's cpu plugin yields ratios of jiffy counters, e.g. 12.562814070351759.</summary>
    private static double Percent(Random random, double min, double max)
    {
        var total = random.Next(995, 1005);
        var part = (int)Math.Round(total * (min + (random.NextDouble() * (max - min))) / 100);
        return 100.0 * part / total;
    }

    private static string F(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
