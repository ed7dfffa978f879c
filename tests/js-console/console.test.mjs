// The web console in headless Chromium (Debian's chromium, driven by puppeteer-core) against a real server: the binary
// in ARC_BINARY (scripts/test.sh passes the AOT one), default the Release build. Signs in, browses, charts the last hour,
// pages through 100,000 rows, cancels a query, reads an error, and fails on any error in the browser's console. The
// screenshot of the chart is left in artifacts/console.png (the README shows it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import { startServer } from '../js/server.mjs';

const root = new URL('../../', import.meta.url).pathname;
const binary = process.env.ARC_BINARY ?? `${root}src/Arc.Native/bin/Release/net10.0/arc-native`;
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const screenshot = `${root}artifacts/console.png`;

let server;
let browser;
let page;
const consoleErrors = [];
// Chromium reports a request answered 4xx as a console error; the one the bad-SQL step makes is expected.
const expectedErrors = [];

before(async () => {
  server = await startServer(binary);
  // Two hosts over the last hour, a point a minute, and a second measurement.
  const now = Math.floor(Date.now() / 1000);
  const lines = [];
  for (let i = 0; i < 60; i++) {
    const t = now - 3540 + i * 60;
    lines.push(`cpu,host=web-a usage=${(20 + 10 * Math.sin(i / 6)).toFixed(2)},cores=4i ${t}`);
    lines.push(`cpu,host=web-b usage=${(50 + 15 * Math.cos(i / 8)).toFixed(2)},cores=8i ${t}`);
  }
  lines.push(`mem,host=web-a used=1024i ${now}`);
  const written = await fetch(`${server.url}/write?db=telegraf&precision=s`, {
    method: 'POST', headers: { Authorization: `Bearer ${server.token}` }, body: lines.join('\n'),
  });
  assert.equal(written.status, 204, await written.text());

  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    // As root in a container Chromium's sandbox cannot start; the page is our own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--window-size=1400,900'],
    defaultViewport: { width: 1400, height: 900 },
  });
  page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const text = (selector) => page.$eval(selector, (e) => e.textContent);

test('the page comes from the binary with a strict policy', async () => {
  const response = await page.goto(`${server.url}/`, { waitUntil: 'load' });
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /default-src 'none'; script-src 'self'/);
  assert.equal(response.headers()['cache-control'], 'no-cache');
  // Every script and style is the server's own.
  const sources = await page.$$eval('script[src], link[rel=stylesheet]', (list) => list.map((e) => e.src || e.href));
  assert.ok(sources.length === 2 && sources.every((s) => s.startsWith(`${server.url}/console/`)), sources.join());
});

test('signs in with a token and lists the measurements', async () => {
  await page.waitForSelector('[data-testid=token]', { visible: true });
  await page.type('[data-testid=token]', server.token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=measurements] summary[data-measurement=cpu]', { visible: true });
  const names = await page.$$eval('[data-testid=measurements] summary[data-measurement]', (list) => list.map((e) => e.dataset.measurement));
  assert.deepEqual(names, ['cpu', 'mem']);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('arc-native.token')), server.token);
});

test('a measurement shows its columns with their roles and its time range', async () => {
  await page.click('[data-testid=measurements] summary[data-measurement=cpu]');
  await page.waitForSelector('.measurement[open] ul.columns li');
  const columns = await page.$$eval('.measurement[open] ul.columns li', (list) => list.map((e) => e.textContent));
  assert.deepEqual(columns, ['time time time', 'cores field integer', 'host tag tag', 'usage field float']);
  assert.match(await text('.measurement[open] .measurement-body p'), /^120 rows, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d → /);
});

test('the last hour is a table and a chart with one line per host', async () => {
  const buttons = await page.$$('.measurement[open] .actions button');
  await buttons[0].click(); // "Last hour"
  await page.waitForSelector('[data-testid=chart] canvas', { visible: true });
  assert.match(await text('#query-info'), /^120 rows in \d+ ms$/);
  const legend = await page.$$eval('[data-testid=chart] .u-legend .u-series .u-label', (list) => list.map((e) => e.textContent));
  assert.deepEqual(legend.slice(1).sort(), ['cores (web-a)', 'cores (web-b)', 'usage (web-a)', 'usage (web-b)']);
  mkdirSync(`${root}artifacts`, { recursive: true });
  await page.screenshot({ path: screenshot });

  await page.click('#show-table');
  const rows = await page.$$('[data-testid=results] tbody tr');
  assert.equal(rows.length, 100); // the first page
  const header = await page.$$eval('[data-testid=results] thead th', (list) => list.map((e) => e.textContent));
  assert.deepEqual(header, ['time', 'host', 'usage', 'cores']);
});

test('Ctrl+Enter runs the editor; 100,000 rows are paged', async (t) => {
  await page.click('[data-testid=sql]', { clickCount: 3 });
  await page.evaluate(() => { document.querySelector('[data-testid=sql]').value = ''; });
  await page.type('[data-testid=sql]', 'SELECT i, i * 0.5 AS half FROM range(100000) t(i) ORDER BY i');
  await page.keyboard.down('Control');
  await page.keyboard.press('Enter');
  await page.keyboard.up('Control');
  await page.waitForFunction(() => /^100,000 rows/.test(document.querySelector('#query-info').textContent));
  assert.equal((await page.$$('[data-testid=results] tbody tr')).length, 100);
  t.diagnostic(`100,000 rows fetched as Arrow, decoded and the first page shown: ${await text('#query-info')}`);
  assert.match(await text('.pager span'), /rows 1–100 of 100,000 · page 1 of 1,000/);
  const buttons = await page.$$('.pager button');
  await buttons[3].click(); // "Last »"
  await page.waitForFunction(() => document.querySelector('[data-testid=results] tbody tr td')?.textContent === '99900');
  assert.equal((await page.$$('[data-testid=results] tbody tr')).length, 100);
});

test('values keep their exact form: nanoseconds, decimals, 128-bit integers', async () => {
  await page.evaluate(() => {
    document.querySelector('[data-testid=sql]').value =
      "SELECT TIMESTAMP_NS '2024-05-01 12:00:00.123456789' AS t, 12.345::DECIMAL(10,3) AS d, -0.05::DECIMAL(4,2) AS small, -170141183460469231731687303715884105727::HUGEINT AS h, 'x,y' AS s";
  });
  await page.click('[data-testid=run]');
  await page.waitForFunction(() => /^(1 row in|failed)/.test(document.querySelector('#query-info').textContent));
  assert.match(await text('#query-info'), /^1 row in/, await text('#query-error'));
  await page.click('#show-table');
  const cells = await page.$$eval('[data-testid=results] tbody td', (list) => list.map((e) => e.textContent));
  assert.deepEqual(cells, ['2024-05-01 12:00:00.123456789', '12.345', '-0.05', '-170141183460469231731687303715884105727', 'x,y']);
});

test('a running query can be cancelled', async () => {
  await page.evaluate(() => { document.querySelector('[data-testid=sql]').value = 'SELECT sum(a.range * b.range) FROM range(100000000) a, range(1000) b'; });
  await page.click('[data-testid=run]');
  await page.waitForFunction(() => document.querySelector('#query-info').textContent === 'running…');
  await page.click('#cancel');
  await page.waitForFunction(() => /^cancelled after \d+ ms$/.test(document.querySelector('#query-info').textContent));
});

test('bad SQL shows the server\'s error', async () => {
  await page.evaluate(() => { document.querySelector('[data-testid=sql]').value = 'SELEC * FROM cpu'; });
  expectedErrors.push(/status of 400/);
  await page.click('[data-testid=run]');
  await page.waitForSelector('#query-error', { visible: true });
  const error = await text('#query-error');
  assert.match(error, /Parser Error: syntax error at or near "SELEC"/);
  assert.match(await text('#query-info'), /^failed after \d+ ms$/);
});

test('the status view reads the server\'s counters', async () => {
  await page.click('#show-status');
  await page.waitForFunction(() => document.querySelectorAll('#status-cards .card').length === 4);
  const cards = await page.$$eval('#status-cards .card', (list) => list.map((e) => e.textContent));
  assert.match(cards[0], /line protocol121 accepted/);
  assert.match(cards[1], /write-ahead log/);
  assert.match(cards[2], /Compaction/);
});

test('signing out forgets the token', async () => {
  await page.click('#sign-out');
  await page.waitForSelector('[data-testid=token]', { visible: true });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('arc-native.token')), null);
  assert.equal(await page.$$eval('[data-testid=measurements] *', (list) => list.length), 0);
});

test('no errors in the browser console', () => {
  const unexpected = consoleErrors.filter((message) => !expectedErrors.some((pattern) => pattern.test(message)));
  assert.deepEqual(unexpected, []);
  assert.ok(consoleErrors.length <= expectedErrors.length, consoleErrors.join('\n'));
});
