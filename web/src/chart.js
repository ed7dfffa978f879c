// The time-series chart of a result: the first time column on x, each numeric column as a line, one line per tag value
// (the string columns' values) when there are few enough of them. Drag to zoom, double-click to zoom out (uPlot).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const maxGroups = 24;
const maxSeries = 48;
const palette = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569', '#ea580c'];

/** Whether the result can be charted: a time column and at least one numeric column. */
export function chartable(result) {
  return result.columns.some((c) => c.kind === 'time') && result.columns.some((c) => c.kind === 'number');
}

/** Draws the chart into container (replacing what was there); returns the uPlot instance. */
export function renderChart(container, result) {
  const time = result.columns.find((c) => c.kind === 'time');
  const numbers = result.columns.filter((c) => c.kind === 'number');
  const tags = result.columns.filter((c) => c.kind === 'string');

  // Group rows by their tag values; too many groups (or none) draws one line per numeric column.
  const groupOf = new Array(result.rowCount);
  const groups = new Map();
  for (let row = 0; row < result.rowCount; row++) {
    const key = tags.map((c) => c.text(row)).join(', ');
    if (!groups.has(key)) groups.set(key, groups.size);
    groupOf[row] = groups.get(key);
  }
  const grouped = tags.length > 0 && groups.size <= maxGroups && groups.size * numbers.length <= maxSeries;
  const groupNames = grouped ? [...groups.keys()] : [''];

  // The x values: every distinct time, sorted; each series has a value (or a gap) at each.
  const seconds = new Float64Array(result.rowCount);
  for (let row = 0; row < result.rowCount; row++) seconds[row] = time.seconds(row) ?? NaN;
  const xs = [...new Set(seconds)].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const slot = new Map(xs.map((x, i) => [x, i]));

  const series = [{}];
  const data = [xs];
  for (const n of numbers) {
    groupNames.forEach((groupName, g) => {
      const values = new Array(xs.length).fill(null);
      for (let row = 0; row < result.rowCount; row++) {
        if ((grouped && groupOf[row] !== g) || Number.isNaN(seconds[row])) continue;
        values[slot.get(seconds[row])] = n.number(row);
      }
      const color = palette[(series.length - 1) % palette.length];
      series.push({ label: grouped ? `${n.name} (${groupName})` : n.name, stroke: color, width: 1.5, spanGaps: true });
      data.push(values);
    });
  }

  container.replaceChildren();
  const width = Math.max(300, container.clientWidth || 800);
  return new uPlot({
    width,
    height: 360,
    series,
    scales: { x: { time: true } },
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'), // as the table shows time: UTC
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
  }, data, container);
}
