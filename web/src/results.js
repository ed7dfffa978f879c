// A query result decoded from Arrow: its columns with a display form of each value, the paged table, and the exports.
import { tableFromIPC, Type, util } from 'apache-arrow';

export const pageSize = 100;

const unitsPerSecond = [1n, 1_000n, 1_000_000n, 1_000_000_000n]; // Arrow's TimeUnit: SECOND, MILLISECOND, MICROSECOND, NANOSECOND

/** The result of one query: the Arrow bytes as received (for the Arrow export) and the columns read from them. */
export class Result {
  constructor(bytes) {
    this.bytes = bytes;
    const table = tableFromIPC(bytes);
    this.rowCount = table.numRows;
    this.columns = table.schema.fields.map((field, i) => column(field, table.getChildAt(i)));
  }

  /** The result as CSV (RFC 4180: CRLF, a field quoted only when it must be), values as the table shows them. */
  toCsv() {
    const quote = (text) => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
    const lines = [this.columns.map((c) => quote(c.name)).join(',')];
    for (let row = 0; row < this.rowCount; row++) {
      lines.push(this.columns.map((c) => quote(c.text(row))).join(','));
    }
    return lines.join('\r\n') + '\r\n';
  }
}

function column(field, vector) {
  const typeId = field.type.typeId;
  const base = { name: field.name, type: String(field.type), vector };
  if (typeId === Type.Timestamp) {
    const raw = rawInt64(vector);
    const perSecond = unitsPerSecond[field.type.unit];
    return {
      ...base,
      kind: 'time',
      text: (row) => (vector.isValid(row) ? formatTimestamp(raw[row], perSecond) : ''),
      // Seconds as a float, the chart's x axis.
      seconds: (row) => (vector.isValid(row) ? Number(raw[row]) / Number(perSecond) : null),
    };
  }

  if (typeId === Type.Decimal) {
    // DuckDB sends HUGEINT and DECIMAL as decimal128: the digits are an integer, the scale places the point.
    const scale = field.type.scale;
    return {
      ...base,
      kind: 'number',
      text: (row) => (vector.isValid(row) ? decimalText(util.bigNumToString(vector.get(row)), scale) : ''),
      // The nearest double (bigNumToNumber refuses values past 2^53).
      number: (row) => (vector.isValid(row) ? Number(decimalText(util.bigNumToString(vector.get(row)), scale)) : null),
    };
  }

  if (typeId === Type.Float || typeId === Type.Int) {
    return {
      ...base,
      kind: 'number',
      text: (row) => textOf(vector.get(row)),
      number: (row) => {
        const value = vector.get(row);
        return value === null ? null : Number(value);
      },
    };
  }

  const kind = typeId === Type.Utf8 || typeId === Type.LargeUtf8 || typeId === Type.Dictionary ? 'string' : 'other';
  return { ...base, kind, text: (row) => textOf(vector.get(row)) };
}

function textOf(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && !(value instanceof Date)) {
    return JSON.stringify(value.toJSON ? value.toJSON() : value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
  }
  return String(value);
}

/** "-12345" at scale 3 is "-12.345". */
function decimalText(digits, scale) {
  if (scale <= 0) return digits;
  const negative = digits.startsWith('-');
  const abs = (negative ? digits.slice(1) : digits).padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${abs.slice(0, -scale)}.${abs.slice(-scale)}`;
}

/** A timestamp column's 64-bit values as stored (Arrow JS's get() rounds them to milliseconds). */
function rawInt64(vector) {
  const out = new BigInt64Array(vector.length);
  let at = 0;
  for (const chunk of vector.data) {
    out.set(chunk.values.subarray(0, chunk.length), at);
    at += chunk.length;
  }
  return out;
}

/** UTC, with the sub-second digits the value has: 2024-05-01 12:00:00.123456789. */
function formatTimestamp(value, perSecond) {
  let seconds = value / perSecond;
  let fraction = value % perSecond;
  if (fraction < 0n) {
    fraction += perSecond;
    seconds -= 1n;
  }
  const text = new Date(Number(seconds) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  if (fraction === 0n) return text;
  const digits = String(perSecond).length - 1;
  return `${text}.${String(fraction).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Renders one page of the result into a <table data-testid="results">, with the pager under it. */
export function renderTable(container, result, page, onPage) {
  const pages = Math.max(1, Math.ceil(result.rowCount / pageSize));
  page = Math.min(Math.max(page, 0), pages - 1);
  const table = document.createElement('table');
  table.dataset.testid = 'results';
  const head = table.createTHead().insertRow();
  for (const c of result.columns) {
    const th = document.createElement('th');
    th.textContent = c.name;
    th.title = c.type;
    if (c.kind === 'number') th.className = 'num';
    head.append(th);
  }
  const body = table.createTBody();
  const end = Math.min(result.rowCount, (page + 1) * pageSize);
  for (let row = page * pageSize; row < end; row++) {
    const tr = body.insertRow();
    for (const c of result.columns) {
      const td = tr.insertCell();
      td.textContent = c.text(row);
      if (c.kind === 'number') td.className = 'num';
    }
  }

  const pager = document.createElement('div');
  pager.className = 'pager';
  const button = (label, target, disabled) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.disabled = disabled;
    b.addEventListener('click', () => onPage(target));
    return b;
  };
  const where = document.createElement('span');
  where.textContent = result.rowCount === 0
    ? 'no rows'
    : `rows ${page * pageSize + 1}–${end} of ${result.rowCount.toLocaleString('en')} · page ${(page + 1).toLocaleString('en')} of ${pages.toLocaleString('en')}`;
  pager.append(button('« First', 0, page === 0), button('‹ Prev', page - 1, page === 0), where,
    button('Next ›', page + 1, page >= pages - 1), button('Last »', pages - 1, page >= pages - 1));
  const scroller = document.createElement('div');
  scroller.className = 'scroller';
  scroller.append(table);
  container.replaceChildren(pager, scroller);
}

/** Offers bytes as a file download (an object URL: nothing leaves the page). */
export function download(name, type, data) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
