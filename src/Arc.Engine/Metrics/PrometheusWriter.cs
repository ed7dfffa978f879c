using System.Globalization;
using System.Text;

namespace Arc.Engine.Metrics;

/// <summary>
/// Writes the Prometheus text exposition format (version 0.0.4): for each metric family one <c># HELP</c> and one
/// <c># TYPE</c> line, then its samples, <c>name{label="value",...} value</c>. Families must be written contiguously.
/// Label values and help text are escaped as the format requires (backslash, double quote, line feed).
/// </summary>
public sealed class PrometheusWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _text = new(16 * 1024);
    private readonly HashSet<string> _families = new(StringComparer.Ordinal);
    private string? _current;

    /// <summary>Declares a family (<c>counter</c>, <c>gauge</c>, <c>histogram</c> or <c>summary</c>); only the first declaration is written.</summary>
    public PrometheusWriter Family(string name, string type, string help)
    {
        _current = name;
        if (_families.Add(name))
        {
            _text.Append("# HELP ").Append(name).Append(' ');
            foreach (var c in help)
            {
                _ = c switch
                {
                    '\\' => _text.Append("\\\\"),
                    '\n' => _text.Append("\\n"),
                    _ => _text.Append(c),
                };
            }

            _text.Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        }

        return this;
    }

    /// <summary>One sample line; <paramref name="labels"/> are (name, value) pairs.</summary>
    public PrometheusWriter Sample(string name, double value, params (string Name, string Value)[] labels)
    {
        CheckFamily(name);
        _text.Append(name);
        WriteLabels(labels, null);
        _text.Append(' ').Append(Format(value)).Append('\n');
        return this;
    }

    public PrometheusWriter Sample(string name, long value, params (string Name, string Value)[] labels)
    {
        CheckFamily(name);
        _text.Append(name);
        WriteLabels(labels, null);
        _text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return this;
    }

    /// <summary>A family with one sample per item, labelled <paramref name="label"/> with the item's label value.</summary>
    public PrometheusWriter Labelled<T>(string name, string type, string help, string label, IEnumerable<(string Value, T Item)> items, Func<T, long> sample)
    {
        Family(name, type, help);
        foreach (var (value, item) in items)
        {
            Sample(name, sample(item), (label, value));
        }

        return this;
    }

    /// <summary>A family with a single unlabeled sample.</summary>
    public PrometheusWriter Counter(string name, string help, long value) => Family(name, "counter", help).Sample(name, value);

    public PrometheusWriter Gauge(string name, string help, double value) => Family(name, "gauge", help).Sample(name, value);

    /// <summary>The <c>_bucket</c> (cumulative, <c>le</c> ascending, ending with +Inf), <c>_sum</c> and <c>_count</c> lines of one histogram.</summary>
    public PrometheusWriter Histogram(string name, Histogram histogram, params (string Name, string Value)[] labels)
    {
        CheckFamily(name);
        long cumulative = 0;
        var bounds = histogram.Bounds;
        for (var i = 0; i <= bounds.Length; i++)
        {
            cumulative += histogram.BucketCount(i);
            _text.Append(name).Append("_bucket");
            WriteLabels(labels, i < bounds.Length ? Format(bounds[i]) : "+Inf");
            _text.Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        // The count is the +Inf bucket, so the two agree even when observations land while this runs.
        _text.Append(name).Append("_sum");
        WriteLabels(labels, null);
        _text.Append(' ').Append(Format(histogram.Sum)).Append('\n');
        _text.Append(name).Append("_count");
        WriteLabels(labels, null);
        _text.Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return this;
    }

    public override string ToString() => _text.ToString();

    /// <summary>A sample must belong to the family declared last (its name, or a summary's <c>_sum</c>/<c>_count</c>).</summary>
    private void CheckFamily(string name)
    {
        if (_current is null || !(name == _current || name == _current + "_sum" || name == _current + "_count"))
        {
            throw new InvalidOperationException($"sample {name} written outside its family (the current family is {_current ?? "none"})");
        }
    }

    private void WriteLabels((string Name, string Value)[] labels, string? le)
    {
        if (labels.Length == 0 && le is null)
        {
            return;
        }

        _text.Append('{');
        var first = true;
        foreach (var (labelName, value) in labels)
        {
            if (!first)
            {
                _text.Append(',');
            }

            first = false;
            _text.Append(labelName).Append("=\"");
            foreach (var c in value)
            {
                _ = c switch
                {
                    '\\' => _text.Append("\\\\"),
                    '"' => _text.Append("\\\""),
                    '\n' => _text.Append("\\n"),
                    _ => _text.Append(c),
                };
            }

            _text.Append('"');
        }

        if (le is not null)
        {
            _text.Append(first ? "" : ",").Append("le=\"").Append(le).Append('"');
        }

        _text.Append('}');
    }

    /// <summary>Go's float syntax as Prometheus parses it: shortest round-trip digits, <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>.</summary>
    public static string Format(double value) =>
        double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : value.ToString("R", CultureInfo.InvariantCulture);
}
