namespace Arc.Native.Http;

/// <summary>The body of <c>GET /api/v1/write/msgpack/spec</c>: the accepted MessagePack format, as JSON.</summary>
internal static class MsgPackSpec
{
    public const string Json = """
        {
          "version": "2.0",
          "protocol": "MessagePack",
          "endpoint": "POST /api/v1/write/msgpack",
          "content_type": "application/msgpack",
          "database": "x-arc-database header (default \"default\")",
          "authentication": "a token with the write permission and the database in its scope: x-api-key (as Telegraf sends it), Authorization: Bearer/Token/Basic, or ?p=",
          "compression": "detected from the body's first bytes, not from headers: 1f 8b gzip, 28 b5 2f fd zstd, anything else raw MessagePack; the decompressed size is capped by ingest.max_decompressed_size (413 above)",
          "responses": {
            "204": "every record was stored",
            "400": "{\"success\":false,\"error\":\"...\",\"offset\":N}: N is the byte offset, in the decompressed body, of the value that is wrong; nothing of the body was stored",
            "413": "body larger than server.max_payload_size, decompressed larger than ingest.max_decompressed_size, or more than 10,000,000 rows",
            "415": "a Content-Encoding other than gzip, zstd or identity"
          },
          "shapes": {
            "columnar": {
              "example": {"m": "cpu", "columns": {"time": [1700000000000, 1700000001000], "host": ["a", "b"], "usage": [0.5, 0.75]}, "tags": ["host"]},
              "m": "measurement name (string, ^[a-zA-Z][a-zA-Z0-9_-]*$)",
              "columns": "map of column name to array; all arrays have the same length, one row per index",
              "tags": "optional array naming the string columns that are tags (Arc's 'tag_keys' is accepted too); other string columns are string fields",
              "time": "optional column; without it every row gets the server's time"
            },
            "row": {
              "example": {"m": "cpu", "t": 1700000000000, "h": "server01", "tags": {"region": "eu"}, "fields": {"usage": 0.5}},
              "m": "measurement name",
              "t": "optional time (nil or absent: the server's time)",
              "h": "optional tag 'host'",
              "tags": "optional map of tag name to string",
              "fields": "map of field name to value (or 'f': an array of values named field_0, field_1, ...)"
            },
            "batch": {
              "example": {"batch": [{"m": "cpu", "columns": {"usage": [1.5]}}, {"m": "mem", "fields": {"used": 1024}}]},
              "note": "{\"batch\": [...]} or a top-level array; items are columnar or row records"
            }
          },
          "time": "an integer or float epoch whose unit is detected from its absolute value, value by value: below 1e10 seconds, below 1e13 milliseconds, below 1e16 microseconds, else nanoseconds; or a MessagePack timestamp (extension -1). A nil or non-numeric time in a time column is an error, and so is a time outside 1677-09-22 to 2262-04-11 (what a nanosecond timestamp holds)",
          "types": {
            "integer": "any int/uint width: a BIGINT field, or UBIGINT when a value exceeds 2^63-1",
            "float": "float32/float64: a DOUBLE field; a column with any float is all DOUBLE (its integers are converted)",
            "boolean": "a BOOLEAN field",
            "string": "a VARCHAR field, or a tag when named in 'tags' (valid UTF-8)",
            "nil": "null in that row; a column of nils only is not created",
            "widening": "integers are accepted into an existing DOUBLE column, non-negative integers into an existing UBIGINT column",
            "rejected": "columns mixing strings, booleans and numbers; binary, extension, array and map values"
          },
          "rules": "all or nothing per request; the line-protocol schema rules apply: a field keeps its first type, tags and fields cannot swap, names are unique ignoring case, 'time' is reserved",
          "stats": "GET /api/v1/write/stats (also at /api/v1/write/msgpack/stats): requests, records accepted and rejected, bytes received and errors per format"
        }
        """;
}
