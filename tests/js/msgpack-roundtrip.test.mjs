// POST /api/v1/write/msgpack with bodies encoded by @msgpack/msgpack (an encoder independent of the server's reader),
// against the published AOT binary (ARC_BINARY, default artifacts/publish/arc-native), read back through SQL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { encode } from '@msgpack/msgpack';
import { startServer } from './server.mjs';

const binary = process.env.ARC_BINARY ?? new URL('../../artifacts/publish/arc-native', import.meta.url).pathname;
let server;

before(async () => {
  server = await startServer(binary, { ARC_INGEST_MAX_BUFFER_AGE_MS: '100' });
});

after(async () => {
  await server?.stop();
});

async function write(body, database, headers = {}) {
  const response = await fetch(`${server.url}/api/v1/write/msgpack`, {
    method: 'POST',
    // x-api-key, as Telegraf's outputs.arc sends its token.
    headers: { 'content-type': 'application/msgpack', 'x-arc-database': database, 'x-api-key': server.token, ...headers },
    body,
  });
  return { status: response.status, text: await response.text() };
}

// Rows of a query, waiting until the age-based flush made `expected` rows visible.
async function rows(sql, database, expected) {
  let last;
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${server.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-arc-database': database, authorization: `Bearer ${server.token}` },
      body: JSON.stringify({ sql }),
    });
    last = await response.json();
    if (response.ok && last.data.length >= expected) return last.data;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`query did not return ${expected} rows: ${JSON.stringify(last)}`);
}

test('columnar record with every column type', async () => {
  const body = encode({
    m: 'cpu',
    columns: {
      time: [1700000000000, 1700000001000, 1700000002000],
      host: ['a', 'b', null],
      usage: [0.5, 2, null], // 2 is encoded as an integer by JavaScript: the column is promoted to float
      count: [1, -2, 300000],
      big: [18446744073709551615n, 1n, null],
      ok: [true, false, null],
      note: ['x', null, 'é'],
    },
    tags: ['host'],
  }, { useBigInt64: true });
  assert.deepEqual(await write(body, 'js'), { status: 204, text: '' });
  const data = await rows('SELECT epoch_ms(time), host, usage, count, big::VARCHAR, ok, note FROM cpu ORDER BY time', 'js', 3);
  assert.deepEqual(data, [
    [1700000000000, 'a', 0.5, 1, '18446744073709551615', true, 'x'],
    [1700000001000, 'b', 2, -2, '1', false, null],
    [1700000002000, null, null, 300000, null, null, 'é'],
  ]);
  const types = await rows("SELECT column_name, column_type FROM (DESCRIBE cpu) WHERE column_name IN ('usage', 'count', 'big', 'host') ORDER BY 1", 'js', 4);
  assert.deepEqual(types, [['big', 'UBIGINT'], ['count', 'BIGINT'], ['host', 'VARCHAR'], ['usage', 'DOUBLE']]);
});

test('row form, compact fields, Date times and a gzip batch', async () => {
  const body = encode({
    batch: [
      { m: 'sys', t: 1700000000, h: 'server01', tags: { region: 'eu' }, fields: { load: 1.5, procs: 12, up: true, state: 'ok' } },
      { m: 'sys', t: new Date(Date.UTC(2023, 10, 14, 22, 13, 21, 250)), h: 'server02', f: [2.5, 7] },
    ],
  });
  assert.equal((await write(gzipSync(body), 'jsrows')).status, 204);
  const data = await rows('SELECT epoch_ms(time), host, region, load, procs, up, state, field_0, field_1 FROM sys ORDER BY time', 'jsrows', 2);
  assert.deepEqual(data, [
    [1700000000000, 'server01', 'eu', 1.5, 12, true, 'ok', null, null],
    [1700000001250, 'server02', null, null, null, null, null, 2.5, 7],
  ]);
});

test('top-level array like Telegraf outputs.arc, gzip with Content-Encoding', async () => {
  const body = encode([
    { m: 'disk', columns: { time: [1700000000000, 1700000010000], path: ['/', '/home'], used_percent: [41.5, 77.25] } },
    { m: 'net', columns: { time: [1700000000000], interface: ['eth0'], bytes_recv: [123456789] } },
  ]);
  assert.equal((await write(gzipSync(body), 'jstg', { 'content-encoding': 'gzip' })).status, 204);
  assert.deepEqual(await rows('SELECT path, used_percent FROM disk ORDER BY time', 'jstg', 2), [['/', 41.5], ['/home', 77.25]]);
  assert.deepEqual(await rows('SELECT interface, bytes_recv FROM net', 'jstg', 1), [['eth0', 123456789]]);
});

test('malformed bodies get 400 with the offset and store nothing', async () => {
  const good = encode({ m: 'bad', columns: { time: [1700000000000, 1700000001000], v: [1, 2] } });
  for (const cut of [1, 5, good.length - 1]) {
    const { status, text } = await write(good.subarray(0, cut), 'jsbad');
    assert.equal(status, 400);
    const error = JSON.parse(text);
    assert.equal(error.success, false);
    assert.match(error.error, /truncated/);
    assert.ok(Number.isInteger(error.offset) && error.offset >= 0 && error.offset <= cut);
  }
  const mismatched = encode({ m: 'bad', columns: { a: [1, 2], b: [1] } });
  const { status, text } = await write(mismatched, 'jsbad');
  assert.equal(status, 400);
  assert.equal(mismatched[JSON.parse(text).offset], 0x91);
  const tables = await rows('SHOW TABLES', 'jsbad', 0);
  assert.deepEqual(tables, []);
});

test('stats count the writes', async () => {
  const anonymous = await fetch(`${server.url}/api/v1/write/msgpack`, { method: 'POST', body: encode({ m: 'x', fields: { v: 1 } }) });
  assert.equal(anonymous.status, 401);
  const stats = await (await fetch(`${server.url}/api/v1/write/stats`, { headers: { authorization: `Bearer ${server.token}` } })).json();
  // 3 successful writes (3 + 2 + 3 records) and 4 rejected bodies, in the order the tests above ran.
  assert.equal(stats.msgpack.requests, 7);
  assert.equal(stats.msgpack.records_accepted, 8);
  assert.equal(stats.msgpack.errors, 4);
  assert.equal(stats.line_protocol.requests, 0);
});
