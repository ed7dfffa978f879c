using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Arc.Engine.DuckDb;

namespace Arc.Engine.Query;

/// <summary>
/// DuckDB's parse trees (<c>json_serialize_sql</c>) of statement texts, kept so a dashboard's query costs no round trip to
/// DuckDB's parser when it comes again. Texts that differ only in the contents of their string literals share one tree:
/// Grafana's <c>$__timeFilter</c> sends <c>time BETWEEN '…Z' AND '…Z'</c> with new instants on every refresh. Such a
/// text's tree is the first text's tree with the literals' constants set to the new values (a <see cref="Shape"/>); a
/// shape is used only once DuckDB, parsing a second text of it, gave the tree the swap gives (positions aside), and a shape
/// whose literals are not plain VARCHAR constants at their places in the tree is never used. A text the lexer does not
/// model (<see cref="LiteralText"/>) is kept by its exact text.
/// </summary>
internal static class ParseTrees
{
    private static readonly TextCache<string> Exact = new(16 << 20, json => json.Length);
    private static readonly TextCache<Shape> Shapes = new(16 << 20, shape => shape.Weight);

    /// <summary>The statement's tree as <c>json_serialize_sql</c> gives it (an error object for text that does not parse).</summary>
    public static string Get(DuckDbConnection connection, string sql)
    {
        if (!LiteralText.TrySplit(sql, out var key, out var literals))
        {
            return Exact.GetOrAdd(sql, text => ParseTree.Serialize(connection, text));
        }

        string? parsed = null;
        var shape = Shapes.GetOrAdd(key, _ => Shape.Create(parsed = ParseTree.Serialize(connection, sql), literals));
        if (parsed is not null)
        {
            return parsed; // this text made the shape
        }

        if (shape.Verified)
        {
            Interlocked.Increment(ref _filled);
            return shape.Fill(literals);
        }

        if (shape.Refused)
        {
            return Exact.GetOrAdd(sql, text => ParseTree.Serialize(connection, text));
        }

        parsed = ParseTree.Serialize(connection, sql);
        shape.Verify(parsed, literals);
        return parsed;
    }

    /// <summary>How many trees came from a shape rather than from DuckDB's parser (tests).</summary>
    internal static long Filled => Interlocked.Read(ref _filled);

    private static long _filled;

    /// <summary>A tree with holes where a text's string literals go, and whether it may be filled without DuckDB.</summary>
    internal sealed class Shape
    {
        private const int Pending = 0;
        private const int Usable = 1;
        private const int Unusable = 2;

        private static readonly JsonDocumentOptions Options = new() { MaxDepth = StatementGuard.MaxTreeDepth };

        /// <summary>The tree's JSON around its literals' values: one more part than there are literals.</summary>
        private readonly string[] _parts;

        private int _state;

        private Shape(string[] parts, int state)
        {
            _parts = parts;
            _state = state;
        }

        public int Weight => _parts.Sum(p => p.Length);

        public bool Verified => Volatile.Read(ref _state) == Usable;

        public bool Refused => Volatile.Read(ref _state) == Unusable;

        /// <summary>
        /// The shape of <paramref name="json"/>: every literal must be a VARCHAR constant at the literal's position holding
        /// its value, each once. Usable at once when the text has no literal (the tree is the text's own).
        /// </summary>
        public static Shape Create(string json, IReadOnlyList<Literal> literals)
        {
            if (literals.Count == 0)
            {
                return new Shape([json], Usable);
            }

            JsonNode? root;
            try
            {
                root = JsonNode.Parse(json, documentOptions: Options);
            }
            catch (JsonException)
            {
                return new Shape([json], Unusable);
            }

            if (root is not JsonObject tree || tree["error"]?.GetValue<bool>() != false)
            {
                return new Shape([json], Unusable);
            }

            var constants = new Dictionary<ulong, JsonObject>();
            var unique = true;
            Constants(tree, constants, ref unique);
            for (var i = 0; i < literals.Count && unique; i++)
            {
                unique = constants.TryGetValue(literals[i].Offset, out var constant)
                         && StatementGuard.Text(constant["value"]?["value"]) == literals[i].Value;
                if (unique)
                {
                    constant!["value"]!["value"] = Hole(i);
                }
            }

            if (!unique)
            {
                return new Shape([json], Unusable);
            }

            // Split the serialized tree at the holes; each must be there exactly once.
            var text = tree.ToJsonString();
            var parts = new string[literals.Count + 1];
            var start = 0;
            for (var i = 0; i < literals.Count; i++)
            {
                var hole = JsonValue.Create(Hole(i)).ToJsonString();
                var at = text.IndexOf(hole, start, StringComparison.Ordinal);
                if (at < 0 || text.IndexOf(hole, at + hole.Length, StringComparison.Ordinal) >= 0)
                {
                    return new Shape([json], Unusable);
                }

                parts[i] = text[start..at];
                start = at + hole.Length;
            }

            parts[^1] = text[start..];
            return new Shape(parts, Pending);
        }

        public string Fill(IReadOnlyList<Literal> literals)
        {
            var json = new StringBuilder(_parts[0]);
            for (var i = 0; i < literals.Count; i++)
            {
                json.Append(JsonValue.Create(literals[i].Value).ToJsonString()).Append(_parts[i + 1]);
            }

            return json.ToString();
        }

        /// <summary>The first text after the one that made the shape: usable if its tree is the filled one.</summary>
        public void Verify(string parsed, IReadOnlyList<Literal> literals)
        {
            if (Volatile.Read(ref _state) != Pending)
            {
                return;
            }

            bool same;
            try
            {
                same = JsonNode.DeepEquals(WithoutLocations(JsonNode.Parse(parsed, documentOptions: Options)),
                    WithoutLocations(JsonNode.Parse(Fill(literals), documentOptions: Options)));
            }
            catch (JsonException)
            {
                same = false;
            }

            Interlocked.CompareExchange(ref _state, same ? Usable : Unusable, Pending);
        }

        private static string Hole(int index) => $"\u0001arc-literal-{index}\u0001";

        /// <summary>Every VARCHAR constant by its position in the text; <paramref name="unique"/> false if two share one.</summary>
        private static void Constants(JsonNode tree, Dictionary<ulong, JsonObject> found, ref bool unique)
        {
            foreach (var obj in Objects(tree))
            {
                if (StatementGuard.Text(obj["class"]) == "CONSTANT" && StatementGuard.Text(obj["value"]?["type"]?["id"]) == "VARCHAR"
                    && obj["query_location"] is JsonValue location && location.TryGetValue<ulong>(out var offset))
                {
                    unique &= found.TryAdd(offset, obj);
                }
            }
        }

        /// <summary>The tree without its text positions, which move with the literals' lengths.</summary>
        private static JsonNode? WithoutLocations(JsonNode? tree)
        {
            foreach (var obj in Objects(tree))
            {
                obj.Remove("query_location");
            }

            return tree;
        }

        /// <summary>Every object of a tree, each before its children (which are read after the caller had it).</summary>
        private static IEnumerable<JsonObject> Objects(JsonNode? tree)
        {
            var pending = new Stack<JsonNode?>();
            pending.Push(tree);
            while (pending.TryPop(out var node))
            {
                switch (node)
                {
                    case JsonObject obj:
                        yield return obj;
                        foreach (var (_, child) in obj)
                        {
                            pending.Push(child);
                        }

                        break;
                    case JsonArray array:
                        foreach (var child in array)
                        {
                            pending.Push(child);
                        }

                        break;
                }
            }
        }
    }
}

/// <summary>A string literal of a statement: where its opening quote is (UTF-8 bytes, as DuckDB counts) and its value.</summary>
internal readonly record struct Literal(ulong Offset, string Value);

/// <summary>
/// Splits a statement into its shape (the text with every <c>'…'</c> literal emptied) and its literals, for
/// <see cref="ParseTrees"/>. Only plain literals are modelled: a text with a comment, a dollar sign (dollar quoting,
/// parameters), a quote right after a letter, digit, <c>_</c> or <c>&amp;</c> (<c>E'…'</c>, <c>U&amp;'…'</c>, <c>X'…'</c>) or an
/// unterminated quote is not split. Double-quoted identifiers are kept as they are.
/// </summary>
internal static class LiteralText
{
    public static bool TrySplit(string sql, out string key, out List<Literal> literals)
    {
        var shape = new StringBuilder(sql.Length);
        literals = [];
        key = "";
        ulong offset = 0;
        for (var i = 0; i < sql.Length; i++)
        {
            var c = sql[i];
            switch (c)
            {
                case '\'':
                    if (i > 0 && (char.IsLetterOrDigit(sql[i - 1]) || sql[i - 1] is '_' or '&'))
                    {
                        return false;
                    }

                    var value = new StringBuilder();
                    var end = Quoted(sql, i, '\'', value);
                    if (end < 0)
                    {
                        return false;
                    }

                    literals.Add(new Literal(offset, value.ToString()));
                    shape.Append("''");
                    offset += (ulong)Encoding.UTF8.GetByteCount(sql.AsSpan(i, end - i + 1));
                    i = end;
                    continue;
                case '"':
                    var identifierEnd = Quoted(sql, i, '"', null);
                    if (identifierEnd < 0)
                    {
                        return false;
                    }

                    shape.Append(sql, i, identifierEnd - i + 1);
                    offset += (ulong)Encoding.UTF8.GetByteCount(sql.AsSpan(i, identifierEnd - i + 1));
                    i = identifierEnd;
                    continue;
                case '$':
                case '-' when i + 1 < sql.Length && sql[i + 1] == '-':
                case '/' when i + 1 < sql.Length && sql[i + 1] == '*':
                    return false;
            }

            shape.Append(c);
            offset += c < 0x80 ? 1u : c < 0x800 ? 2u : char.IsSurrogate(c) ? 2u : 3u; // a surrogate pair is 4 bytes
        }

        key = shape.ToString();
        return true;
    }

    /// <summary>The index of the quote closing the one at <paramref name="start"/> (a doubled quote is one character); -1 if none.</summary>
    private static int Quoted(string sql, int start, char quote, StringBuilder? value)
    {
        for (var j = start + 1; j < sql.Length; j++)
        {
            if (sql[j] != quote)
            {
                value?.Append(sql[j]);
                continue;
            }

            if (j + 1 < sql.Length && sql[j + 1] == quote)
            {
                value?.Append(quote);
                j++;
                continue;
            }

            return j;
        }

        return -1;
    }
}
