// Reads an Arrow IPC stream (a file path, or stdin) with Arrow JS and prints what it decoded as one JSON document:
// the schema, the batch and row counts, the rows (values made JSON-safe: bigint and int64 timestamps as strings, binary
// as base64) and, for timestamp columns, the raw int64 values. Compressed bodies (zstd, lz4 frame) are decoded with the
// pure-JS codecs registered below. Usage: node read-arrow.mjs [file] [maxRows]
import { readFileSync } from 'node:fs';
import { tableFromIPC, compressionRegistry, CompressionType, Type } from 'apache-arrow';
import * as fzstd from 'fzstd';
import lz4 from 'lz4js';

// Arrow JS builds typed arrays over the decoded buffers in place, so each must start at an aligned offset (fzstd may
// return a view into a larger buffer).
const aligned = (bytes) => (bytes.byteOffset % 8 === 0 && bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
compressionRegistry.set(CompressionType.ZSTD, { decode: (data) => aligned(fzstd.decompress(data)) });
compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: (data) => aligned(lz4.decompress(data)) });

const read = process.argv[2] && process.argv[2] !== '-' ? readFileSync(process.argv[2]) : readFileSync(0);
// A fresh buffer at offset 0: Arrow JS views uncompressed buffers of a compressed stream in place, and typed arrays
// over them need the input's own alignment.
const input = new Uint8Array(read.byteLength);
input.set(read);
const maxRows = Number(process.argv[3] ?? 1000);
const table = tableFromIPC(input);

function plain(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (ArrayBuffer.isView(value)) return Array.from(value, plain);
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
  if (typeof value === 'object' && typeof value.toJSON === 'function') return plain(value.toJSON());
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const fields = table.schema.fields.map((f) => ({ name: f.name, type: String(f.type), typeId: Type[f.typeId] ?? String(f.typeId), nullable: f.nullable }));
const rows = [];
for (let i = 0; i < Math.min(table.numRows, maxRows); i++) {
  rows.push(table.schema.fields.map((_, c) => plain(table.getChildAt(c).get(i))));
}

const raw = {};
table.schema.fields.forEach((f, c) => {
  if (f.typeId === Type.Timestamp || String(f.type).startsWith('Timestamp')) {
    const values = [];
    for (const data of table.getChildAt(c).data) {
      for (let i = 0; i < data.length && values.length < maxRows; i++) {
        values.push(data.getValid(i) ? data.values[i].toString() : null);
      }
    }
    raw[f.name] = values;
  }
});

process.stdout.write(JSON.stringify({ fields, numRows: table.numRows, numBatches: table.batches.length, rows, raw }));
