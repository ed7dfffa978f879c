using System.Text;

namespace Arc.ClickBench;

/// <summary>
/// Deterministic generator of the ClickBench <c>hits</c> table at any row count, following
/// shared/clickbench/BENCHMARK-AND-GENERATOR.md §3: the literals the queries hard-code (kept absolute where the spec says
/// so), the shares and skews (scaled by rows / 99,997,497), sessions of consecutive hits, and the row order of the
/// public file: day blocks, each sorted by (CounterID, UserID, EventTime, WatchID).
/// </summary>
internal sealed partial class HitsGenerator
{
    public const long FullRows = 99_997_497;
    public const int Days = 30;
    public const int FirstDay = 15888; // 2013-07-02
    public const long SpecialUserId = 435_090_932_899_640_449;
    public const long SpecialUrlHash = 2_868_770_270_353_813_622;
    public const long SpecialRefererHash = 3_594_120_000_172_545_465;
    public const string Counter62MainPage = "http://irr.ru/index.php?showalbum/login-leniya7777294,938303130";
    public const string Counter62Catalog = "http://irr.ru/catalog/cars/passenger/used/search/?showall=1&sort=price";
    private const int Day0714 = 12; // 2013-07-14: counter 62 has no rows that day
    private const int Day0715 = 13;

    private static readonly double[] HourWeights = Random64.Cumulative(
        0.45, 0.3, 0.2, 0.15, 0.12, 0.15, 0.3, 0.6, 0.9, 1.2, 1.4, 1.5, 1.5, 1.5, 1.45, 1.4, 1.4, 1.35, 1.3, 1.35, 1.4, 1.3, 1.0, 0.7);

    private readonly ulong _seed;
    private readonly Counter[] _counters;
    private readonly long[][] _rowsPerDay; // [counter][day]
    private readonly Robot[] _robots;
    private readonly long _globalUsers;
    private long _serial;

    public HitsGenerator(long rows, ulong seed = 20130702)
    {
        Rows = rows;
        Scale = (double)rows / FullRows;
        _seed = seed;
        _counters = BuildCounters(rows, out _rowsPerDay, out _globalUsers);
        _robots = BuildRobots();
    }

    public long Rows { get; }

    public double Scale { get; }

    /// <summary>Generates every row in order, filling <paramref name="chunk"/> and calling <paramref name="flush"/> when it is full
    /// or a partition boundary (<paramref name="partitionRows"/>) is reached.</summary>
    public void Run(Chunk chunk, long partitionRows, Func<Chunk, Chunk> flush)
    {
        var writer = new RowWriter(chunk);
        var hits = new List<Hit>(1 << 16);
        long written = 0;
        for (var day = 0; day < Days; day++)
        {
            for (var c = 0; c < _counters.Length; c++)
            {
                var count = _rowsPerDay[c][day];
                if (count == 0)
                {
                    continue;
                }

                hits.Clear();
                GenerateGroup(day, c, count, hits);
                hits.Sort(static (a, b) => a.UserId != b.UserId ? a.UserId.CompareTo(b.UserId)
                    : a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.WatchId.CompareTo(b.WatchId));
                foreach (var hit in hits)
                {
                    writer.Write(this, day, _counters[c], hit);
                    written++;
                    if (chunk.Count == chunk.Capacity || written % partitionRows == 0)
                    {
                        chunk = flush(chunk);
                        chunk.Count = 0;
                        writer = new RowWriter(chunk);
                    }
                }
            }
        }

        if (chunk.Count > 0)
        {
            flush(chunk);
        }

        if (written != Rows)
        {
            throw new InvalidOperationException($"generated {written} rows, expected {Rows}");
        }
    }

    /// <summary>FNV-1a 64 of the UTF-8 bytes; the empty string is 0, and the two pages the queries name keep their hashes.</summary>
    public static long Hash(string text)
    {
        if (text.Length == 0)
        {
            return 0;
        }

        if (ReferenceEquals(text, Counter62MainPage) || text == Counter62MainPage)
        {
            return SpecialUrlHash;
        }

        if (ReferenceEquals(text, Counter62Catalog) || text == Counter62Catalog)
        {
            return SpecialRefererHash;
        }

        Span<byte> buffer = stackalloc byte[1024];
        var bytes = Encoding.UTF8.GetByteCount(text) <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(text, buffer)] : Encoding.UTF8.GetBytes(text);
        var h = 14695981039346656037UL;
        foreach (var b in bytes)
        {
            h = (h ^ b) * 1099511628211UL;
        }

        return (long)h;
    }

    private static long DayStart(int day) => ((FirstDay + day) * 86_400L) - (4 * 3600); // MSK midnight in UTC seconds

    private void GenerateGroup(int day, int counterIndex, long count, List<Hit> hits)
    {
        var counter = _counters[counterIndex];
        var random = new Random64(Random64.Mix(_seed ^ (ulong)day, (ulong)counter.Id));
        var remaining = count;

        // Heavy "robot" users: thousands of hits spread over the day, never searching.
        foreach (var robot in _robots)
        {
            if (robot.CounterId != counter.Id || remaining == 0)
            {
                continue;
            }

            var perDay = Split(robot.Hits, day);
            for (var i = 0; i < perDay && remaining > 0; i++, remaining--)
            {
                var page = counter.PickPage(ref random);
                hits.Add(NewHit(ref random, robot.UserId, robot.Index, DayStart(day) + random.Below(86_400), counter, page, "", 0, 0, -1,
                    counter.Url(page), robotHit: true));
            }
        }

        // The UserID Q20 looks up: exactly four rows, one session, in the largest counter on the sixth day.
        if (counter.Id == 3922 && day == 5 && remaining >= 4)
        {
            AddSession(ref random, day, counter, -1, SpecialUserId, 4, hits);
            remaining -= 4;
        }

        while (remaining > 0)
        {
            var length = (int)Math.Min(remaining, 1 + Math.Min(80, random.Geometric(0.2)));
            long userIndex;
            if (random.Chance(0.08))
            {
                userIndex = (long)(random.NextDouble() * _globalUsers); // users who visit several sites
            }
            else
            {
                var x = random.NextDouble();
                userIndex = counter.UserBase + (long)(counter.UserPool * Math.Pow(x, 1.6));
            }

            AddSession(ref random, day, counter, userIndex, UserIdOf(userIndex), length, hits);
            remaining -= length;
        }
    }

    private static int Split(long total, int day) => (int)((total * (day + 1) / Days) - (total * day / Days));

    private long UserIdOf(long userIndex) => 1 + (long)(Random64.Mix(_seed ^ 0x5EED, (ulong)userIndex) % 5_300_000_000_000_000_000UL);

    private void AddSession(ref Random64 random, int day, Counter counter, long userIndex, long userId, int length, List<Hit> hits)
    {
        var start = DayStart(day) + SecondOfDay(ref random, counter.Id == 62 && day == Day0715);
        var end = DayStart(day) + 86_399;
        var sessionSeed = random.Next();

        // Where the visit came from: search (SearchPhrase on its first hits), an ad, another site, or typed in.
        var source = random.NextDouble();
        string phrase = "";
        short engine = 0;
        short traffic;
        var phraseHits = 0;
        string referer;
        if ((source < 0.40 && counter.Id != 62) || source < 0.12)
        {
            phrase = Phrase(ref random);
            var e = random.NextDouble();
            engine = (short)(e < 0.72 ? 2 : e < 0.9 ? 3 : e < 0.95 ? 1 : 4 + random.Below(30));
            phraseHits = Math.Min(length, 1 + random.Geometric(0.6));
            traffic = 2;
            referer = SearchReferer(engine, phrase, ref random);
        }
        else if (source < 0.55)
        {
            traffic = (short)(random.Chance(0.7) ? 1 : 3);
            var host = Vocabulary.Hosts[(int)(Vocabulary.Hosts.Length * Math.Pow(random.NextDouble(), 3))];
            referer = "http://" + host + "/" + Vocabulary.PathWord(random.Next()) + "/" + Vocabulary.Word(random.Next()) + ".html";
        }
        else
        {
            traffic = 0;
            referer = "";
        }

        var time = Math.Min(start, end);
        var page = counter.PickPage(ref random);
        var url = counter.Url(page);
        for (var i = 0; i < length; i++)
        {
            var hitPhrase = i < phraseHits ? phrase : "";
            var hit = NewHit(ref random, userId, userIndex, time, counter, page, hitPhrase, hitPhrase.Length > 0 ? engine : (short)0,
                sessionSeed, i == 0 ? traffic : (short)-1, url, robotHit: false);
            hit.Referer = referer;
            hit.HistoryLength = (short)Math.Min(i + 1, 30);
            hit.IsNotBounce = (short)(length > 1 ? 1 : 0);
            if (i > 0 && random.Chance(0.02))
            {
                hit.IsRefresh = 1; // a refresh repeats the page, its referer and now and then its WatchID
                if (random.Chance(0.004))
                {
                    hit.WatchId = hits[^1].WatchId;
                }
            }
            else if (counter.Id == 62 && i > 0 && random.Chance(0.3))
            {
                // Internal navigation from the catalog page: TraficSourceID -1 or 6 and the RefererHash Q41 asks for.
                hit.Referer = Counter62Catalog;
                hit.TraficSourceId = (short)(random.Chance(0.75) ? -1 : 6);
                page = counter.PickInnerPage(ref random);
                hit.Url = counter.Url(page);
                hit.Page = page;
            }

            if (!robotLike(hit) && random.Chance(counter.Id == 62 ? 0.06 : 0.02))
            {
                hit.IsLink = 1; // an outbound link click: the URL is the link's target
                hit.Url = OutboundLink(ref random, counter.Id == 62);
            }
            else if (random.Chance(0.005))
            {
                hit.IsDownload = 1;
                hit.Url = "http://" + counter.Host + "/files/" + Vocabulary.Word(random.Next()) + (random.Chance(0.5) ? ".zip" : ".exe");
            }

            hits.Add(hit);

            // Next hit: the page just seen becomes the referer; time moves on.
            referer = hit.IsLink == 1 ? referer : hit.Url;
            time = Math.Min(end, time + 3 + (long)(-Math.Log(1 - random.NextDouble()) * 70));
            if (hit.IsRefresh == 0)
            {
                page = counter.PickPage(ref random);
                url = counter.Url(page);
            }
            else
            {
                url = hit.Url;
            }
        }

        static bool robotLike(in Hit hit) => hit.IsRefresh == 1;
    }

    private Hit NewHit(ref Random64 random, long userId, long userIndex, long time, Counter counter, int page, string phrase, short engine,
        ulong sessionSeed, short traffic, string url, bool robotHit)
    {
        var serial = _serial++;
        var watch = (long)((Random64.Mix(_seed ^ 0x3A7C4, (ulong)serial) & 0x3FFF_FFFF_FFFF_FFFFUL) | 0x4000_0000_0000_0000UL);
        short adv = 0;
        if (random.Chance(0.0063))
        {
            adv = AdvEngines[random.Pick(AdvEngineWeights)];
        }

        return new Hit
        {
            UserId = userId,
            UserIndex = userIndex,
            Time = time,
            WatchId = watch,
            Url = url,
            Page = page,
            Referer = "",
            Phrase = phrase,
            SearchEngineId = engine,
            AdvEngineId = adv,
            TraficSourceId = traffic,
            DontCountHits = (short)(random.Chance(0.03) ? 1 : 0),
            SessionSeed = sessionSeed,
            Robot = robotHit,
            Hid = (int)random.Next(),
        };
    }

    private static readonly short[] AdvEngines = [2, 27, 13, 45, 44, 3, 62, 52, 50, 28, 53, 25, 61, 21, 42, 16, 7, 22];

    private static readonly double[] AdvEngineWeights = Random64.Cumulative(
        404_602, 113_167, 45_631, 38_960, 9_730, 6_896, 5_266, 3_554, 938, 836, 350, 343, 158, 38, 20, 7, 3, 1);

    private static long SecondOfDay(ref Random64 random, bool flat)
    {
        // Counter 62's big day is busy around the clock (Q43 needs every minute of it); everything else follows a daily cycle.
        var hour = flat ? random.Below(24) : random.Pick(HourWeights);
        return (hour * 3600L) + random.Below(3600);
    }

    private string Phrase(ref Random64 random)
    {
        // A heavy head of popular queries plus a long tail in which most phrases occur once or twice.
        long index;
        if (random.Chance(0.25))
        {
            index = (long)(20_000 * Math.Pow(random.NextDouble(), 2.5));
        }
        else
        {
            index = 20_000 + (long)(random.NextDouble() * Math.Max(1000, 6_000_000 * Scale * 1.15));
        }

        return PhraseText(index);
    }

    private string PhraseText(long index)
    {
        var h = Random64.Mix(_seed ^ 0xF4A5E, (ulong)index);
        var words = 1 + (int)(h % 5);
        var text = new StringBuilder(64);
        if (h % 41 == 3)
        {
            text.Append(' '); // some real phrases begin with a space (Q26's smallest values)
        }

        for (var i = 0; i < words; i++)
        {
            if (i > 0)
            {
                text.Append(' ');
            }

            text.Append(Vocabulary.Word(Random64.Mix(h, (ulong)i)));
        }

        return text.ToString();
    }

    private static string SearchReferer(short engine, string phrase, ref Random64 random)
    {
        var query = Uri.EscapeDataString(phrase);
        return engine switch
        {
            2 => "http://go.mail.ru/search?q=" + query + "&where=any&num=10&rch=e&sf=" + random.Below(100),
            3 => "http://www.google.ru/url?sa=t&rct=j&q=" + query + "&source=web&cd=" + (1 + random.Below(9)),
            _ => "http://yandex.ru/yandsearch?text=" + query + "&lr=" + random.Below(300),
        };
    }

    private string OutboundLink(ref Random64 random, bool counter62)
    {
        // Counter 62's outbound links are many and Zipf-distributed (Q39 ranks 1001-1010 need at least 1,010 of them).
        var index = (int)((counter62 ? 6000 : 3000) * Math.Pow(random.NextDouble(), 2.2));
        var h = Random64.Mix(_seed ^ 0x11F4, (ulong)index + (counter62 ? 1_000_000UL : 0));
        return "http://" + Vocabulary.Hosts[(int)(h % (ulong)Vocabulary.Hosts.Length)] + "/" + Vocabulary.PathWord(h >> 7) + "/" + (h % 100_000)
            + ".html";
    }

    internal struct Hit
    {
        public long UserId;
        public long UserIndex;
        public long Time;
        public long WatchId;
        public string Url;
        public int Page;
        public string Referer;
        public string Phrase;
        public short SearchEngineId;
        public short AdvEngineId;
        public short TraficSourceId;
        public short IsRefresh;
        public short DontCountHits;
        public short IsLink;
        public short IsDownload;
        public short IsNotBounce;
        public short HistoryLength;
        public ulong SessionSeed;
        public bool Robot;
        public int Hid;
    }

    private sealed record Robot(long UserId, long Index, int CounterId, long Hits);

    private Robot[] BuildRobots()
    {
        // Q16's heaviest users (29,097 ... 4,906 hits at full scale), scaled, each in one big counter.
        long[] full = [29_097, 25_333, 10_597, 7_584, 6_678, 6_411, 6_197, 6_019, 5_211, 4_906];
        int[] counters = [3922, 199550, 3922, 122612, 233773, 3922, 245438, 199550, 3922, 122612];
        var robots = new Robot[full.Length];
        for (var i = 0; i < full.Length; i++)
        {
            var id = i == 0 ? 1_313_338_681_122_956_954L : UserIdOf(-(i + 10));
            robots[i] = new Robot(id, -(i + 10), counters[i], Math.Max(60, (long)(full[i] * Scale)));
        }

        return robots;
    }
}
