using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using MessagePack;

namespace Arc.Native.Tests;

/// <summary>Requests to the query output endpoints, and independent decoders for what they return.</summary>
internal static class QueryOutputHelpers
{
    /// <summary>Every DuckDB type the outputs handle, one row (the JSON endpoint's type test, with names).</summary>
    public const string AllTypesSql = """
        SELECT true AS b, 1::TINYINT AS i8, -2::SMALLINT AS i16, 3::INTEGER AS i32, 9223372036854775807::BIGINT AS i64,
               255::UTINYINT AS u8, 65535::USMALLINT AS u16, 4294967295::UINTEGER AS u32, 18446744073709551615::UBIGINT AS u64,
               170141183460469231731687303715884105727::HUGEINT AS i128, 1.5::FLOAT AS f32, 'NaN'::DOUBLE AS f64,
               123.4500::DECIMAL(9,4) AS dec, 42::DECIMAL(18,0) AS dec0, 'é",x' || chr(10) || 'y' AS s, '\xAA\xBB'::BLOB AS bin,
               DATE '2024-02-29' AS d, TIME '13:45:01.5' AS t, TIMESTAMP '2024-01-02 03:04:05.123456' AS ts,
               TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tstz, '2024-01-02 03:04:05.000000001'::TIMESTAMP_NS AS tsns,
               TIMESTAMP_MS '2024-01-02 03:04:05.120' AS tsms, TIMESTAMP_S '1969-12-31 23:59:59' AS tss,
               INTERVAL '1 month 2 days 3.5 seconds' AS iv, '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS u, [1, NULL, 3] AS l,
               {'a': 1, 'b': 'x'} AS st, MAP {'k': 1} AS m, [1, 2]::INTEGER[2] AS arr, 'b'::ENUM('a', 'b') AS e, NULL::INTEGER AS n
        """;

    public static HttpRequestMessage Request(string path, string sql, string? database = null, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(TestServer.SqlBody(sql), Encoding.UTF8,
                new MediaTypeHeaderValue("application/json")),
        };
        if (database is not null)
        {
            request.Headers.Add("x-arc-database", database);
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    public static async Task<(int Status, byte[] Body, HttpResponseMessage Response)> PostAsync(TestServer server, string path, string sql,
        string? database = null, params (string Name, string Value)[] headers)
    {
        var response = await server.Client.SendAsync(Request(path, sql, database, headers));
        var body = await response.Content.ReadAsByteArrayAsync();
        return ((int)response.StatusCode, body, response);
    }

    /// <summary>The repository root (where arc-native.sln is).</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "arc-native.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("arc-native.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// Decodes an Arrow IPC stream with Arrow JS (tests/js-arrow/read-arrow.mjs under node): an implementation that shares
    /// no code with the server. Its packages are installed by scripts/test.sh (npm ci).
    /// </summary>
    public static JsonElement ReadWithArrowJs(byte[] arrow, int maxRows = 1000)
    {
        var folder = Path.Combine(RepositoryRoot(), "tests", "js-arrow");
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "apache-arrow")),
            "tests/js-arrow/node_modules is missing: run scripts/test.sh (or `npm ci` in tests/js-arrow)");
        var file = Path.Combine(Path.GetTempPath(), $"arc-arrow-{Guid.NewGuid():N}.arrows");
        File.WriteAllBytes(file, arrow);
        try
        {
            var start = new ProcessStartInfo("node")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = folder,
            };
            start.ArgumentList.Add("read-arrow.mjs");
            start.ArgumentList.Add(file);
            start.ArgumentList.Add(maxRows.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(60_000), "node did not finish");
            Assert.True(process.ExitCode == 0, $"Arrow JS failed to read the stream: {stderr.Result}");
            return JsonDocument.Parse(stdout.Result).RootElement.Clone();
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>A MessagePack timestamp extension value.</summary>
    public readonly record struct MsgPackTimestamp(long Seconds, uint Nanoseconds);

    /// <summary>
    /// Decodes MessagePack with MessagePack-CSharp's reader (the oracle) into plain objects: maps as ordered key/value lists,
    /// arrays as object lists, ints as long/ulong, floats as float/double, str as string, bin as byte[], and the timestamp
    /// extension (type -1) as <see cref="MsgPackTimestamp"/> decoded by hand from its raw bytes.
    /// </summary>
    public static object? DecodeMsgPack(byte[] bytes)
    {
        var reader = new MessagePackReader(new ReadOnlySequence<byte>(bytes));
        var value = Read(ref reader);
        Assert.True(reader.End, "trailing bytes after the MessagePack document");
        return value;
    }

    private static object? Read(ref MessagePackReader reader)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                return null;
            case MessagePackType.Boolean:
                return reader.ReadBoolean();
            case MessagePackType.Integer:
                if (reader.NextCode is MessagePackCode.UInt64)
                {
                    // Compact writers use uint 64 for any positive value past 32 bits; normalise what fits a long.
                    var unsigned = reader.ReadUInt64();
                    return unsigned <= long.MaxValue ? (long)unsigned : unsigned;
                }

                return reader.ReadInt64();
            case MessagePackType.Float:
                return reader.NextCode == MessagePackCode.Float32 ? (object)reader.ReadSingle() : reader.ReadDouble();
            case MessagePackType.String:
                return reader.ReadString();
            case MessagePackType.Binary:
                return reader.ReadBytes()!.Value.ToArray();
            case MessagePackType.Array:
                {
                    var count = reader.ReadArrayHeader();
                    var list = new List<object?>(count);
                    for (var i = 0; i < count; i++)
                    {
                        list.Add(Read(ref reader));
                    }

                    return list;
                }

            case MessagePackType.Map:
                {
                    var count = reader.ReadMapHeader();
                    var map = new List<KeyValuePair<object?, object?>>(count);
                    for (var i = 0; i < count; i++)
                    {
                        var key = Read(ref reader);
                        map.Add(new KeyValuePair<object?, object?>(key, Read(ref reader)));
                    }

                    return map;
                }

            case MessagePackType.Extension:
                {
                    var header = reader.ReadExtensionFormatHeader();
                    Assert.Equal(-1, header.TypeCode);
                    var data = reader.ReadRaw(header.Length).ToArray();
                    return data.Length switch
                    {
                        4 => new MsgPackTimestamp(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data), 0),
                        8 => new MsgPackTimestamp((long)(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(data) & 0x3_ffff_ffffUL),
                            (uint)(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(data) >> 34)),
                        12 => new MsgPackTimestamp(System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(data.AsSpan(4)),
                            System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data)),
                        _ => throw new InvalidDataException($"timestamp extension of {data.Length} bytes"),
                    };
                }

            default:
                throw new InvalidDataException($"unexpected MessagePack type {reader.NextMessagePackType}");
        }
    }

    /// <summary>The value of <paramref name="key"/> in a decoded map.</summary>
    public static object? Get(object? map, string key) =>
        ((List<KeyValuePair<object?, object?>>)map!).Single(p => (string?)p.Key == key).Value;

    public static List<object?> List(object? value) => (List<object?>)value!;
}
