// The status view: ingest rates, buffers and the write-ahead log, compaction and export jobs, each card from an
// existing endpoint. A card the token may not read (compaction and exports need admin) says so instead.
import { ApiError, getJson, request } from './api.js';

let previousIngest = null; // { at, accepted } from the last refresh, for the rate

export async function renderStatus(container) {
  const cards = await Promise.all([ingestCard(), buffersCard(), compactionCard(), exportsCard()]);
  container.replaceChildren(...cards);
}

async function ingestCard() {
  return card('Ingest', async () => {
    const stats = await getJson('/api/v1/write/stats');
    const now = performance.now();
    const accepted = stats.line_protocol.records_accepted + stats.msgpack.records_accepted;
    const rate = previousIngest && now > previousIngest.at
      ? `${Math.max(0, ((accepted - previousIngest.accepted) * 1000) / (now - previousIngest.at)).toFixed(0)} records/s`
      : 'measured from the next refresh on';
    previousIngest = { at: now, accepted };
    const row = (name, s) => [name, `${count(s.records_accepted)} accepted, ${count(s.records_rejected)} rejected, ${count(s.requests)} requests, ${count(s.errors)} errors`];
    return [['rate', rate], row('line protocol', stats.line_protocol), row('MessagePack', stats.msgpack)];
  });
}

async function buffersCard() {
  return card('Buffers and WAL', async () => {
    const [ready, metrics] = await Promise.all([getJson('/ready'), (await request('/metrics')).text()]);
    const m = prometheus(metrics);
    const rows = [
      ['server', ready.status],
      ['buffered rows', count(m.arc_buffered_rows)],
      ['buffer memory', `${bytes(m.arc_buffered_bytes)} of ${bytes(m.arc_buffer_memory_limit_bytes)}`],
      ['flushes', `${count(m.arc_flushes_total)} (${count(m.arc_flushed_rows_total)} rows, ${count(m.arc_flush_failures_total)} failed)`],
    ];
    rows.push(m.arc_wal_segments === undefined
      ? ['write-ahead log', 'disabled']
      : ['write-ahead log', `${count(m.arc_wal_segments)} segments, ${count(m.arc_wal_entries_total)} commits, ${bytes(m.arc_wal_bytes_total)}, ${count(m.arc_wal_write_failures_total)} failures`]);
    if (ready.object_storage) {
      const s = ready.object_storage;
      rows.push(['object storage', `${count(s.pending_uploads)} pending (${bytes(s.pending_bytes)}), ${count(s.uploaded)} uploaded, ${count(s.upload_failures)} failures${s.last_error ? `; last error: ${s.last_error}` : ''}`]);
    }
    return rows;
  });
}

async function compactionCard() {
  return card('Compaction', async () => {
    const [status, running, stats] = await Promise.all([
      getJson('/api/v1/compaction/status'), getJson('/api/v1/compaction/jobs'), getJson('/api/v1/compaction/stats'),
    ]);
    const rows = [
      ['enabled', status.enabled ? `yes (hourly ${status.hourly_enabled ? 'on' : 'off'}, daily ${status.daily_enabled ? 'on' : 'off'})` : 'no'],
      ['next runs', `hourly ${status.next_hourly_run ?? '–'}, daily ${status.next_daily_run ?? '–'}`],
      ['completed', `${count(stats.jobs_completed)} jobs (${count(stats.jobs_failed)} failed), ${count(stats.files_compacted)} files, ratio ${stats.ratio.toFixed(2)}`],
      ['running', running.active_jobs === 0 ? 'none' : ''],
    ];
    for (const job of running.jobs) rows.push([job.partition_path, `${job.tier}: ${job.file_count} files, ${bytes(job.bytes)}, since ${job.started}`]);
    return rows;
  });
}

async function exportsCard() {
  return card('Export jobs', async () => {
    const jobs = await getJson('/api/v1/jobs');
    if (jobs.length === 0) return [['jobs', 'none']];
    return jobs.map((job) => [job.name, `${job.paused ? 'paused' : job.running ? 'running' : job.status}${job.next_run ? `, next ${job.next_run}` : ''}`]);
  });
}

/** A card with a title and rows of [label, value]; a refused or missing endpoint shows its message. */
async function card(title, load) {
  const section = document.createElement('section');
  section.className = 'card';
  const h3 = document.createElement('h3');
  h3.textContent = title;
  section.append(h3);
  try {
    const dl = document.createElement('dl');
    for (const [label, value] of await load()) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dl.append(dt, dd);
    }
    section.append(dl);
  } catch (e) {
    const p = document.createElement('p');
    p.className = 'info';
    p.textContent = e instanceof ApiError && e.status === 404 ? 'not enabled on this server' : e.message;
    section.append(p);
  }
  return section;
}

/** The unlabelled samples of a Prometheus text exposition, by name. */
function prometheus(text) {
  const values = {};
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+) ([0-9.eE+-]+)$/.exec(line);
    if (match) values[match[1]] = Number(match[2]);
  }
  return values;
}

const count = (n) => (n === undefined ? '–' : Number(n).toLocaleString('en'));

function bytes(n) {
  if (n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
