using System.Text;

namespace Arc.Protocol.Tests.LineProtocol;

/// <summary>
/// The parser finds token ends from 64-byte windows; these lines put escapes, quotes and delimiters at every offset
/// around the window boundaries (and lines of every length around 64 and 128 bytes).
/// </summary>
public class WindowBoundaryTests
{
    [Fact]
    public void TokensAtEveryOffsetAroundWindowBoundaries()
    {
        var body = new StringBuilder();
        var expected = new List<string>();
        for (var pad = 0; pad < 140; pad++)
        {
            var measurement = new string('m', pad + 1);
            var line = $"{measurement}\\ x,t\\,k=v\\=w s=\"a\\\"b c,d=e\",f\\ k=-12i,g=1.5 {pad}";
            body.Append(line).Append('\n');
            var tagColumn = pad + 1 + 5;
            var sColumn = tagColumn + 10;
            var fColumn = sColumn + 15;
            var gColumn = fColumn + 10;
            expected.Add($"P{pad + 1} {measurement} x [t,k=v=w@{tagColumn}] s@{sColumn}=\"a\"b c,d=e\",f k@{fColumn}=I-12,g@{gColumn}=F1.5 ts={pad}");
        }

        expected.Add("lines=140");
        var actual = LineProtocolFeeder.ReadWhole(SequenceBuilder.Create(Encoding.UTF8.GetBytes(body.ToString())), new(), includeRaw: false);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ErrorColumnsAtEveryOffsetAroundWindowBoundaries()
    {
        var body = new StringBuilder();
        var expected = new List<string>();
        for (var pad = 0; pad < 140; pad++)
        {
            // An invalid value right after a long field key, then an unescaped '=' in a long tag value.
            var key = new string('k', pad + 1);
            body.Append($"m {key}=1x\n");
            var detail = key.Length > 128 ? key[..128] + "…" : key; // details are truncated
            expected.Add($"E{(2 * pad) + 1}:{pad + 5} InvalidFieldValue <{detail}> invalid value for field '{detail}'");
            body.Append($"m,t={key}=z f=1\n");
            expected.Add($"E{(2 * pad) + 2}:{pad + 6} InvalidTag <t> unescaped '=' in the value of tag 't'");
        }

        expected.Add("lines=280");
        var actual = LineProtocolFeeder.ReadWhole(SequenceBuilder.Create(Encoding.UTF8.GetBytes(body.ToString())), new(), includeRaw: false);
        Assert.Equal(expected, actual);
    }
}
