using System.Text;
using Arc.Protocol.LineProtocol;

namespace Arc.Protocol.Tests.LineProtocol;

public class RandomizedTests
{
    /// <summary>
    /// Random bodies over the bytes that matter to the grammar (delimiters, quotes, backslashes, newlines, comments):
    /// whatever the input, every way of feeding it must give the same points and errors, and nothing may throw.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void AllFeedingModesAgreeOnRandomInput(int seed)
    {
        var random = new Random(seed);
        string[] tokens = ["m", "cpu", "f", "=", ",", " ", "\"", "\\", "\n", "\r\n", "1", "-1.5", "2i", "3u", "t", "#", "\t", "x=1", " 123", "é"];
        var options = new LineProtocolOptions { MaxLineLength = 24, MaxTagsPerLine = 3, MaxFieldsPerLine = 3 };
        for (var iteration = 0; iteration < 60; iteration++)
        {
            var sb = new StringBuilder();
            var count = random.Next(1, 24);
            for (var i = 0; i < count; i++)
            {
                sb.Append(tokens[random.Next(tokens.Length)]);
            }

            LineProtocolFeeder.Parse(sb.ToString(), options, includeRaw: true);
        }
    }

    [Fact]
    public void AllFeedingModesAgreeOnMutatedValidLines()
    {
        var random = new Random(7);
        const string Valid = "cpu,host=a\\ b,r=x f=1.5,s=\"q \\\"x\\\" y\",i=-3i 17\n";
        byte[] inserts = "\\\" ,=\n#"u8.ToArray();
        for (var iteration = 0; iteration < 80; iteration++)
        {
            var bytes = Encoding.UTF8.GetBytes(Valid + Valid).ToList();
            for (var m = random.Next(1, 3); m > 0; m--)
            {
                var at = random.Next(bytes.Count);
                if (random.Next(2) == 0)
                {
                    bytes.Insert(at, inserts[random.Next(inserts.Length)]);
                }
                else
                {
                    bytes.RemoveAt(at);
                }
            }

            LineProtocolFeeder.Parse([.. bytes], includeRaw: true);
        }
    }
}
