using System.Text;

namespace Arc.ClickBench;

internal sealed partial class HitsGenerator
{
    /// <summary>Named counters: (CounterID, share of all rows, mean URL length in bytes, site host). Q28 lists counters like these.</summary>
    private static readonly (int Id, double Share, int UrlLength, string Host)[] NamedCounters =
    [
        (3922, 0.0853, 88, "e96.ru"), (199550, 0.0712, 110, "bonprix.ru"), (122612, 0.0357, 239, "svpressa.ru"),
        (233773, 0.0294, 469, "saint-peters-total.ru"), (245438, 0.0251, 272, "loveche.ru"), (1143050, 0.0200, 140, "mysw.info"),
        (57, 0.0188, 121, "domics.ru"), (158751, 0.0160, 97, "avito-krasnodar.ru"), (46209, 0.0150, 180, "kinopoisk-hd.ru"),
        (96403, 0.0140, 152, "auto-bazar.ua"), (3035, 0.0132, 76, "mail-news.ru"), (5822, 0.0125, 205, "sapozhki-advertime.ru"),
        (35534, 0.0118, 117, "bdsmpeople.ru"), (63217, 0.0112, 160, "bjdswaps.net"), (64469, 0.0105, 131, "state-forum.ru"),
        (29316, 0.0100, 300, "realty-msk.ru"), (1150190, 0.0095, 95, "smeshariki.su"), (228210, 0.0090, 260, "rabota-spb.ru"),
        (219339, 0.0085, 102, "topgear-club.ru"), (92938, 0.0080, 188, "doska-obyavleniy.by"), (115931, 0.0075, 83, "kino-govno.com"),
        (17297, 0.0070, 145, "dom-mebel.ru"), (162497, 0.0066, 390, "gorod-spravka.ru"), (7771, 0.0062, 123, "fotki-kiev.ua"),
    ];

    private const int OtherCounters = 3000;

    private Counter[] BuildCounters(long rows, out long[][] rowsPerDay, out long globalUsers)
    {
        var list = new List<(int Id, double Rows, int UrlLength, string Host)>();
        var named = NamedCounters.Select(n => n.Id).ToHashSet();
        var counter62 = Math.Max(0.0074 * rows, Math.Min(0.1 * rows, 100_000));
        var namedRows = NamedCounters.Sum(n => n.Share) * rows;
        foreach (var n in NamedCounters)
        {
            list.Add((n.Id, n.Share * rows, n.UrlLength, n.Host));
        }

        list.Add((62, counter62, 93, "irr.ru"));
        var rest = Math.Max(0, rows - namedRows - counter62);
        var weights = Enumerable.Range(0, OtherCounters).Select(k => 1 / Math.Pow(k + 30, 1.05)).ToArray();
        var total = weights.Sum();
        var random = new Random64(_seed ^ 0xC0C0);
        var ids = new HashSet<int>(named) { 62 };
        for (var k = 0; k < OtherCounters; k++)
        {
            int id;
            do
            {
                id = 1 + random.Below(300_000);
            }
            while (!ids.Add(id));

            var host = Vocabulary.Hosts[k % Vocabulary.Hosts.Length];
            list.Add((id, rest * weights[k] / total, 60 + random.Below(200), host));
        }

        list.Sort((a, b) => a.Id.CompareTo(b.Id));

        // Exact integer rows per counter (cumulative rounding), then per day.
        var counters = new Counter[list.Count];
        rowsPerDay = new long[list.Count][];
        var dayWeights = new double[Days];
        for (var d = 0; d < Days; d++)
        {
            var weekday = (d + 2) % 7; // 2013-07-02 was a Tuesday: 0 = Sunday
            dayWeights[d] = (weekday is 0 or 6 ? 0.8 : 1.0) * (1 + (0.1 * Math.Sin(d / 4.0)));
        }

        double cumulative = 0;
        long assigned = 0;
        long userBase = 0;
        for (var i = 0; i < list.Count; i++)
        {
            cumulative += list[i].Rows;
            var counterRows = i == list.Count - 1 ? rows - assigned : (long)Math.Round(cumulative) - assigned;
            assigned += counterRows;
            var perDay = new double[Days];
            for (var d = 0; d < Days; d++)
            {
                perDay[d] = list[i].Id == 62 ? (d == Day0714 ? 0 : d == Day0715 ? 0.5 * (Days - 2) / 0.5 : 1) : dayWeights[d];
            }

            rowsPerDay[i] = Distribute(counterRows, perDay);
            var pool = Math.Max(10, (long)(counterRows / 5.67 * 1.3));
            var pages = Math.Max(60, (int)Math.Min(int.MaxValue / 2, counterRows / 7));
            counters[i] = new Counter(this, list[i].Id, list[i].Host, list[i].UrlLength, pages, userBase, pool, counterRows);
            userBase += pool;
        }

        globalUsers = userBase;
        return counters;
    }

    private static long[] Distribute(long total, double[] weights)
    {
        var sum = weights.Sum();
        var result = new long[weights.Length];
        double cumulative = 0;
        long assigned = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            cumulative += weights[i] * total / sum;
            result[i] = i == weights.Length - 1 ? total - assigned : (long)Math.Round(cumulative) - assigned;
            assigned += result[i];
        }

        return result;
    }

    /// <summary>A site: its host, pages (URL and Title are functions of the page number), user pool and page popularity.</summary>
    internal sealed class Counter
    {
        private readonly HitsGenerator _owner;
        private readonly string?[] _urls;
        private readonly string?[] _titles;
        private readonly ulong _salt;

        public Counter(HitsGenerator owner, int id, string host, int urlLength, int pages, long userBase, long userPool, long rows)
        {
            _owner = owner;
            Id = id;
            Host = host;
            UrlLength = urlLength;
            PageCount = pages;
            UserBase = userBase;
            UserPool = userPool;
            _salt = Random64.Mix(owner._seed ^ 0xA11CE, (ulong)id);
            HeadShare = id == 62 ? 0.30 : 0.06 + ((_salt % 20) / 100.0);
            Charset = (_salt % 3) switch { 0 => "windows-1251", 1 => "utf-8", _ => "windows" };
            CodeVersion = (int)(_salt % 5) switch { 0 => 1601, 1 => 1, 2 => 1000, 3 => 4, _ => 1560 };
            CounterClass = (short)(_salt % 3 == 0 ? 1 : 0);
            var cache = (int)Math.Min(pages, 8192);
            _urls = new string?[cache];
            _titles = new string?[cache];
            _ = rows;
        }

        public int Id { get; }

        public string Host { get; }

        public int UrlLength { get; }

        public int PageCount { get; }

        public long UserBase { get; }

        public long UserPool { get; }

        public double HeadShare { get; }

        public string Charset { get; }

        public int CodeVersion { get; }

        public short CounterClass { get; }

        public int PickPage(ref Random64 random) =>
            random.Chance(HeadShare) ? 0 : 1 + (int)((PageCount - 1) * Math.Pow(random.NextDouble(), 3));

        public int PickInnerPage(ref Random64 random) => 1 + (int)(Math.Min(PageCount - 1, 400) * Math.Pow(random.NextDouble(), 1.5));

        public string Url(int page)
        {
            if (page < _urls.Length)
            {
                return _urls[page] ??= BuildUrl(page);
            }

            return BuildUrl(page);
        }

        public string Title(int page)
        {
            if (page < _titles.Length)
            {
                return _titles[page] ??= BuildTitle(page);
            }

            return BuildTitle(page);
        }

        private string BuildUrl(int page)
        {
            if (Id == 62 && page == 0)
            {
                return Counter62MainPage;
            }

            var h = Random64.Mix(_salt, (ulong)page);
            var text = new StringBuilder(UrlLength * 2);
            text.Append("http://").Append(Host).Append('/');
            if (page == 0)
            {
                return text.ToString();
            }

            // Lengths vary around the counter's mean (uniform 0.3x .. 1.7x).
            var target = (int)(UrlLength * (0.3 + (1.4 * ((h >> 20) % 1000) / 1000.0)));
            var google = h % 2600 == 17 && page > 0; // ~0.016 % of rows: "google" somewhere in the URL
            var i = 0;
            while (text.Length < target - 24 || i == 0)
            {
                var w = Random64.Mix(h, (ulong)i++);
                if (google && i == 1)
                {
                    text.Append((w % 3) switch { 0 => "page.googleTBR%26ad/", 1 => "url.google.ru/index/", _ => "bjdswaps.google-photo/" });
                }
                else
                {
                    text.Append(Vocabulary.PathWord(w)).Append('/');
                }
            }

            // A query string makes up the rest: ids and words.
            var q = Random64.Mix(h, 0xABC);
            text.Append("?id=").Append(q % 10_000_000);
            for (var k = 1; text.Length < target; k++)
            {
                var w = Random64.Mix(q, (ulong)k);
                text.Append(k % 2 == 0 ? "&p=" : "&q=").Append(k % 2 == 0 ? (w % 100_000).ToString(System.Globalization.CultureInfo.InvariantCulture) : Vocabulary.Word(w));
            }

            return text.ToString();
        }

        private string BuildTitle(int page)
        {
            var h = Random64.Mix(_salt ^ 0x717, (ulong)page);
            if (h % 50 == 0)
            {
                return "";
            }

            var text = new StringBuilder(128);
            var words = 3 + (int)(h % 9);
            for (var i = 0; i < words; i++)
            {
                if (i > 0)
                {
                    text.Append(' ');
                }

                text.Append(Vocabulary.Word(Random64.Mix(h, (ulong)i)));
            }

            if (h % 600 == 7)
            {
                text.Append(" - Google Chrome");
            }

            text.Append(" - ").Append(Host);
            _ = _owner;
            return text.ToString();
        }
    }
}
