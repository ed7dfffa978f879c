using System.Text;
using Arc.Protocol.LineProtocol;

namespace Arc.Protocol.Tests.LineProtocol;

public class LineTooLongTests
{
    private static readonly LineProtocolOptions Max16 = new() { MaxLineLength = 16 };

    [Fact]
    public void LineOfExactlyTheMaximumIsAccepted()
    {
        // 16 bytes of content, also with CRLF (the '\r' is not content).
        var events = LineProtocolFeeder.Parse("m f=123456789012\nm f=123456789012\r\n", Max16);
        Assert.Equal(["P1 m f@3=F123456789012 default=0", "P2 m f@3=F123456789012 default=0", "lines=2"], events);
    }

    [Fact]
    public void LineOneByteTooLongIsRejected()
    {
        var events = LineProtocolFeeder.Parse("m f=1234567890123\nm f=1\n", Max16);
        Assert.Equal(["E1:17 LineTooLong line is longer than 16 bytes", "P2 m f@3=F1 default=0", "lines=2"], events);
    }

    [Fact]
    public void OverlongLineSpanningManyReadsIsReportedOnceAndSkipped()
    {
        var input = "m f=1\nm,tag=" + new string('x', 100) + " f=1 5\nm f=2\n";
        var events = LineProtocolFeeder.Parse(input, Max16);
        Assert.Equal(
            ["P1 m f@3=F1 default=0", "E2:17 LineTooLong line is longer than 16 bytes", "P3 m f@3=F2 default=0", "lines=3"],
            events);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(32)]
    public void OverlongLineIsConsumedAsItArrives(int chunk)
    {
        // The pipe never has to hold more than the limit (plus a '\r' and the line's first byte past it) and one chunk.
        var input = Encoding.UTF8.GetBytes("m f=1\nm,tag=" + new string('x', 1000) + " f=1 5\nm f=2\n");
        var events = LineProtocolFeeder.ReadPiped(input, chunk, Max16, includeRaw: false, finalWithLastChunk: false, out var maxBuffered);
        Assert.Equal(
            ["P1 m f@3=F1 default=0", "E2:17 LineTooLong line is longer than 16 bytes", "P3 m f@3=F2 default=0", "lines=3"],
            events);
        Assert.True(maxBuffered <= Max16.MaxLineLength + 1 + chunk, $"buffered {maxBuffered} bytes");
    }

    [Fact]
    public void OverlongLineWithNewlineInsideAStringEndsAfterTheString()
    {
        var input = "m s=\"" + new string('x', 30) + "\n" + new string('y', 5) + "\" 1\nm f=1\n";
        var events = LineProtocolFeeder.Parse(input, Max16);
        Assert.Equal(["E1:17 LineTooLong line is longer than 16 bytes", "P3 m f@3=F1 default=0", "lines=3"], events);
    }

    [Fact]
    public void OverlongLastLineWithoutNewline()
    {
        var events = LineProtocolFeeder.Parse("m f=1\n" + new string('m', 40) + " f=1", Max16);
        Assert.Equal(["P1 m f@3=F1 default=0", "E2:17 LineTooLong line is longer than 16 bytes", "lines=2"], events);
    }

    [Fact]
    public void OverlongCommentAndBlankLinesAreRejectedToo()
    {
        var events = LineProtocolFeeder.Parse("# " + new string('c', 40) + "\n" + new string(' ', 20) + "\nm f=1\n", Max16);
        Assert.Equal(["E1:17 LineTooLong line is longer than 16 bytes", "E2:17 LineTooLong line is longer than 16 bytes", "P3 m f@3=F1 default=0", "lines=3"], events);
    }

    [Fact]
    public void SeveralOverlongLinesInARow()
    {
        var longLine = "m f=" + new string('1', 30);
        var events = LineProtocolFeeder.Parse($"{longLine}\n{longLine}\r\nm f=2\n{longLine}", Max16);
        Assert.Equal(
            [
                "E1:17 LineTooLong line is longer than 16 bytes",
                "E2:17 LineTooLong line is longer than 16 bytes",
                "P3 m f@3=F2 default=0",
                "E4:17 LineTooLong line is longer than 16 bytes",
                "lines=4",
            ],
            events);
    }
}
