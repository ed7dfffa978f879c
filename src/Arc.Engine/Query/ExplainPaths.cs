namespace Arc.Engine.Query;

/// <summary>
/// Hides the data directory in a plan DuckDB printed: <c>EXPLAIN ANALYZE</c> names the Parquet files it read
/// (<c>Filename(s)</c>) by absolute path, which tells a caller the server's filesystem layout. Each occurrence of the
/// directory becomes <see cref="Placeholder"/>, so <c>/srv/arc/data/db/cpu/…</c> reads <c>&lt;data&gt;/db/cpu/…</c>. DuckDB's
/// text format draws every operator as a box of <see cref="BoxWidth"/> characters, side by side, and wraps a long value
/// over the lines of its box; there the directory is found in each box column's lines read one after another, and
/// replaced in place, padded with spaces to its length, so the boxes stay drawn as they were.
/// </summary>
internal static class ExplainPaths
{
    public const string Placeholder = "<data>";

    /// <summary>The width of an operator's box in DuckDB's text rendering (its <c>node_render_width</c>).</summary>
    private const int BoxWidth = 29;

    public static string Hide(string text, string directory)
    {
        directory = Path.TrimEndingDirectorySeparator(directory);
        if (directory.Length == 0)
        {
            return text;
        }

        return text.Contains('┌', StringComparison.Ordinal) ? HideInBoxes(text, directory) : text.Replace(directory, Placeholder, StringComparison.Ordinal);
    }

    private static string HideInBoxes(string text, string directory)
    {
        var lines = text.Split('\n').Select(l => l.ToCharArray()).ToArray();
        var columns = lines.Max(l => l.Length) / BoxWidth + 1;
        var compact = directory.Replace(" ", "", StringComparison.Ordinal);
        for (var column = 0; column < columns; column++)
        {
            // The box's inner characters of every line, in reading order, and where each came from.
            var stream = new System.Text.StringBuilder();
            var origin = new List<(int Line, int Position)>();
            var start = (column * BoxWidth) + 1;
            for (var line = 0; line < lines.Length; line++)
            {
                var end = Math.Min((column + 1) * BoxWidth - 1, lines[line].Length);
                for (var i = start; i < end; i++)
                {
                    if (lines[line][i] != ' ')
                    {
                        stream.Append(lines[line][i]);
                        origin.Add((line, i));
                    }
                }
            }

            var found = stream.ToString();
            for (var at = found.IndexOf(compact, StringComparison.Ordinal); at >= 0; at = found.IndexOf(compact, at + compact.Length, StringComparison.Ordinal))
            {
                for (var k = 0; k < compact.Length; k++)
                {
                    var (line, position) = origin[at + k];
                    lines[line][position] = k < Placeholder.Length ? Placeholder[k] : ' ';
                }
            }
        }

        return string.Join('\n', lines.Select(l => new string(l)));
    }
}
