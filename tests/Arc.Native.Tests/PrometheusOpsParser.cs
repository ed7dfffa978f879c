using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Arc.Native.Tests;

/// <summary>One sample of a Prometheus text exposition.</summary>
public sealed record PromSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>A metric family: its TYPE, HELP and samples (including a histogram's _bucket/_sum/_count lines).</summary>
public sealed record PromFamily(string Name, string Type, string Help, List<PromSample> Samples);

/// <summary>
/// A strict parser of the Prometheus text format 0.0.4, as the tests hold <c>/metrics</c> to it: every line is a
/// <c># HELP</c>, a <c># TYPE</c> or a sample; each family has exactly one HELP and one TYPE, both before its samples, and
/// its lines are contiguous; names and label names match the grammar; label values use only the allowed escapes; values
/// parse as Go floats; histograms have ascending <c>le</c> buckets ending in +Inf, cumulative counts, and a _count equal
/// to the +Inf bucket; counters are non-negative; the text ends with a line feed.
/// </summary>
public static partial class PrometheusOpsParser
{
    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    public static Dictionary<string, PromFamily> Parse(string text)
    {
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        var families = new Dictionary<string, PromFamily>(StringComparer.Ordinal);
        var closed = new HashSet<string>(StringComparer.Ordinal);
        PromFamily? current = null;
        string? pendingHelp = null;
        var lineNumber = 0;
        foreach (var line in text[..^1].Split('\n'))
        {
            lineNumber++;
            var where = $"line {lineNumber}: {line}";
            Assert.False(string.IsNullOrWhiteSpace(line), $"{where}: blank line");
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                var rest = line[7..];
                var space = rest.IndexOf(' ', StringComparison.Ordinal);
                Assert.True(space > 0, where);
                var name = rest[..space];
                Assert.Matches(MetricName(), name);
                Assert.DoesNotContain(name, (IDictionary<string, PromFamily>)families);
                if (current is not null)
                {
                    closed.Add(current.Name);
                }

                pendingHelp = name;
                current = null;
                CheckHelpEscapes(rest[(space + 1)..], where);
                families[name] = new PromFamily(name, "", rest[(space + 1)..], []);
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line[7..].Split(' ');
                Assert.True(parts.Length == 2, where);
                Assert.True(pendingHelp == parts[0], $"{where}: TYPE without HELP right before it");
                Assert.Contains(parts[1], new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                current = families[parts[0]] with { Type = parts[1] };
                families[parts[0]] = current;
                pendingHelp = null;
                continue;
            }

            Assert.False(line.StartsWith('#'), $"{where}: unexpected comment");
            Assert.True(current is not null, $"{where}: sample before any TYPE line");
            var sample = ParseSample(line, where);
            var family = FamilyOf(sample.Name, families);
            Assert.True(family == current!.Name, $"{where}: sample of family '{family}' inside family '{current.Name}' (families must be contiguous)");
            Assert.DoesNotContain(family, closed);
            current.Samples.Add(sample);
        }

        foreach (var family in families.Values)
        {
            Assert.True(family.Type.Length > 0, $"{family.Name}: HELP without TYPE");
            Check(family);
        }

        return families;
    }

    private static string FamilyOf(string sample, Dictionary<string, PromFamily> families)
    {
        if (families.ContainsKey(sample))
        {
            return sample;
        }

        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (sample.EndsWith(suffix, StringComparison.Ordinal) && families.TryGetValue(sample[..^suffix.Length], out var family)
                && (family.Type is "histogram" || (family.Type is "summary" && suffix != "_bucket")))
            {
                return family.Name;
            }
        }

        Assert.Fail($"sample {sample} has no family");
        return "";
    }

    private static PromSample ParseSample(string line, string where)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var brace = line.IndexOf('{', StringComparison.Ordinal);
        string name;
        string rest;
        if (brace >= 0)
        {
            name = line[..brace];
            var i = brace + 1;
            while (line[i] != '}')
            {
                var equals = line.IndexOf('=', i);
                var labelName = line[i..equals];
                Assert.Matches(LabelName(), labelName);
                Assert.True(line[equals + 1] == '"', $"{where}: label value not quoted");
                var value = new StringBuilder();
                var j = equals + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        value.Append(line[j] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new Xunit.Sdk.XunitException($"{where}: bad escape \\{line[j]}"),
                        });
                    }
                    else
                    {
                        value.Append(line[j]);
                    }
                }

                Assert.True(labels.TryAdd(labelName, value.ToString()), $"{where}: label {labelName} twice");
                i = j + 1;
                if (line[i] == ',')
                {
                    i++;
                }
                else
                {
                    Assert.True(line[i] == '}', $"{where}: expected , or }}");
                }
            }

            rest = line[(i + 1)..];
        }
        else
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            name = line[..space];
            rest = line[space..];
        }

        Assert.Matches(MetricName(), name);
        Assert.True(rest.StartsWith(' ') && !rest[1..].Contains(' ', StringComparison.Ordinal), $"{where}: expected one space then the value (no timestamps)");
        return new PromSample(name, labels, Value(rest[1..], where));
    }

    private static double Value(string text, string where) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : throw new Xunit.Sdk.XunitException($"{where}: bad value"),
    };

    private static void CheckHelpEscapes(string help, string where)
    {
        for (var i = 0; i < help.Length; i++)
        {
            if (help[i] == '\\')
            {
                Assert.True(i + 1 < help.Length && help[i + 1] is '\\' or 'n', $"{where}: bad escape in HELP");
                i++;
            }
        }
    }

    private static void Check(PromFamily family)
    {
        if (family.Type == "counter")
        {
            Assert.All(family.Samples, s => Assert.True(s.Value >= 0, $"{family.Name}: negative counter"));
        }

        if (family.Type != "histogram")
        {
            return;
        }

        // Group the bucket lines of each series (same labels but le) and check their shape.
        foreach (var series in family.Samples.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal))
                     .GroupBy(s => string.Join(',', s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value))))
        {
            var buckets = series.ToList();
            var bounds = buckets.Select(b => Value(b.Labels["le"], family.Name)).ToList();
            Assert.True(double.IsPositiveInfinity(bounds[^1]), $"{family.Name}{{{series.Key}}}: last bucket is not +Inf");
            for (var i = 1; i < buckets.Count; i++)
            {
                Assert.True(bounds[i] > bounds[i - 1], $"{family.Name}{{{series.Key}}}: le not ascending");
                Assert.True(buckets[i].Value >= buckets[i - 1].Value, $"{family.Name}{{{series.Key}}}: buckets not cumulative");
            }

            var labels = buckets[0].Labels.Where(l => l.Key != "le").ToDictionary(l => l.Key, l => l.Value, StringComparer.Ordinal);
            bool Same(PromSample s) => s.Labels.Count == labels.Count && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value);
            var count = Assert.Single(family.Samples, s => s.Name == family.Name + "_count" && Same(s));
            Assert.Single(family.Samples, s => s.Name == family.Name + "_sum" && Same(s));
            Assert.Equal(buckets[^1].Value, count.Value);
        }
    }
}
