using System.Text.Json.Nodes;
using Arc.Engine.DuckDb;
using Arc.Engine.Query;

namespace Arc.Engine.Tests;

/// <summary>
/// Parse trees shared by texts that differ only in their string literals (<see cref="ParseTrees"/>): whatever the cache
/// does, every tree it answers must be the tree DuckDB's parser gives for that text, positions aside; and a dashboard
/// query sent with new time bounds is answered from its shape, without DuckDB.
/// </summary>
public sealed class ParseTreesTests : IDisposable
{
    private readonly DuckDbDatabase _database = DuckDbDatabase.Open(null, []);
    private readonly DuckDbConnection _connection;

    public ParseTreesTests() => _connection = _database.Connect();

    public void Dispose()
    {
        _connection.Dispose();
        _database.Dispose();
    }

    [Theory]
    // The forms dashboards send, with new bounds on every refresh.
    [InlineData("SELECT avg(usage_user) FROM cpu WHERE host = '{0}' AND time BETWEEN '{1}' AND '{2}' GROUP BY 1",
        "host-7|2026-12-04T18:00:00.000Z|2026-12-04T19:00:00.000Z", "host-12|2026-12-04T18:00:05.123Z|2026-12-04T19:00:05.123Z")]
    [InlineData("SELECT * FROM cpu WHERE time >= TIMESTAMP '{0}' AND time < TIMESTAMPTZ '{1}' AND x > INTERVAL '{2}'",
        "2026-01-01|2026-01-02 00:00:00+02|1 hour", "2026-02-01 10:00|2026-03-02|90 minutes")]
    [InlineData("SELECT host, 'it''s' AS quoted, \"we'ird\" FROM cpu WHERE host IN ('{0}', '{1}') AND region LIKE '{2}'",
        "a|b''c|eu-%", "ünïcode|d|")]
    [InlineData("SELECT 'ü€{0}' AS x, count(*) FROM cpu WHERE y < INTERVAL '{1}' HOUR",
        "😀|2", "x|30")]
    // Literals that are not plain VARCHAR constants in the tree: the cache must still answer DuckDB's tree for them.
    [InlineData("SELECT '{0}'::BLOB, {{'{1}': 1}} AS s", "\\x01|a", "\\x02\\x03|b")]
    [InlineData("SELECT * FROM '{0}'", "a.csv", "b.parquet")]
    [InlineData("SELECT '{0}'\n'{1}' AS adjacent", "a|b", "cc|d")]
    [InlineData("SELECT '{0}' AS a, '{1}' AS b", "x\\|y", "\\|\\'")]
    [InlineData("SELECT COLUMNS('{0}') FROM cpu", "usage_.*", "^time$")]
    [InlineData("SELECT * FROM cpu WHERE host = '{0}' AND nope(", "a", "b")]
    public void EveryTreeIsTheParsersTree(string template, string first, string second)
    {
        var texts = new[] { first, second, first + "x", second }
            .Select(values => string.Format(System.Globalization.CultureInfo.InvariantCulture, template, values.Split('|').Cast<object>().ToArray()))
            .ToList();
        foreach (var text in texts)
        {
            Assert.True(JsonNode.DeepEquals(WithoutLocations(ParseTree.Serialize(_connection, text)), WithoutLocations(ParseTrees.Get(_connection, text))),
                text);
        }
    }

    [Fact]
    public void ADashboardQueryWithNewBoundsIsAnsweredFromItsShape()
    {
        const string template = "SELECT time_bucket(INTERVAL '1 minute', time) AS \"t{1}\", avg(usage_user) FROM cpu WHERE host = '{2}' " +
                                "AND time BETWEEN '2026-12-04T{0:00}:00:00.000Z' AND '2026-12-04T{0:00}:59:59.999Z' GROUP BY 1 ORDER BY 1";
        var marker = Guid.NewGuid().ToString("N"); // a shape no other test made
        // Host names of other lengths move every position after them: the shape must hold regardless.
        string Text(int hour) => string.Format(System.Globalization.CultureInfo.InvariantCulture, template, hour, marker, "host-" + new string('x', hour));
        ParseTrees.Get(_connection, Text(1)); // makes the shape
        ParseTrees.Get(_connection, Text(2)); // checks it against DuckDB's parse
        var before = ParseTrees.Filled;
        for (var hour = 3; hour < 10; hour++)
        {
            var tree = ParseTrees.Get(_connection, Text(hour));
            Assert.True(JsonNode.DeepEquals(WithoutLocations(ParseTree.Serialize(_connection, Text(hour))), WithoutLocations(tree)));
        }

        Assert.True(ParseTrees.Filled - before >= 7, $"{ParseTrees.Filled - before} of 7 trees came from the shape");
    }

    [Fact]
    public void AShapeIsUsedOnlyAfterASecondParseAgreesWithIt()
    {
        Assert.True(LiteralText.TrySplit("SELECT 'a' AS x", out _, out var first));
        Assert.True(LiteralText.TrySplit("SELECT 'b' AS x", out _, out var second));
        var agreeing = ParseTrees.Shape.Create(ParseTree.Serialize(_connection, "SELECT 'a' AS x"), first);
        Assert.False(agreeing.Verified);
        agreeing.Verify(ParseTree.Serialize(_connection, "SELECT 'b' AS x"), second);
        Assert.True(agreeing.Verified);
        Assert.Contains("\"value\":\"c\"", agreeing.Fill([new Literal(7, "c")]), StringComparison.Ordinal);

        // A parser that answered another structure for the second text (a cast where the first had a plain constant).
        var disagreeing = ParseTrees.Shape.Create(ParseTree.Serialize(_connection, "SELECT 'a' AS x"), first);
        disagreeing.Verify(ParseTree.Serialize(_connection, "SELECT 'b'::VARCHAR AS x"), second);
        Assert.False(disagreeing.Verified);
        Assert.True(disagreeing.Refused);

        // A literal that is not a VARCHAR constant at its place (here a table name): never usable.
        Assert.True(LiteralText.TrySplit("SELECT * FROM 'a.csv'", out _, out var table));
        var refused = ParseTrees.Shape.Create(ParseTree.Serialize(_connection, "SELECT * FROM 'a.csv'"), table);
        refused.Verify(ParseTree.Serialize(_connection, "SELECT * FROM 'a.csv'"), table);
        Assert.False(refused.Verified);
    }

    [Theory]
    [InlineData("SELECT 1 -- '", false)]
    [InlineData("SELECT /* x */ 'a'", false)]
    [InlineData("SELECT $1", false)]
    [InlineData("SELECT E'a\\nb'", false)]
    [InlineData("SELECT U&'a'", false)]
    [InlineData("SELECT 'unterminated", false)]
    [InlineData("SELECT \"unterminated", false)]
    [InlineData("SELECT 'a''b', \"c'd\" - 1", true)]
    public void OnlyPlainLiteralsAreSplit(string sql, bool split)
    {
        Assert.Equal(split, LiteralText.TrySplit(sql, out var key, out var literals));
        if (split)
        {
            Assert.Equal("SELECT '', \"c'd\" - 1", key);
            Assert.Equal([new Literal(7, "a'b")], literals);
        }
    }

    [Fact]
    public void OffsetsAreUtf8Bytes()
    {
        Assert.True(LiteralText.TrySplit("SELECT 'é😀', 'x'", out _, out var literals));
        Assert.Equal([new Literal(7, "é😀"), new Literal(7 + 8 + 2, "x")], literals);
    }

    private static JsonNode? WithoutLocations(string json)
    {
        var root = JsonNode.Parse(json, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 4000 });
        Strip(root);
        return root;

        static void Strip(JsonNode? node)
        {
            if (node is JsonObject obj)
            {
                obj.Remove("query_location");
                foreach (var (_, child) in obj)
                {
                    Strip(child);
                }
            }
            else if (node is JsonArray array)
            {
                foreach (var child in array)
                {
                    Strip(child);
                }
            }
        }
    }
}
