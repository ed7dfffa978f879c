using System.Globalization;
using System.Text;
using Arc.Protocol.LineProtocol;

namespace Arc.Protocol.Tests.LineProtocol;

/// <summary>Renders every callback to a canonical string, so whole results can be compared across feeding modes.</summary>
internal struct RecordingHandler : ILineProtocolHandler
{
    public RecordingHandler(bool includeRaw)
    {
        Events = [];
        IncludeRaw = includeRaw;
    }

    public List<string> Events { get; }

    public bool IncludeRaw { get; }

    public readonly void OnPoint(in LinePoint point)
    {
        var sb = new StringBuilder();
        sb.Append('P').Append(point.LineNumber).Append(' ').Append(Text(point.Measurement));
        for (var i = 0; i < point.TagCount; i++)
        {
            var tag = point.GetTag(i);
            sb.Append(i == 0 ? " [" : ",").Append(Text(tag.Key)).Append('=').Append(Text(tag.Value)).Append('@').Append(tag.Column);
        }

        if (point.TagCount > 0)
        {
            sb.Append(']');
        }

        sb.Append(' ');
        for (var i = 0; i < point.FieldCount; i++)
        {
            var field = point.GetField(i);
            if (i > 0)
            {
                sb.Append(',');
            }

            sb.Append(Text(field.Key)).Append('@').Append(field.Column).Append('=');
            sb.Append(field.Type switch
            {
                FieldType.Float => "F" + FormatDouble(field.Float),
                FieldType.Integer => "I" + field.Integer.ToString(CultureInfo.InvariantCulture),
                FieldType.UInteger => "U" + field.UInteger.ToString(CultureInfo.InvariantCulture),
                FieldType.Boolean => field.Boolean ? "true" : "false",
                FieldType.String => "\"" + Text(field.String) + "\"",
                _ => "?",
            });
        }

        sb.Append(point.HasTimestamp ? " ts=" : " default=").Append(point.Timestamp);
        if (IncludeRaw)
        {
            sb.Append(" raw=").Append(Text(point.Line));
        }

        Events.Add(sb.ToString());
    }

    public readonly void OnError(in LineProtocolError error)
    {
        Events.Add($"E{error.Line}:{error.Column} {error.Kind}{(error.Detail is null ? "" : " <" + error.Detail + ">")} {error.Message}");
    }

    public static string FormatDouble(double d)
        => d == 0 && double.IsNegative(d) ? "-0" : d.ToString("R", CultureInfo.InvariantCulture);

    public static string Text(ReadOnlySpan<byte> bytes)
        => Encoding.UTF8.GetString(bytes).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);
}
