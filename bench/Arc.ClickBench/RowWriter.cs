namespace Arc.ClickBench;

/// <summary>Writes one generated hit into a <see cref="Chunk"/>: the hit's own values plus the user's (a pure function of the user).</summary>
internal sealed class RowWriter(Chunk chunk)
{
    private static readonly int WatchID = Schema.Index("WatchID"), JavaEnable = Schema.Index("JavaEnable"), Title = Schema.Index("Title"),
        GoodEvent = Schema.Index("GoodEvent"), EventTime = Schema.Index("EventTime"), EventDate = Schema.Index("EventDate"),
        CounterID = Schema.Index("CounterID"), ClientIP = Schema.Index("ClientIP"), RegionID = Schema.Index("RegionID"),
        UserID = Schema.Index("UserID"), CounterClass = Schema.Index("CounterClass"), OS = Schema.Index("OS"),
        UserAgent = Schema.Index("UserAgent"), URL = Schema.Index("URL"), Referer = Schema.Index("Referer"),
        IsRefresh = Schema.Index("IsRefresh"), RefererCategoryID = Schema.Index("RefererCategoryID"),
        RefererRegionID = Schema.Index("RefererRegionID"), URLCategoryID = Schema.Index("URLCategoryID"),
        URLRegionID = Schema.Index("URLRegionID"), ResolutionWidth = Schema.Index("ResolutionWidth"),
        ResolutionHeight = Schema.Index("ResolutionHeight"), ResolutionDepth = Schema.Index("ResolutionDepth"),
        FlashMajor = Schema.Index("FlashMajor"), FlashMinor = Schema.Index("FlashMinor"), FlashMinor2 = Schema.Index("FlashMinor2"),
        NetMajor = Schema.Index("NetMajor"), NetMinor = Schema.Index("NetMinor"), UserAgentMajor = Schema.Index("UserAgentMajor"),
        UserAgentMinor = Schema.Index("UserAgentMinor"), CookieEnable = Schema.Index("CookieEnable"),
        JavascriptEnable = Schema.Index("JavascriptEnable"), IsMobile = Schema.Index("IsMobile"), MobilePhone = Schema.Index("MobilePhone"),
        MobilePhoneModel = Schema.Index("MobilePhoneModel"), Params = Schema.Index("Params"), IPNetworkID = Schema.Index("IPNetworkID"),
        TraficSourceID = Schema.Index("TraficSourceID"), SearchEngineID = Schema.Index("SearchEngineID"),
        SearchPhrase = Schema.Index("SearchPhrase"), AdvEngineID = Schema.Index("AdvEngineID"), IsArtifical = Schema.Index("IsArtifical"),
        WindowClientWidth = Schema.Index("WindowClientWidth"), WindowClientHeight = Schema.Index("WindowClientHeight"),
        ClientTimeZone = Schema.Index("ClientTimeZone"), ClientEventTime = Schema.Index("ClientEventTime"),
        SilverlightVersion1 = Schema.Index("SilverlightVersion1"), SilverlightVersion2 = Schema.Index("SilverlightVersion2"),
        SilverlightVersion3 = Schema.Index("SilverlightVersion3"), SilverlightVersion4 = Schema.Index("SilverlightVersion4"),
        PageCharset = Schema.Index("PageCharset"), CodeVersion = Schema.Index("CodeVersion"), IsLink = Schema.Index("IsLink"),
        IsDownload = Schema.Index("IsDownload"), IsNotBounce = Schema.Index("IsNotBounce"), FUniqID = Schema.Index("FUniqID"),
        OriginalURL = Schema.Index("OriginalURL"), HID = Schema.Index("HID"), IsOldCounter = Schema.Index("IsOldCounter"),
        IsEvent = Schema.Index("IsEvent"), IsParameter = Schema.Index("IsParameter"), DontCountHits = Schema.Index("DontCountHits"),
        WithHash = Schema.Index("WithHash"), HitColor = Schema.Index("HitColor"), LocalEventTime = Schema.Index("LocalEventTime"),
        Age = Schema.Index("Age"), Sex = Schema.Index("Sex"), Income = Schema.Index("Income"), Interests = Schema.Index("Interests"),
        Robotness = Schema.Index("Robotness"), RemoteIP = Schema.Index("RemoteIP"), WindowName = Schema.Index("WindowName"),
        OpenerName = Schema.Index("OpenerName"), HistoryLength = Schema.Index("HistoryLength"),
        BrowserLanguage = Schema.Index("BrowserLanguage"), BrowserCountry = Schema.Index("BrowserCountry"),
        SocialNetwork = Schema.Index("SocialNetwork"), SocialAction = Schema.Index("SocialAction"), HTTPError = Schema.Index("HTTPError"),
        SendTiming = Schema.Index("SendTiming"), DNSTiming = Schema.Index("DNSTiming"), ConnectTiming = Schema.Index("ConnectTiming"),
        ResponseStartTiming = Schema.Index("ResponseStartTiming"), ResponseEndTiming = Schema.Index("ResponseEndTiming"),
        FetchTiming = Schema.Index("FetchTiming"), SocialSourceNetworkID = Schema.Index("SocialSourceNetworkID"),
        SocialSourcePage = Schema.Index("SocialSourcePage"), ParamPrice = Schema.Index("ParamPrice"),
        ParamOrderID = Schema.Index("ParamOrderID"), ParamCurrency = Schema.Index("ParamCurrency"),
        ParamCurrencyID = Schema.Index("ParamCurrencyID"), OpenstatServiceName = Schema.Index("OpenstatServiceName"),
        OpenstatCampaignID = Schema.Index("OpenstatCampaignID"), OpenstatAdID = Schema.Index("OpenstatAdID"),
        OpenstatSourceID = Schema.Index("OpenstatSourceID"), UTMSource = Schema.Index("UTMSource"), UTMMedium = Schema.Index("UTMMedium"),
        UTMCampaign = Schema.Index("UTMCampaign"), UTMContent = Schema.Index("UTMContent"), UTMTerm = Schema.Index("UTMTerm"),
        FromTag = Schema.Index("FromTag"), HasGCLID = Schema.Index("HasGCLID"), RefererHash = Schema.Index("RefererHash"),
        URLHash = Schema.Index("URLHash"), CLID = Schema.Index("CLID");

    // RegionID: the ten biggest regions of Q10 with their shares of rows, then a Zipf tail over 2,500 more.
    private static readonly int[] TopRegions = [229, 2, 208, 169, 32, 34, 184, 42, 107, 51];
    private static readonly double[] RegionWeights = Random64.Cumulative(
        [.183, .0669, .0426, .0332, .0184, .0179, .0176, .0154, .0152, .0144, .575]);

    // Screens: mean width ~1513 as in Q3.
    private static readonly (short W, short H)[] Screens =
    [
        (1366, 768), (1920, 1080), (1280, 1024), (1600, 900), (1024, 768), (1440, 900), (1680, 1050), (1280, 800), (2560, 1440),
        (1920, 1200), (1360, 768), (1536, 864), (1280, 720), (0, 0), (800, 600), (2048, 1152),
    ];

    private static readonly double[] ScreenWeights = Random64.Cumulative(
        .20, .19, .10, .07, .07, .07, .06, .06, .03, .05, .03, .02, .02, .015, .005, .01);

    private static readonly string[] Models =
        ["iPad", "iPhone", "A500", "N8-00", "iPho", "ONE TOUCH 6030A", "GT-P7300B", "3110000", "GT-I9500", "eagle75"];

    private static readonly double[] ModelWeights = Random64.Cumulative(.80, .034, .012, .0041, .0024, .002, .0014, .0014, .0012, .0011, .14);

    private static readonly short[] IpadPhones = [1, 5, 6, 7, 10, 32, 13, 2, 3, 4];
    private static readonly double[] IpadPhoneWeights = Random64.Cumulative(.87, .045, .027, .026, .011, .009, .009, .001, .001, .001);

    private static readonly string[] FlashMinor2Values = ["", "700", "700.224", "10.1.102", "0", "11.7.700", "5"];
    private static readonly string[] Languages = ["ru", "S0", "E3", "en", "uk", "tr", "de", "be", "kk", "pl"];
    private static readonly string[] Countries = ["ru", "_i", "ua", "by", "kz", "de", "us", "tr", "Sb", "@!"];
    private static readonly string[] UaMinors = ["D0", "0", "5", "1", "P_", "Hp", "2", "o1", "Gz", "F("];
    private static readonly string[] HitColors = ["5", "6", "D", "E", "F"];

    private readonly Chunk _chunk = chunk;

    public void Write(HitsGenerator generator, int day, HitsGenerator.Counter counter, HitsGenerator.Hit hit)
    {
        var r = _chunk.Count++;
        var ints = _chunk.Ints;
        var texts = _chunk.Texts;
        var u = Random64.Mix(0x05E5, (ulong)hit.UserIndex); // the user's attributes
        var s = Random64.Mix(hit.SessionSeed, 0x5E55); // the session's
        var h = Random64.Mix((ulong)hit.WatchId, 0x417); // the hit's

        ints[WatchID][r] = hit.WatchId;
        ints[JavaEnable][r] = (long)(u % 10 == 0 ? 0UL : 1UL);
        texts[Title][r] = hit.IsLink == 1 || hit.IsDownload == 1 ? counter.Title(0) : counter.Title(hit.Page);
        ints[GoodEvent][r] = 1;
        ints[EventTime][r] = hit.Time;
        ints[EventDate][r] = HitsGenerator.FirstDay + day;
        ints[CounterID][r] = counter.Id;

        var robot = hit.UserIndex < 0;
        var region = robot ? 229 : Region(u);
        var ip = robot ? (int)(uint)Random64.Mix(0x1F, (ulong)hit.UserIndex) : ClientIp(u);
        ints[ClientIP][r] = ip;
        ints[RegionID][r] = region;
        ints[UserID][r] = hit.UserId;
        ints[CounterClass][r] = counter.CounterClass;
        ints[OS][r] = (long)((u >> 8) % 60);
        ints[UserAgent][r] = (long)((u >> 14) % 20);
        texts[URL][r] = hit.Url;
        texts[Referer][r] = hit.Referer;
        ints[IsRefresh][r] = hit.IsRefresh;
        ints[RefererCategoryID][r] = hit.Referer.Length == 0 ? 0 : (long)(Random64.Mix(s, 1) % 16_000);
        ints[RefererRegionID][r] = hit.Referer.Length == 0 ? 0 : (long)(Random64.Mix(s, 2) % 1000);
        ints[URLCategoryID][r] = (long)(Random64.Mix((ulong)counter.Id, (ulong)hit.Page) % 16_000);
        ints[URLRegionID][r] = (long)(Random64.Mix((ulong)counter.Id ^ 7, (ulong)hit.Page) % 1000);

        var screen = robot ? (0, 0) : Screens[Pick(Random64.Mix(u, 3), ScreenWeights)];
        ints[ResolutionWidth][r] = screen.Item1;
        ints[ResolutionHeight][r] = screen.Item2;
        ints[ResolutionDepth][r] = (u >> 20) % 4 == 0 ? 32 : 24;
        ints[FlashMajor][r] = (long)((u >> 22) % 3 == 0 ? 0 : 11);
        ints[FlashMinor][r] = (long)((u >> 24) % 10);
        texts[FlashMinor2][r] = FlashMinor2Values[(int)((u >> 26) % (ulong)FlashMinor2Values.Length)];
        ints[NetMajor][r] = (long)((u >> 28) % 4);
        ints[NetMinor][r] = (long)((u >> 30) % 8);
        ints[UserAgentMajor][r] = (long)((u >> 32) % 30);
        texts[UserAgentMinor][r] = UaMinors[(int)((u >> 34) % (ulong)UaMinors.Length)];
        ints[CookieEnable][r] = (u >> 36) % 50 == 0 ? 0 : 1;
        ints[JavascriptEnable][r] = (u >> 38) % 40 == 0 ? 0 : 1;

        var mobile = !robot && (u >> 40) % 100 < 7;
        string model = "";
        short phone = 0;
        if (mobile)
        {
            var m = Pick(Random64.Mix(u, 5), ModelWeights);
            var p = Random64.Mix(u, 6);
            if (m < Models.Length)
            {
                model = Models[m];
                phone = m switch
                {
                    0 => IpadPhones[Pick(p, IpadPhoneWeights)],
                    1 => (short)(p % 10 < 3 ? 6 : p % 10 < 6 ? 26 : 8 + (int)(p % 40)),
                    2 => 118,
                    _ => (short)(1 + (int)(p % 150)),
                };
            }
            else
            {
                model = "M" + (p % 200).ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Vocabulary.Words[(int)(p % 97)];
                phone = (short)(1 + (int)(p % 150));
            }
        }

        ints[IsMobile][r] = mobile ? 1 : 0;
        ints[MobilePhone][r] = phone;
        texts[MobilePhoneModel][r] = model;
        texts[Params][r] = h % 200 == 0 ? "{\"p\":" + (h % 1000) + "}" : "";
        ints[IPNetworkID][r] = (long)((u >> 42) % 100_000);
        ints[TraficSourceID][r] = hit.TraficSourceId;
        ints[SearchEngineID][r] = hit.SearchEngineId;
        texts[SearchPhrase][r] = hit.Phrase;
        ints[AdvEngineID][r] = hit.AdvEngineId;
        ints[IsArtifical][r] = 0;

        // Window sizes change from session to session (Q42 needs thousands of pairs for one page).
        var width = screen.Item1 == 0 ? (long)(400 + (s % 1600)) : Math.Max(200, screen.Item1 - (long)(s % 400));
        var height = screen.Item2 == 0 ? (long)(300 + ((s >> 12) % 900)) : Math.Max(150, screen.Item2 - 60 - (long)((s >> 12) % 500));
        ints[WindowClientWidth][r] = width;
        ints[WindowClientHeight][r] = height;
        ints[ClientTimeZone][r] = (u >> 44) % 10 == 0 ? 120 : 135;
        ints[ClientEventTime][r] = hit.Time + (long)((u >> 46) % 600) - 300;
        ints[SilverlightVersion1][r] = (long)((u >> 48) % 6);
        ints[SilverlightVersion2][r] = (long)((u >> 50) % 2);
        ints[SilverlightVersion3][r] = (u >> 51) % 3 == 0 ? 0 : 16561;
        ints[SilverlightVersion4][r] = 0;
        texts[PageCharset][r] = counter.Charset;
        ints[CodeVersion][r] = counter.CodeVersion;
        ints[IsLink][r] = hit.IsLink;
        ints[IsDownload][r] = hit.IsDownload;
        ints[IsNotBounce][r] = hit.IsNotBounce;
        ints[FUniqID][r] = (u >> 52) % 3 == 0 ? 0 : (long)(Random64.Mix(u, 9) >> 1);
        texts[OriginalURL][r] = h % 100 == 0 ? hit.Url : "";
        ints[HID][r] = hit.Hid;
        ints[IsOldCounter][r] = 0;
        ints[IsEvent][r] = h % 100 == 1 ? 1 : 0;
        ints[IsParameter][r] = h % 500 == 2 ? 1 : 0;
        ints[DontCountHits][r] = hit.DontCountHits;
        ints[WithHash][r] = h % 100 == 3 ? 1 : 0;
        texts[HitColor][r] = HitColors[(int)((h >> 8) % (ulong)HitColors.Length)];
        ints[LocalEventTime][r] = hit.Time + 14_400 + (long)((u >> 54) % 100);
        ints[Age][r] = (u >> 56) % 3 == 0 ? 0 : (long)(18 + ((u >> 20) % 40));
        ints[Sex][r] = (long)((u >> 58) % 3);
        ints[Income][r] = (long)((u >> 60) % 4);
        ints[Interests][r] = (u >> 61) % 2 == 0 ? 0 : (long)(Random64.Mix(u, 11) % 16_383);
        ints[Robotness][r] = robot ? 31 : 0;
        ints[RemoteIP][r] = h % 20 == 0 ? (int)(uint)Random64.Mix(h, 12) : ip;
        ints[WindowName][r] = s % 3 == 0 ? -1 : (long)(s % 65_000);
        ints[OpenerName][r] = s % 10 == 0 ? (long)(s % 65_000) : -1;
        ints[HistoryLength][r] = hit.HistoryLength;
        texts[BrowserLanguage][r] = Languages[(int)(Random64.Mix(u, 13) % 7 == 0 ? (Random64.Mix(u, 14) % 10) : (Random64.Mix(u, 14) % 3))];
        texts[BrowserCountry][r] = Countries[(int)(Random64.Mix(u, 15) % 5 == 0 ? (Random64.Mix(u, 16) % 10) : (Random64.Mix(u, 16) % 2))];
        var social = h % 300 == 0;
        texts[SocialNetwork][r] = social ? "vkontakte" : "";
        texts[SocialAction][r] = social ? "like" : "";
        ints[HTTPError][r] = h % 1000 == 0 ? 404 : 0;
        var timed = h % 10 < 3;
        ints[SendTiming][r] = timed ? (long)(h % 300) : 0;
        ints[DNSTiming][r] = timed ? (long)((h >> 9) % 200) : 0;
        ints[ConnectTiming][r] = timed ? (long)((h >> 17) % 400) : 0;
        ints[ResponseStartTiming][r] = timed ? (long)((h >> 25) % 1500) : 0;
        ints[ResponseEndTiming][r] = timed ? (long)((h >> 33) % 3000) : 0;
        ints[FetchTiming][r] = timed ? (long)((h >> 41) % 800) : 0;
        ints[SocialSourceNetworkID][r] = social ? 1 : 0;
        texts[SocialSourcePage][r] = social ? "http://vk.com/feed" : "";
        var order = h % 2000 == 5;
        ints[ParamPrice][r] = order ? (long)(h % 100_000) : 0;
        texts[ParamOrderID][r] = order ? (h % 1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture) : "";
        texts[ParamCurrency][r] = "NHK";
        ints[ParamCurrencyID][r] = order ? 643 : 0;
        var openstat = s % 150 == 0;
        texts[OpenstatServiceName][r] = openstat ? "direct.yandex.ru" : "";
        texts[OpenstatCampaignID][r] = openstat ? (s % 9999).ToString(System.Globalization.CultureInfo.InvariantCulture) : "";
        texts[OpenstatAdID][r] = openstat ? (s % 99_999).ToString(System.Globalization.CultureInfo.InvariantCulture) : "";
        texts[OpenstatSourceID][r] = "";
        var utm = s % 40 == 0;
        texts[UTMSource][r] = utm ? "yandex" : "";
        texts[UTMMedium][r] = utm ? "cpc" : "";
        texts[UTMCampaign][r] = utm ? "campaign" + (s % 50) : "";
        texts[UTMContent][r] = "";
        texts[UTMTerm][r] = utm ? hit.Phrase : "";
        texts[FromTag][r] = "";
        ints[HasGCLID][r] = 0;
        ints[RefererHash][r] = HitsGenerator.Hash(hit.Referer);
        ints[URLHash][r] = HitsGenerator.Hash(hit.Url);
        ints[CLID][r] = 0;
        _ = generator;
    }

    private static int Region(ulong u)
    {
        var i = Pick(Random64.Mix(u, 1), RegionWeights);
        if (i < TopRegions.Length)
        {
            return TopRegions[i];
        }

        var x = (Random64.Mix(u, 2) >> 11) * (1.0 / (1UL << 53));
        return 1000 + (int)(2500 * x * x * x);
    }

    private static int ClientIp(ulong u)
    {
        // Most users have their own address; some sit behind shared (NAT) addresses, a few of which are very busy.
        if ((u >> 3) % 100 < 12)
        {
            var x = (Random64.Mix(u, 4) >> 11) * (1.0 / (1UL << 53));
            return (int)(uint)Random64.Mix(0xFA7, (ulong)(20_000 * x * x * x));
        }

        return (int)(uint)Random64.Mix(u, 17);
    }

    private static int Pick(ulong h, double[] cumulative)
    {
        var x = (h >> 11) * (1.0 / (1UL << 53)) * cumulative[^1];
        var index = Array.BinarySearch(cumulative, x);
        return index >= 0 ? Math.Min(index + 1, cumulative.Length - 1) : ~index;
    }
}
