namespace Arc.ClickBench;

/// <summary>The SQL type of a hits column as published (ClickBench duckdb/create.sql and the hits.parquet physical schema).</summary>
internal enum ColumnType
{
    /// <summary>SMALLINT: Parquet INT32 annotated Int(16, signed).</summary>
    Int16,

    /// <summary>INTEGER: Parquet INT32.</summary>
    Int32,

    /// <summary>BIGINT: Parquet INT64.</summary>
    Int64,

    /// <summary>TEXT (and CHAR): Parquet BYTE_ARRAY with the String annotation.</summary>
    Text,

    /// <summary>EventDate: Parquet INT32 annotated Int(16, unsigned), days since 1970-01-01.</summary>
    Date,

    /// <summary>EventTime, ClientEventTime, LocalEventTime: Parquet INT64 without annotation, Unix seconds.</summary>
    Seconds,
}

internal readonly record struct Column(string Name, ColumnType Type);

/// <summary>The 105 columns of the ClickBench <c>hits</c> table in their published order.</summary>
internal static class Schema
{
    public static readonly Column[] Columns =
    [
        new("WatchID", ColumnType.Int64), new("JavaEnable", ColumnType.Int16), new("Title", ColumnType.Text),
        new("GoodEvent", ColumnType.Int16), new("EventTime", ColumnType.Seconds), new("EventDate", ColumnType.Date),
        new("CounterID", ColumnType.Int32), new("ClientIP", ColumnType.Int32), new("RegionID", ColumnType.Int32),
        new("UserID", ColumnType.Int64), new("CounterClass", ColumnType.Int16), new("OS", ColumnType.Int16),
        new("UserAgent", ColumnType.Int16), new("URL", ColumnType.Text), new("Referer", ColumnType.Text),
        new("IsRefresh", ColumnType.Int16), new("RefererCategoryID", ColumnType.Int16), new("RefererRegionID", ColumnType.Int32),
        new("URLCategoryID", ColumnType.Int16), new("URLRegionID", ColumnType.Int32), new("ResolutionWidth", ColumnType.Int16),
        new("ResolutionHeight", ColumnType.Int16), new("ResolutionDepth", ColumnType.Int16), new("FlashMajor", ColumnType.Int16),
        new("FlashMinor", ColumnType.Int16), new("FlashMinor2", ColumnType.Text), new("NetMajor", ColumnType.Int16),
        new("NetMinor", ColumnType.Int16), new("UserAgentMajor", ColumnType.Int16), new("UserAgentMinor", ColumnType.Text),
        new("CookieEnable", ColumnType.Int16), new("JavascriptEnable", ColumnType.Int16), new("IsMobile", ColumnType.Int16),
        new("MobilePhone", ColumnType.Int16), new("MobilePhoneModel", ColumnType.Text), new("Params", ColumnType.Text),
        new("IPNetworkID", ColumnType.Int32), new("TraficSourceID", ColumnType.Int16), new("SearchEngineID", ColumnType.Int16),
        new("SearchPhrase", ColumnType.Text), new("AdvEngineID", ColumnType.Int16), new("IsArtifical", ColumnType.Int16),
        new("WindowClientWidth", ColumnType.Int16), new("WindowClientHeight", ColumnType.Int16), new("ClientTimeZone", ColumnType.Int16),
        new("ClientEventTime", ColumnType.Seconds), new("SilverlightVersion1", ColumnType.Int16), new("SilverlightVersion2", ColumnType.Int16),
        new("SilverlightVersion3", ColumnType.Int32), new("SilverlightVersion4", ColumnType.Int16), new("PageCharset", ColumnType.Text),
        new("CodeVersion", ColumnType.Int32), new("IsLink", ColumnType.Int16), new("IsDownload", ColumnType.Int16),
        new("IsNotBounce", ColumnType.Int16), new("FUniqID", ColumnType.Int64), new("OriginalURL", ColumnType.Text),
        new("HID", ColumnType.Int32), new("IsOldCounter", ColumnType.Int16), new("IsEvent", ColumnType.Int16),
        new("IsParameter", ColumnType.Int16), new("DontCountHits", ColumnType.Int16), new("WithHash", ColumnType.Int16),
        new("HitColor", ColumnType.Text), new("LocalEventTime", ColumnType.Seconds), new("Age", ColumnType.Int16),
        new("Sex", ColumnType.Int16), new("Income", ColumnType.Int16), new("Interests", ColumnType.Int16),
        new("Robotness", ColumnType.Int16), new("RemoteIP", ColumnType.Int32), new("WindowName", ColumnType.Int32),
        new("OpenerName", ColumnType.Int32), new("HistoryLength", ColumnType.Int16), new("BrowserLanguage", ColumnType.Text),
        new("BrowserCountry", ColumnType.Text), new("SocialNetwork", ColumnType.Text), new("SocialAction", ColumnType.Text),
        new("HTTPError", ColumnType.Int16), new("SendTiming", ColumnType.Int32), new("DNSTiming", ColumnType.Int32),
        new("ConnectTiming", ColumnType.Int32), new("ResponseStartTiming", ColumnType.Int32), new("ResponseEndTiming", ColumnType.Int32),
        new("FetchTiming", ColumnType.Int32), new("SocialSourceNetworkID", ColumnType.Int16), new("SocialSourcePage", ColumnType.Text),
        new("ParamPrice", ColumnType.Int64), new("ParamOrderID", ColumnType.Text), new("ParamCurrency", ColumnType.Text),
        new("ParamCurrencyID", ColumnType.Int16), new("OpenstatServiceName", ColumnType.Text), new("OpenstatCampaignID", ColumnType.Text),
        new("OpenstatAdID", ColumnType.Text), new("OpenstatSourceID", ColumnType.Text), new("UTMSource", ColumnType.Text),
        new("UTMMedium", ColumnType.Text), new("UTMCampaign", ColumnType.Text), new("UTMContent", ColumnType.Text),
        new("UTMTerm", ColumnType.Text), new("FromTag", ColumnType.Text), new("HasGCLID", ColumnType.Int16),
        new("RefererHash", ColumnType.Int64), new("URLHash", ColumnType.Int64), new("CLID", ColumnType.Int32),
    ];

    public static int Index(string name)
    {
        var index = Array.FindIndex(Columns, c => c.Name == name);
        return index >= 0 ? index : throw new ArgumentException($"no column {name}", nameof(name));
    }
}

/// <summary>
/// A block of generated rows, column-major: integer columns (all widths, dates and times) in <see cref="Ints"/>, text in
/// <see cref="Texts"/>; the array of a column of the other kind is null.
/// </summary>
internal sealed class Chunk
{
    public Chunk(int capacity)
    {
        Capacity = capacity;
        Ints = new long[Schema.Columns.Length][];
        Texts = new string[Schema.Columns.Length][];
        for (var c = 0; c < Schema.Columns.Length; c++)
        {
            if (Schema.Columns[c].Type == ColumnType.Text)
            {
                Texts[c] = new string[capacity];
            }
            else
            {
                Ints[c] = new long[capacity];
            }
        }
    }

    public int Capacity { get; }

    public int Count { get; set; }

    public long[][] Ints { get; }

    public string[][] Texts { get; }
}
