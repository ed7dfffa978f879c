// The console: sign-in, the measurement browser, the SQL editor with its results (table, chart, exports) and the
// status view. Everything it shows comes from the server's API with the signed-in token.
import { ApiError, getJson, queryArrow, queryJson, quoteIdentifier, request, session } from './api.js';
import { chartable, renderChart } from './chart.js';
import { Result, download, renderTable } from './results.js';
import { renderStatus } from './status.js';
import './style.css';

const $ = (id) => document.getElementById(id);
const historyKey = 'arc-native.history';
const maxHistory = 50;

const state = { result: null, page: 0, running: null, chart: null, view: 'table' };

// ---- sign-in ----

async function start() {
  // A token from earlier in this tab is tried again; without one the sign-in form shows (asking the server first would
  // only earn a 401).
  if (session.token && (await signedIn())) {
    showConsole();
  } else {
    session.token = null;
    showSignIn();
  }
}

async function signedIn() {
  try {
    await request('/api/v1/databases');
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return false;
    throw e;
  }
}

function showSignIn(message) {
  $('nav').hidden = true;
  $('query-view').hidden = true;
  $('status-view').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').hidden = !message;
  $('sign-in-error').textContent = message ?? '';
  $('token').focus();
}

$('sign-in').addEventListener('submit', async (event) => {
  event.preventDefault();
  session.token = $('token').value.trim();
  try {
    if (await signedIn()) {
      $('token').value = '';
      showConsole();
      return;
    }
    session.token = null;
    showSignIn('The server refused this token (invalid, expired or revoked).');
  } catch (e) {
    session.token = null;
    showSignIn(e.message);
  }
});

window.addEventListener('arc-token-refused', () => signOut('The server no longer accepts this token (expired or revoked): sign in again.'));
$('sign-out').addEventListener('click', () => signOut());

function signOut(message) {
  session.token = null;
  state.result = null;
  $('measurements').replaceChildren();
  $('table-view').replaceChildren();
  $('chart-view').replaceChildren();
  $('result-bar').hidden = true;
  showSignIn(message);
}

function showConsole() {
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  showView('query');
  loadBrowser();
  loadHistory();
}

function showView(view) {
  $('query-view').hidden = view !== 'query';
  $('status-view').hidden = view !== 'status';
  $('show-query').classList.toggle('active', view === 'query');
  $('show-status').classList.toggle('active', view === 'status');
  if (view === 'status') refreshStatus();
}

$('show-query').addEventListener('click', () => showView('query'));
$('show-status').addEventListener('click', () => showView('status'));

// ---- the measurement browser ----

async function loadBrowser() {
  const list = $('measurements');
  list.replaceChildren(note('loading…'));
  try {
    const [{ databases }, sizes] = await Promise.all([getJson('/api/v1/databases'), getJson('/api/v1/measurements')]);
    const stats = new Map(sizes.measurements.map((m) => [`${m.database}\u0000${m.measurement}`, m]));
    const select = $('database');
    const chosen = select.value;
    select.replaceChildren(...databases.map((d) => new Option(d.name, d.name)));
    if (databases.some((d) => d.name === chosen)) select.value = chosen;
    else if (databases.some((d) => d.name === 'default')) select.value = 'default';

    list.replaceChildren();
    if (databases.length === 0) list.append(note('No databases yet: write some data.'));
    for (const db of databases) {
      const { measurements } = await getJson(`/api/v1/databases/${encodeURIComponent(db.name)}/measurements`);
      const group = document.createElement('details');
      group.open = true;
      group.className = 'database';
      const summary = document.createElement('summary');
      summary.textContent = `${db.name} (${measurements.length})`;
      group.append(summary);
      for (const m of measurements) {
        group.append(measurementItem(db.name, m.name, stats.get(`${db.name}\u0000${m.name}`)));
      }
      list.append(group);
    }
  } catch (e) {
    list.replaceChildren(note(e.message, 'error'));
  }
}

function measurementItem(database, name, stats) {
  const item = document.createElement('details');
  item.className = 'measurement';
  const summary = document.createElement('summary');
  summary.textContent = name;
  summary.dataset.measurement = name;
  const size = document.createElement('span');
  size.className = 'info';
  size.textContent = stats ? ` ${stats.file_count} file${stats.file_count === 1 ? '' : 's'} · ${bytes(stats.bytes)}` : ' buffered only';
  summary.append(size);
  item.append(summary);
  const body = document.createElement('div');
  body.className = 'measurement-body';
  item.append(body);
  item.addEventListener('toggle', () => {
    if (item.open && !body.hasChildNodes()) loadMeasurement(body, database, name);
  });
  return item;
}

async function loadMeasurement(body, database, name) {
  body.append(note('loading…'));
  const table = `${quoteIdentifier(database)}.${quoteIdentifier(name)}`;
  try {
    const [columns, range] = await Promise.all([
      getJson(`/api/v1/databases/${encodeURIComponent(database)}/measurements/${encodeURIComponent(name)}/columns`),
      queryJson(`SELECT min(time)::VARCHAR, max(time)::VARCHAR, count(*) FROM ${table}`, database),
    ]);
    const [first, last, rows] = range.data[0] ?? [null, null, 0];
    const facts = document.createElement('p');
    facts.className = 'info';
    facts.textContent = rows > 0 ? `${Number(rows).toLocaleString('en')} rows, ${first} → ${last} UTC` : 'no rows';
    const list = document.createElement('ul');
    list.className = 'columns';
    for (const c of columns.columns) {
      const li = document.createElement('li');
      const role = document.createElement('span');
      role.className = `role ${c.role}`;
      role.textContent = c.role;
      li.append(`${c.name} `, role, ` ${c.type}`);
      list.append(li);
    }
    const actions = document.createElement('div');
    actions.className = 'actions';
    const lastHour = document.createElement('button');
    lastHour.type = 'button';
    lastHour.textContent = 'Last hour';
    lastHour.addEventListener('click', () => {
      setQuery(database, `SELECT * FROM ${table}\nWHERE time > now() - INTERVAL 1 HOUR\nORDER BY time`);
      run();
    });
    const sample = document.createElement('button');
    sample.type = 'button';
    sample.textContent = 'Latest 100';
    sample.addEventListener('click', () => {
      setQuery(database, `SELECT * FROM ${table}\nORDER BY time DESC\nLIMIT 100`);
      run();
    });
    actions.append(lastHour, sample);
    body.replaceChildren(facts, list, actions);
  } catch (e) {
    body.replaceChildren(note(e.message, 'error'));
  }
}

$('refresh-browser').addEventListener('click', loadBrowser);

// ---- the editor ----

function setQuery(database, sql) {
  $('database').value = database;
  $('sql').value = sql;
}

function loadHistory() {
  const entries = JSON.parse(localStorage.getItem(historyKey) ?? '[]');
  $('history').replaceChildren(new Option(entries.length ? `${entries.length} earlier queries` : 'none yet', ''),
    ...entries.map((sql) => new Option(sql.replace(/\s+/g, ' ').slice(0, 80), sql)));
}

function remember(sql) {
  const entries = JSON.parse(localStorage.getItem(historyKey) ?? '[]').filter((s) => s !== sql);
  localStorage.setItem(historyKey, JSON.stringify([sql, ...entries].slice(0, maxHistory)));
  loadHistory();
}

$('history').addEventListener('change', () => {
  if ($('history').value) $('sql').value = $('history').value;
  $('history').value = '';
});

$('sql').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    run();
  }
});
$('run').addEventListener('click', () => run());
$('cancel').addEventListener('click', () => state.running?.abort());

async function run() {
  const sql = $('sql').value.trim();
  if (!sql || state.running) return;
  const controller = new AbortController();
  state.running = controller;
  $('run').disabled = true;
  $('cancel').disabled = false;
  $('query-error').hidden = true;
  $('query-info').textContent = 'running…';
  const started = performance.now();
  try {
    const bytes = await queryArrow(sql, $('database').value || undefined, controller.signal);
    const result = new Result(bytes);
    const elapsed = performance.now() - started;
    state.result = result;
    state.page = 0;
    $('query-info').textContent = `${result.rowCount.toLocaleString('en')} row${result.rowCount === 1 ? '' : 's'} in ${elapsed.toFixed(0)} ms`;
    remember(sql);
    showResult();
  } catch (e) {
    const elapsed = performance.now() - started;
    if (e.name === 'AbortError') {
      $('query-info').textContent = `cancelled after ${elapsed.toFixed(0)} ms`;
    } else {
      $('query-info').textContent = `failed after ${elapsed.toFixed(0)} ms`;
      $('query-error').textContent = e.message; // the server's message as sent (DuckDB's, with its LINE/^ position)
      $('query-error').hidden = false;
    }
  } finally {
    state.running = null;
    $('run').disabled = false;
    $('cancel').disabled = true;
  }
}

// ---- results ----

function showResult() {
  const result = state.result;
  $('result-bar').hidden = false;
  const canChart = chartable(result);
  $('show-chart').disabled = !canChart;
  $('show-chart').title = canChart ? 'Drag to zoom, double-click to zoom out' : 'needs a time column and a numeric column';
  drawTable();
  state.chart?.destroy();
  state.chart = null;
  $('chart-view').replaceChildren();
  showResultView(canChart && result.rowCount > 0 ? 'chart' : 'table');
}

function drawTable() {
  renderTable($('table-view'), state.result, state.page, (page) => {
    state.page = page;
    drawTable();
  });
}

function showResultView(view) {
  state.view = view;
  $('table-view').hidden = view !== 'table';
  $('chart-view').hidden = view !== 'chart';
  $('show-table').classList.toggle('active', view === 'table');
  $('show-chart').classList.toggle('active', view === 'chart');
  if (view === 'chart' && !state.chart) state.chart = renderChart($('chart-view'), state.result);
}

$('show-table').addEventListener('click', () => showResultView('table'));
$('show-chart').addEventListener('click', () => showResultView('chart'));
$('export-csv').addEventListener('click', () => download('result.csv', 'text/csv', state.result.toCsv()));
$('export-arrow').addEventListener('click', () => download('result.arrows', 'application/vnd.apache.arrow.stream', state.result.bytes));
new ResizeObserver(() => {
  if (state.chart && !$('chart-view').hidden) state.chart.setSize({ width: $('chart-view').clientWidth, height: 360 });
}).observe($('chart-view'));

// ---- status ----

async function refreshStatus() {
  await renderStatus($('status-cards'));
  $('status-time').textContent = `as of ${new Date().toLocaleTimeString()}`;
}

$('refresh-status').addEventListener('click', refreshStatus);
setInterval(() => {
  if (!$('status-view').hidden) refreshStatus();
}, 5000);

// ---- helpers ----

function note(text, className = 'info') {
  const p = document.createElement('p');
  p.className = className;
  p.textContent = text;
  return p;
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

start().catch((e) => showSignIn(e.message));
