using System.Text;
using Arc.Protocol.LineProtocol;

namespace Arc.Protocol.Tests.LineProtocol;

public class LineProtocolReaderTests
{
    /// <summary>Parses <paramref name="input"/> in every feeding mode and compares with <paramref name="expected"/>
    /// (errors shortened to "E{line}:{column} {Kind}"), ending with the final line count.</summary>
    private static void AssertParsed(string input, int lines, params string[] expected)
        => AssertParsed(input, null, lines, expected);

    private static void AssertParsed(string input, LineProtocolOptions? options, int lines, params string[] expected)
    {
        var actual = Short(LineProtocolFeeder.Parse(input, options));
        Assert.Equal([.. expected, $"lines={lines}"], actual);
    }

    /// <summary>Keeps points whole and errors as "E{line}:{column} {Kind}".</summary>
    private static List<string> Short(List<string> events)
        => events.Select(e => e[0] == 'E' ? string.Join(' ', e.Split(' ').Take(2)) : e).ToList();

    [Fact]
    public void ParsesTelegrafCpuLine()
    {
        AssertParsed(
            "cpu,host=a,region=us usage=1.5,count=3i 1700000000000000000\n",
            1,
            "P1 cpu [host=a@5,region=us@12] usage@22=F1.5,count@32=I3 ts=1700000000000000000");
    }

    [Fact]
    public void RawLineExcludesLineEnding()
    {
        var events = LineProtocolFeeder.Parse("m f=1\r\nm,t=v g=2i 5\n", includeRaw: true);
        Assert.Equal(
            ["P1 m f@3=F1 default=0 raw=m f=1", "P2 m [t=v@3] g@7=I2 ts=5 raw=m,t=v g=2i 5", "lines=2"],
            events);
    }

    [Fact]
    public void UnescapesMeasurement()
    {
        AssertParsed(
            "my\\ meas\\,ure f=1\na\\=b f=1\nm\\x\\\\y f=1\n",
            3,
            "P1 my meas,ure f@15=F1 default=0",
            "P2 a\\=b f@6=F1 default=0",
            "P3 m\\x\\\\y f@8=F1 default=0");
    }

    [Fact]
    public void UnescapesTagKeysValuesAndFieldKeys()
    {
        AssertParsed(
            "m,ta\\ g\\,k\\==v\\ a\\,l\\=ue f\\ i\\,e\\=ld=1\n",
            1,
            "P1 m [ta g,k==v a,l=ue@3] f i,e=ld@26=F1 default=0");
    }

    [Fact]
    public void BackslashBeforeOtherBytesIsLiteral()
    {
        // "\\," escapes the comma: a byte preceded by a backslash is never a delimiter (InfluxDB 1.x tokenisation).
        AssertParsed(
            "m,a\\\\,b=c\\d f\\x=1\n",
            1,
            "P1 m [a\\,b=c\\d@3] f\\x@13=F1 default=0");
    }

    [Fact]
    public void EscapedSpaceAfterBackslashKeepsTheHeadGoingSoAQuoteThereOpensNoString()
    {
        // "m\\ f" is one measurement (the space is escaped by the second backslash), so the quote is literal and the
        // newline ends the line; a scanner treating "\\\\" as a pair would join the lines into one string value.
        AssertParsed(
            "m\\\\ f=\"a\nb\" 1\nm f=1\n",
            3,
            "E1:9 MissingFields",
            "E2:5 InvalidField",
            "P3 m f@3=F1 default=0");
    }

    [Fact]
    public void UnescapesStringValues()
    {
        AssertParsed(
            "m s=\"a \\\"quoted\\\" \\\\ back\\slash, x=1\",t=\"\" 7\n",
            1,
            "P1 m s@3=\"a \"quoted\" \\ back\\slash, x=1\",t@39=\"\" ts=7");
    }

    [Fact]
    public void StringValueMayContainSpacesCommasEqualsAndNewlines()
    {
        AssertParsed(
            "m s=\"hello, world = yes\",n=1i 5\nm s=\"line1\nline2\" 6\nm f=1 7\n",
            4,
            "P1 m s@3=\"hello, world = yes\",n@26=I1 ts=5",
            "P2 m s@3=\"line1\\nline2\" ts=6",
            "P4 m f@3=F1 ts=7");
    }

    [Fact]
    public void StringEscapesAroundNewlines()
    {
        AssertParsed(
            "m s=\"a\\\"\nb\" 1\nm s=\"a\\\\\" 2\nm s=\"a\\\nb\" 3\n",
            5,
            "P1 m s@3=\"a\"\\nb\" ts=1",
            "P3 m s@3=\"a\\\" ts=2",
            "P4 m s@3=\"a\\\\nb\" ts=3");
    }

    [Fact]
    public void QuotesOutsideFieldValuesAreLiteral()
    {
        AssertParsed(
            "m\"x,t\"a=v\"b f\"k=1\n# he said \"hi\nm f=1 \"abc\nm f=1\"x\nm f=2\n",
            5,
            "P1 m\"x [t\"a=v\"b@5] f\"k@13=F1 default=0",
            "E3:7 InvalidTimestamp",
            "E4:5 InvalidFieldValue",
            "P5 m f@3=F2 default=0");
    }

    [Fact]
    public void ErrorColumnsCountBytesAcrossEmbeddedNewlines()
    {
        AssertParsed("m s=\"a\nb\",f=x\nm f=1\n", 3, "E1:13 InvalidFieldValue", "P3 m f@3=F1 default=0");
    }

    [Fact]
    public void ColumnsAreByteColumns()
    {
        AssertParsed("温度,城市=北京 值=1\n", 1, "P1 温度 [城市=北京@8] 值@22=F1 default=0");
    }

    [Fact]
    public void ParsesFloats()
    {
        AssertParsed(
            "m a=1,b=-1.5,c=1.,d=.5,e=1e9,f=1.5E-3,g=-0,h=0.1,i=1e+2,j=-.5e-1,k=123456789012345678901234567890,l=0.000001\n",
            1,
            "P1 m a@3=F1,b@7=F-1.5,c@14=F1,d@19=F0.5,e@24=F1000000000,f@30=F0.0015,g@39=F-0,h@44=F0.1,i@50=F100,j@57=F-0.05,k@66=F1.2345678901234568E+29,l@99=F1E-06 default=0");
    }

    [Fact]
    public void FloatEdgeValues()
    {
        AssertParsed(
            "m a=1.7976931348623157e308,b=-1.7976931348623157e308,c=5e-324,d=1e-400,e=0e999999\n",
            1,
            "P1 m a@3=F1.7976931348623157E+308,b@28=F-1.7976931348623157E+308,c@54=F5E-324,d@63=F0,e@72=F0 default=0");
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("nan")]
    [InlineData("Inf")]
    [InlineData("-Inf")]
    [InlineData("inf")]
    [InlineData("+1")]
    [InlineData("0x10")]
    [InlineData("1e")]
    [InlineData("1e+")]
    [InlineData("1.2.3")]
    [InlineData("1_000")]
    [InlineData("-")]
    [InlineData(".")]
    [InlineData("-.")]
    [InlineData("1ee2")]
    [InlineData("--1")]
    [InlineData("1-")]
    [InlineData("1 2")] // the 2 is then a timestamp: accepted, so not here
    [InlineData("1.5i")]
    [InlineData("i")]
    [InlineData("-i")]
    [InlineData("+1i")]
    [InlineData("1e3i")]
    [InlineData("1ii")]
    [InlineData("u")]
    [InlineData("-1u")]
    [InlineData("-0u")]
    [InlineData("+1u")]
    [InlineData("1.0u")]
    [InlineData("abc")]
    [InlineData("tRUE")]
    [InlineData("yes")]
    [InlineData("truee")]
    [InlineData("fals")]
    [InlineData("'x'")]
    public void RejectsInvalidFieldValues(string value)
    {
        var events = Short(LineProtocolFeeder.Parse($"m f={value}\nm f=1\n"));
        if (value == "1 2")
        {
            Assert.Equal(["P1 m f@3=F1 ts=2", "P2 m f@3=F1 default=0", "lines=2"], events);
            return;
        }

        Assert.Equal(["E1:5 InvalidFieldValue", "P2 m f@3=F1 default=0", "lines=2"], events);
    }

    [Fact]
    public void ParsesIntegersAndUnsignedAtTheirLimits()
    {
        AssertParsed(
            "m a=9223372036854775807i,b=-9223372036854775808i,c=0i,d=-0i,e=007i,f=18446744073709551615u,g=0u\n",
            1,
            "P1 m a@3=I9223372036854775807,b@26=I-9223372036854775808,c@50=I0,d@55=I0,e@61=I7,f@68=U18446744073709551615,g@92=U0 default=0");
    }

    [Theory]
    [InlineData("9223372036854775808i")]
    [InlineData("-9223372036854775809i")]
    [InlineData("99999999999999999999999i")]
    [InlineData("18446744073709551616u")]
    [InlineData("99999999999999999999999u")]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    public void RejectsOutOfRangeValues(string value)
    {
        AssertParsed($"m f={value}\nm f=1\n", 2, "E1:5 FieldValueOutOfRange", "P2 m f@3=F1 default=0");
    }

    [Fact]
    public void ParsesEveryBooleanSpelling()
    {
        AssertParsed(
            "m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE\n",
            1,
            "P1 m a@3=true,b@7=true,c@11=true,d@18=true,e@25=true,f@32=false,g@36=false,h@40=false,i@48=false,j@56=false default=0");
    }

    [Fact]
    public void MissingTimestampGetsTheDefault()
    {
        var options = new LineProtocolOptions { DefaultTimestamp = 42 };
        AssertParsed("m f=1\nm f=1 -5\nm f=1 0\nm f=1   \t\n", options, 4, "P1 m f@3=F1 default=42", "P2 m f@3=F1 ts=-5", "P3 m f@3=F1 ts=0", "P4 m f@3=F1 default=42");
    }

    [Theory]
    [InlineData(TimestampPrecision.Nanoseconds, "2", "2")]
    [InlineData(TimestampPrecision.Microseconds, "2", "2000")]
    [InlineData(TimestampPrecision.Milliseconds, "2", "2000000")]
    [InlineData(TimestampPrecision.Seconds, "-2", "-2000000000")]
    [InlineData(TimestampPrecision.Minutes, "2", "120000000000")]
    [InlineData(TimestampPrecision.Hours, "2", "7200000000000")]
    [InlineData(TimestampPrecision.Seconds, "9223372036", "9223372036000000000")]
    [InlineData(TimestampPrecision.Hours, "2562047", "9223369200000000000")]
    public void ScalesTimestampsByPrecision(TimestampPrecision precision, string timestamp, string nanoseconds)
    {
        var options = new LineProtocolOptions { Precision = precision };
        AssertParsed($"m f=1 {timestamp}\n", options, 1, $"P1 m f@3=F1 ts={nanoseconds}");
    }

    [Theory]
    [InlineData(TimestampPrecision.Nanoseconds, "9223372036854775808")]
    [InlineData(TimestampPrecision.Nanoseconds, "-9223372036854775809")]
    [InlineData(TimestampPrecision.Nanoseconds, "99999999999999999999999")]
    [InlineData(TimestampPrecision.Microseconds, "9223372036854776")]
    [InlineData(TimestampPrecision.Milliseconds, "-9223372036855")]
    [InlineData(TimestampPrecision.Seconds, "9223372037")]
    [InlineData(TimestampPrecision.Minutes, "153722868")]
    [InlineData(TimestampPrecision.Hours, "2562048")]
    [InlineData(TimestampPrecision.Hours, "-2562048")]
    public void RejectsTimestampsThatOverflowNanoseconds(TimestampPrecision precision, string timestamp)
    {
        var options = new LineProtocolOptions { Precision = precision };
        AssertParsed($"m f=1 {timestamp}\nm f=1\n", options, 2, "E1:7 TimestampOutOfRange", "P2 m f@3=F1 default=0");
    }

    [Theory]
    [InlineData(TimestampPrecision.Nanoseconds, "9223372036854775807")] // 2^63-1: DuckDB's +infinity
    [InlineData(TimestampPrecision.Nanoseconds, "-9223372036854775807")] // its -infinity
    [InlineData(TimestampPrecision.Nanoseconds, "-9223372036854775808")]
    [InlineData(TimestampPrecision.Nanoseconds, "-9223286400000000001")] // 1677-09-21T23:59:59.999999999Z
    [InlineData(TimestampPrecision.Seconds, "-9223286401")]
    [InlineData(TimestampPrecision.Microseconds, "-9223286400000001")]
    [InlineData(TimestampPrecision.Hours, "-2562047")] // 1677-09-21T04:00:00Z
    public void RejectsTimestampsOutsideWhatDuckDbStoresAsTimestampNs(TimestampPrecision precision, string timestamp)
    {
        var options = new LineProtocolOptions { Precision = precision };
        AssertParsed($"m f=1 {timestamp}\nm f=1\n", options, 2, "E1:7 TimestampOutOfRange", "P2 m f@3=F1 default=0");
        var error = Assert.Single(LineProtocolFeeder.Parse($"m f=1 {timestamp}\n", options), e => e[0] == 'E');
        Assert.Contains("timestamp out of range (it must fall between 1677-09-22 and 2262-04-11", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(TimestampPrecision.Nanoseconds, "9223372036854775806", "9223372036854775806")] // 2262-04-11T23:47:16.854775806Z
    [InlineData(TimestampPrecision.Nanoseconds, "-9223286400000000000", "-9223286400000000000")] // 1677-09-22T00:00:00Z
    [InlineData(TimestampPrecision.Seconds, "-9223286400", "-9223286400000000000")]
    [InlineData(TimestampPrecision.Seconds, "9223372036", "9223372036000000000")]
    public void AcceptsTimestampsAtTheEdgesOfDuckDbsRange(TimestampPrecision precision, string timestamp, string nanoseconds)
    {
        var options = new LineProtocolOptions { Precision = precision };
        AssertParsed($"m f=1 {timestamp}\n", options, 1, $"P1 m f@3=F1 ts={nanoseconds}");
    }

    [Theory]
    [InlineData("m f=1 12a", "E1:7 InvalidTimestamp")]
    [InlineData("m f=1 1.5", "E1:7 InvalidTimestamp")]
    [InlineData("m f=1 +5", "E1:7 InvalidTimestamp")]
    [InlineData("m f=1 -", "E1:7 InvalidTimestamp")]
    [InlineData("m f=1 1e9", "E1:7 InvalidTimestamp")]
    [InlineData("m f=1 g=2", "E1:7 InvalidTimestamp")]
    [InlineData("m f=1 123 456", "E1:11 TrailingCharacters")]
    [InlineData("m f=1 123 \t x", "E1:13 TrailingCharacters")]
    [InlineData("m f=\"a\"x", "E1:8 InvalidFieldValue")]
    [InlineData("m f=\"a\"\"b\"", "E1:8 InvalidFieldValue")]
    public void RejectsTrailingGarbage(string line, string error)
    {
        AssertParsed(line + "\nm f=1\n", 2, error, "P2 m f@3=F1 default=0");
    }

    [Fact]
    public void SkipsCommentsBlankLinesAndLeadingWhitespace()
    {
        AssertParsed(
            "# comment\n\n  \t\n  cpu f=1\r\n\t# indented comment\r\ncpu f=2\r\n\r\n#\n",
            8,
            "P4 cpu f@7=F1 default=0",
            "P6 cpu f@5=F2 default=0");
    }

    [Fact]
    public void AcceptsSeveralSpacesBetweenSections()
    {
        AssertParsed("m,t=v  \tf=1,g=2   3  \n", 1, "P1 m [t=v@3] f@9=F1,g@13=F2 ts=3");
    }

    [Theory]
    [InlineData(",t=v f=1", "E1:1 MissingMeasurement")]
    [InlineData("  ,t=v f=1", "E1:3 MissingMeasurement")]
    [InlineData("m", "E1:2 MissingFields")]
    [InlineData("m ", "E1:3 MissingFields")]
    [InlineData("m   \t", "E1:6 MissingFields")]
    [InlineData("m,t=v", "E1:6 MissingFields")]
    [InlineData("m,t=v ", "E1:7 MissingFields")]
    [InlineData("m,t=v,u=w", "E1:10 MissingFields")]
    [InlineData("m,=v f=1", "E1:3 InvalidTag")]
    [InlineData("m, f=1", "E1:3 InvalidTag")]
    [InlineData("m,t f=1", "E1:4 InvalidTag")]
    [InlineData("m,t", "E1:4 InvalidTag")]
    [InlineData("m,t= f=1", "E1:5 InvalidTag")]
    [InlineData("m,t=,u=1 f=1", "E1:5 InvalidTag")]
    [InlineData("m,t=a=b f=1", "E1:6 InvalidTag")]
    [InlineData("m,t=a,,u=b f=1", "E1:7 InvalidTag")]
    [InlineData("m =1", "E1:3 InvalidField")]
    [InlineData("m f", "E1:4 InvalidField")]
    [InlineData("m f g=1", "E1:4 InvalidField")]
    [InlineData("m f,g=1", "E1:4 InvalidField")]
    [InlineData("m f=1,", "E1:7 InvalidField")]
    [InlineData("m f=1,,g=2", "E1:7 InvalidField")]
    [InlineData("m f=1, g=2", "E1:7 InvalidField")]
    [InlineData("m f=", "E1:5 InvalidFieldValue")]
    [InlineData("m f= 1", "E1:5 InvalidFieldValue")]
    [InlineData("m f=,g=1", "E1:5 InvalidFieldValue")]
    public void RejectsMalformedLines(string line, string error)
    {
        AssertParsed(line + "\nm f=1\n", 2, error, "P2 m f@3=F1 default=0");
    }

    [Fact]
    public void ReportsUnterminatedStringAtEndOfBody()
    {
        AssertParsed("m f=1\nm,t=v s=\"abc", 2, "P1 m f@3=F1 default=0", "E2:9 UnterminatedString");
        AssertParsed("m f=1\nm s=\"abc\\\"", 2, "P1 m f@3=F1 default=0", "E2:5 UnterminatedString");
    }

    [Fact]
    public void UnterminatedStringSwallowsFollowingLinesUntilTheBodyEnds()
    {
        // As in InfluxDB: the newline is part of the string, so the logical line runs to the end of the body.
        AssertParsed("m f=1\nm s=\"abc\nm f=2\n", 4, "P1 m f@3=F1 default=0", "E2:5 UnterminatedString");
    }

    [Fact]
    public void EnforcesTagAndFieldLimits()
    {
        var options = new LineProtocolOptions { MaxTagsPerLine = 2, MaxFieldsPerLine = 2 };
        AssertParsed(
            "m,a=1,b=2 x=1,y=2\nm,a=1,b=2,c=3 f=1\nm a=1,b=2,c=3\nm f=1\n",
            options,
            4,
            "P1 m [a=1@3,b=2@7] x@11=F1,y@15=F2 default=0",
            "E2:11 TooManyTags",
            "E3:11 TooManyFields",
            "P4 m f@3=F1 default=0");
    }

    [Fact]
    public void NoTagsAllowedWhenMaxTagsIsZero()
    {
        var options = new LineProtocolOptions { MaxTagsPerLine = 0 };
        AssertParsed("m,a=1 f=1\nm f=1\n", options, 2, "E1:3 TooManyTags", "P2 m f@3=F1 default=0");
    }

    [Fact]
    public void ManyTagsAndFieldsGrowThePooledArrays()
    {
        var sb = new StringBuilder("m");
        var expected = new StringBuilder("P1 m [");
        for (var i = 0; i < 70; i++)
        {
            expected.Append(i == 0 ? "" : ",").Append($"t{i:D2}=v@{sb.Length + 2}");
            sb.Append($",t{i:D2}=v");
        }

        sb.Append(' ');
        expected.Append("] ");
        for (var i = 0; i < 150; i++)
        {
            expected.Append(i == 0 ? "" : ",").Append($"f{i:D3}@{sb.Length + 1 + (i == 0 ? 0 : 1)}=I{i}");
            sb.Append(i == 0 ? "" : ",").Append($"f{i:D3}={i}i");
        }

        expected.Append(" default=0");
        var events = LineProtocolFeeder.Parse(sb.Append('\n').ToString());
        Assert.Equal([expected.ToString(), "lines=1"], events);
    }

    [Fact]
    public void MixedGoodAndBadLines()
    {
        AssertParsed(
            "cpu f=1 1\ncpu f=abc 2\n\ncpu,host= f=1 3\ncpu f=2 4\ncpu f=1 99999999999999999999\ncpu f=3,g=\"x\" 5\nc\\ pu f 6\ncpu f=4 7",
            9,
            "P1 cpu f@5=F1 ts=1",
            "E2:7 InvalidFieldValue",
            "E4:10 InvalidTag",
            "P5 cpu f@5=F2 ts=4",
            "E6:9 TimestampOutOfRange",
            "P7 cpu f@5=F3,g@9=\"x\" ts=5",
            "E8:8 InvalidField",
            "P9 cpu f@5=F4 ts=7");
    }

    [Fact]
    public void ErrorsCarryDetailAndMessage()
    {
        var events = LineProtocolFeeder.Parse(
            "m usage=abc\nm,host= f=1\nm,a\\ b f=1\nm f\\,x=1u2\nm s=\"x\nm f=1 x\n".Replace("m s=\"x\n", "", StringComparison.Ordinal)
            + "m,t=1 f=1 1 2\nm \u0001=2u3\nm s=\"x");
        Assert.Equal(
            [
                "E1:9 InvalidFieldValue <usage> invalid value for field 'usage'",
                "E2:8 InvalidTag <host> missing value for tag 'host'",
                "E3:7 InvalidTag <a b> missing '=' after tag key 'a b'",
                "E4:8 InvalidFieldValue <f,x> invalid value for field 'f,x'",
                "E5:7 InvalidTimestamp invalid timestamp",
                "E6:13 TrailingCharacters unexpected characters after the timestamp",
                "E7:5 InvalidFieldValue <\\x01> invalid value for field '\\x01'",
                "E8:5 UnterminatedString <s> unterminated string value of field 's'",
                "lines=8",
            ],
            events);
    }

    [Fact]
    public void DetailIsTruncated()
    {
        var key = new string('k', 300);
        var events = LineProtocolFeeder.ReadWhole(SequenceBuilder.Create(Encoding.UTF8.GetBytes($"m {key}=x\n")), new LineProtocolOptions(), false);
        var error = events[0];
        Assert.StartsWith("E1:" + (key.Length + 4) + " InvalidFieldValue <" + new string('k', 128) + "…>", error, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectedErrorCarriesTheReason()
    {
        var error = LineProtocolError.Rejected(3, 7, "field type conflict");
        Assert.Equal(LineErrorKind.Rejected, error.Kind);
        Assert.Equal(3, error.Line);
        Assert.Equal(7, error.Column);
        Assert.Equal("field type conflict", error.Detail);
        Assert.Equal("field type conflict", error.Message);
        Assert.Equal("line 3, column 7: field type conflict", error.ToString());
    }

    [Fact]
    public void LastLineWithoutNewlineIsReadOnlyWhenFinal()
    {
        var data = SequenceBuilder.Create("m f=1\nm f=2"u8.ToArray());
        var handler = new RecordingHandler(false);
        var reader = new LineProtocolReader(data, isFinalBlock: false, new LineProtocolReaderState(new LineProtocolOptions()));
        Assert.Equal(1, reader.Read(ref handler));
        Assert.Equal(6, data.Slice(0, reader.Position).Length);
        Assert.Equal(1, reader.CurrentState.LineNumber);

        var rest = data.Slice(reader.Position);
        var final = new LineProtocolReader(rest, isFinalBlock: true, reader.CurrentState);
        Assert.Equal(1, final.Read(ref handler));
        Assert.Equal(rest.End, final.Position);
        Assert.Equal(2, final.CurrentState.LineNumber);
        Assert.Equal(["P1 m f@3=F1 default=0", "P2 m f@3=F2 default=0"], handler.Events);
    }

    [Fact]
    public void EveryPrefixConsumesExactlyTheCompleteLines()
    {
        var input = "cpu,host=a f=1 1\n# c\n\nm s=\"a\nb\",t=2i 3\r\nm f=1\n"u8.ToArray();
        int[] lineEnds = [17, 21, 22, 40, 46];
        for (var length = 0; length <= input.Length; length++)
        {
            var data = SequenceBuilder.Create(input.AsMemory(0, length));
            var handler = new RecordingHandler(false);
            var reader = new LineProtocolReader(data, isFinalBlock: false, new LineProtocolReaderState(new LineProtocolOptions()));
            reader.Read(ref handler);
            var expected = lineEnds.Where(e => e <= length).DefaultIfEmpty(0).Max();
            Assert.Equal(expected, data.Slice(0, reader.Position).Length);
        }
    }

    [Fact]
    public void EmptyInput()
    {
        AssertParsed("", 0);
        AssertParsed("\n", 1);
    }

    [Fact]
    public void DefaultStateUsesDefaultOptions()
    {
        var state = default(LineProtocolReaderState);
        Assert.Equal(new LineProtocolOptions(), state.Options);
        var handler = new RecordingHandler(false);
        var reader = new LineProtocolReader(SequenceBuilder.Create("m f=1 1\n"u8.ToArray()), true, state);
        Assert.Equal(1, reader.Read(ref handler));
    }

    [Fact]
    public void RejectsInvalidOptions()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LineProtocolReaderState(new LineProtocolOptions { MaxLineLength = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LineProtocolReaderState(new LineProtocolOptions { MaxTagsPerLine = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LineProtocolReaderState(new LineProtocolOptions { MaxFieldsPerLine = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LineProtocolReaderState(new LineProtocolOptions { Precision = (TimestampPrecision)42 }));
    }

    [Fact]
    public void HandlerMayBeARefStruct()
    {
        var count = 0;
        var handler = new RefStructHandler(ref count);

        // The handler refers to a local, so the reader must be declared scoped (it could otherwise keep the handler).
        scoped var reader = new LineProtocolReader(SequenceBuilder.Create("m f=1\nm f=2\nbad\n"u8.ToArray()), true, new LineProtocolReaderState(new LineProtocolOptions()));
        Assert.Equal(2, reader.Read(ref handler));
        Assert.Equal(3, count);
    }

    [Fact]
    public void FieldAccessorsCheckTheType()
    {
        var handler = new TypeCheckingHandler();
        var reader = new LineProtocolReader(SequenceBuilder.Create("m f=1i\n"u8.ToArray()), true, new LineProtocolReaderState(new LineProtocolOptions()));
        reader.Read(ref handler);
        Assert.True(handler.Threw);
    }

    private ref struct RefStructHandler : ILineProtocolHandler
    {
        private ref int _calls;

        public RefStructHandler(ref int calls) => _calls = ref calls;

        public void OnPoint(in LinePoint point) => _calls++;

        public void OnError(in LineProtocolError error) => _calls++;
    }

    private struct TypeCheckingHandler : ILineProtocolHandler
    {
        public bool Threw { get; private set; }

        public void OnPoint(in LinePoint point)
        {
            var field = point.GetField(0);
            Assert.Equal(1, field.Integer);
            try
            {
                _ = field.Float;
            }
            catch (InvalidOperationException)
            {
                Threw = true;
            }
        }

        public readonly void OnError(in LineProtocolError error) => Assert.Fail(error.ToString());
    }
}
