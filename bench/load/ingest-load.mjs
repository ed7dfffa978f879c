// Load figure: records/s into a running arc-native over HTTP, MessagePack columnar against line protocol carrying the same
// records, measured the same way in the same run. Starts the binary itself (default: the AOT build) on a free loopback
// port over a temporary data directory; N concurrent clients POST a prebuilt body of R records (time, a host tag and
// three float fields) for S seconds per format, after a warm-up. Bounded in time; only 127.0.0.1 is contacted.
//
//   node bench/load/ingest-load.mjs [--binary artifacts/publish/arc-native] [--seconds 10] [--clients 4] [--records 10000]
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { startServer } from '../../tests/js/server.mjs';

const { values: args } = parseArgs({
  options: {
    binary: { type: 'string', default: new URL('../../artifacts/publish/arc-native', import.meta.url).pathname },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    clients: { type: 'string', default: '4' },
    records: { type: 'string', default: '10000' },
  },
});
const seconds = Number(args.seconds);
const clients = Number(args.clients);
const records = Number(args.records);

const hosts = Array.from({ length: 100 }, (_, i) => `server-${String(i).padStart(3, '0')}`);
const fields = {
  usage_user: (i) => (i % 1000) / 10 + 0.25,
  usage_system: (i) => (i % 37) * 0.5 + 0.125,
  usage_idle: (i) => 100 - (i % 1000) / 10 - 0.5,
};

// A minimal MessagePack writer for the columnar body (maps, arrays, strings, int64, float64): the same bytes any
// encoder that keeps integers and floats apart would produce.
class Writer {
  constructor(size) { this.buf = Buffer.alloc(size); this.at = 0; }
  map(n) { return this.header(n, 0x80, 0xdf); }
  array(n) { return this.header(n, 0x90, 0xdd); }
  header(n, fix, code32) {
    if (n < 16) { this.buf[this.at++] = fix | n; } else { this.buf[this.at++] = code32; this.buf.writeUInt32BE(n, this.at); this.at += 4; }
    return this;
  }
  str(s) { const b = Buffer.from(s); this.buf[this.at++] = 0xa0 | b.length; b.copy(this.buf, this.at); this.at += b.length; return this; }
  int64(v) { this.buf[this.at++] = 0xd3; this.buf.writeBigInt64BE(BigInt(v), this.at); this.at += 8; return this; }
  float64(v) { this.buf[this.at++] = 0xcb; this.buf.writeDoubleBE(v, this.at); this.at += 8; return this; }
  bytes() { return this.buf.subarray(0, this.at); }
}

function columnar() {
  const w = new Writer(records * 64 + 1024);
  w.map(3).str('m').str('cpu').str('tags').array(1).str('host').str('columns').map(5);
  w.str('time').array(records);
  for (let i = 0; i < records; i++) w.int64(1_700_000_000_000 + i);
  w.str('host').array(records);
  for (let i = 0; i < records; i++) w.str(hosts[i % hosts.length]);
  for (const [name, value] of Object.entries(fields)) {
    w.str(name).array(records);
    for (let i = 0; i < records; i++) w.float64(value(i));
  }
  return Buffer.from(w.bytes());
}

function lineProtocol() {
  const lines = [];
  for (let i = 0; i < records; i++) {
    const values = Object.entries(fields).map(([name, value]) => `${name}=${value(i)}`).join(',');
    lines.push(`cpu,host=${hosts[i % hosts.length]} ${values} ${BigInt(1_700_000_000_000 + i) * 1_000_000n}`);
  }
  return Buffer.from(lines.join('\n') + '\n');
}

async function run(server, name, path, body, headers) {
  const post = async () => {
    const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${server.token}` }, body });
    if (response.status !== 204) throw new Error(`${name}: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
  };
  const loop = async (until, latencies) => {
    let sent = 0;
    while (performance.now() < until) {
      const start = performance.now();
      await post();
      latencies?.push(performance.now() - start);
      sent++;
    }
    return sent;
  };
  await Promise.all(Array.from({ length: clients }, () => loop(performance.now() + Number(args.warmup) * 1000)));
  const latencies = [];
  const start = performance.now();
  const counts = await Promise.all(Array.from({ length: clients }, () => loop(start + seconds * 1000, latencies)));
  const elapsed = (performance.now() - start) / 1000;
  const requests = counts.reduce((a, b) => a + b, 0);
  latencies.sort((a, b) => a - b);
  return {
    format: name,
    body_bytes: body.length,
    requests,
    records_per_s: Math.round((requests * records) / elapsed),
    mb_per_s: +((requests * body.length) / elapsed / 1e6).toFixed(1),
    p50_ms: +latencies[Math.floor(latencies.length / 2)].toFixed(1),
  };
}

const server = await startServer(args.binary);
try {
  const mp = columnar();
  const lp = lineProtocol();
  const results = [];
  results.push(await run(server, 'line protocol', '/api/v1/write/line-protocol', lp, { 'x-arc-database': 'load_lp' }));
  results.push(await run(server, 'msgpack columnar', '/api/v1/write/msgpack', mp, { 'x-arc-database': 'load_mp', 'content-type': 'application/msgpack' }));
  results.push(await run(server, 'line protocol, gzip', '/api/v1/write/line-protocol', gzipSync(lp), { 'x-arc-database': 'load_lpz', 'content-encoding': 'gzip' }));
  results.push(await run(server, 'msgpack columnar, gzip', '/api/v1/write/msgpack', gzipSync(mp), { 'x-arc-database': 'load_mpz', 'content-type': 'application/msgpack', 'content-encoding': 'gzip' }));
  console.table(results);
  const byName = Object.fromEntries(results.map((r) => [r.format, r.records_per_s]));
  console.log(`msgpack columnar / line protocol: ${(byName['msgpack columnar'] / byName['line protocol']).toFixed(2)}x; ` +
    `gzip: ${(byName['msgpack columnar, gzip'] / byName['line protocol, gzip']).toFixed(2)}x ` +
    `(${records} records per request, ${clients} clients, ${seconds} s each)`);
  const stats = await (await fetch(`${server.url}/api/v1/write/stats`, { headers: { authorization: `Bearer ${server.token}` } })).json();
  console.log(JSON.stringify(stats));
} finally {
  await server.stop();
}
