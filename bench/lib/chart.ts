/**
 * The benchmark charts, as standalone SVG text (no dependencies): nopoll's ratio to ws + bufferutil per scenario
 * in one run (bars, with the 1.0 line and the targets), and the same ratios across the runs kept in the history
 * (lines on a logarithmic scale). Pure functions: bench/lib/history.ts gathers the figures and writes the files.
 */

/** One scenario's bar. */
export interface RatioBar {
  /** Scenario id, e.g. `16k`. */
  scenario: string;
  /** What it measures, e.g. `16 KiB echo, 10 conns x 4 in flight`. */
  title: string;
  /** nopoll over ws + bufferutil in the same run; null when nopoll or ws had no result. */
  ratio: number | null;
  /** Latency and memory: a ratio below 1 is the better one. */
  lowerIsBetter: boolean;
  /** The issue's target, when the scenario has one. */
  target: { ratio: number; atLeast: boolean } | null;
}

/** One line of the history chart: a scenario's ratio in each run (null where that run did not measure it). */
export interface HistorySeries {
  scenario: string;
  lowerIsBetter: boolean;
  ratios: Array<number | null>;
}

/** The history chart's runs, oldest first, and the series drawn over them. */
export interface HistoryChart {
  /** One label per run, e.g. `11-24 01:56`. */
  runs: string[];
  /** Runs measured while other processes disturbed the machine (drawn with hollow points). */
  disturbed: boolean[];
  series: HistorySeries[];
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const BETTER = '#2e7d4f';
const WORSE = '#c0392b';
const EVEN = '#8a8f94';
// Within 2 % of ws: a tie, not a win or a loss (run-to-run noise is larger than that).
const TIE = 0.02;
const INK = '#222';
const MUTED = '#666';
const GRID = '#e3e3e3';
// Ten colours that stay apart from each other, one per scenario line.
const PALETTE = [
  '#1f77b4',
  '#e8710a',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#5f6b6d',
  '#b5a100',
  '#17becf',
];

/** Escapes text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const num = (x: number): string => String(Math.round(x * 10) / 10);
const ratioText = (r: number): string => `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;

/** How a ratio compares with ws: better, worse, or even (within {@link TIE}). */
export function verdict(lowerIsBetter: boolean, ratio: number): 'better' | 'worse' | 'even' {
  if (Math.abs(ratio - 1) <= TIE) return 'even';
  return (lowerIsBetter ? ratio < 1 : ratio > 1) ? 'better' : 'worse';
}

function svgOpen(width: number, height: number, label: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(label)}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  ];
}

/** Splits `text` at spaces into lines of at most about `width` characters. */
function subtitleLines(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines.slice(0, 2);
}

/** A step for axis ticks that gives at most about eight ticks up to `max`. */
function tickStep(max: number): number {
  for (const step of [0.25, 0.5, 1, 2, 5, 10, 20, 50]) if (max / step <= 8) return step;
  return 100;
}

/**
 * Bars of nopoll's ratio to ws per scenario, from 0 on a linear axis, with the 1.0 line (ws) across all of them and
 * each target as a tick on its row. Green: better than ws; red: worse.
 */
export function ratioChartSvg(bars: readonly RatioBar[], heading: string, subheading: string): string {
  const width = 860;
  const left = 300;
  const right = 70;
  const top = 92;
  const rowHeight = 34;
  const plotWidth = width - left - right;
  const height = top + bars.length * rowHeight + 52;
  const largest = Math.max(2, ...bars.flatMap((b) => [b.ratio ?? 0, b.target?.ratio ?? 0]));
  const step = tickStep(largest * 1.08);
  const xMax = Math.ceil((largest * 1.08) / step) * step;
  const x = (ratio: number): number => left + (Math.min(ratio, xMax) / xMax) * plotWidth;
  const bottom = top + bars.length * rowHeight;
  const out = svgOpen(width, height, `${heading}. ${subheading}`);
  out.push(`<text x="16" y="28" font-size="17" font-weight="600" fill="${INK}">${escapeXml(heading)}</text>`);
  subtitleLines(subheading, 120).forEach((line, i) =>
    out.push(`<text x="16" y="${50 + i * 16}" font-size="12" fill="${MUTED}">${escapeXml(line)}</text>`),
  );
  // Grid and axis labels.
  for (let t = 0; t <= xMax + 1e-9; t += step) {
    out.push(
      `<line class="grid" x1="${num(x(t))}" y1="${top - 6}" x2="${num(x(t))}" y2="${bottom}" stroke="${GRID}"/>`,
    );
    out.push(
      `<text x="${num(x(t))}" y="${bottom + 18}" font-size="11" fill="${MUTED}" text-anchor="middle">${num(t)}×</text>`,
    );
  }
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const name = `${bar.scenario}${bar.lowerIsBetter ? ' (lower is better)' : ''}`;
    out.push(
      `<text x="${left - 10}" y="${y + 15}" font-size="13" fill="${INK}" text-anchor="end">${escapeXml(name)}</text>`,
    );
    out.push(
      `<text x="${left - 10}" y="${y + 28}" font-size="10" fill="${MUTED}" text-anchor="end">${escapeXml(bar.title.slice(0, 54))}</text>`,
    );
    if (bar.ratio === null) {
      out.push(`<text x="${left + 6}" y="${y + 21}" font-size="12" fill="${MUTED}">no result</text>`);
    } else {
      const how = verdict(bar.lowerIsBetter, bar.ratio);
      const w = Math.max(1, x(bar.ratio) - left);
      const tip = `${bar.scenario}: nopoll ${ratioText(bar.ratio)} ws${bar.lowerIsBetter ? ' (lower is better)' : ''}`;
      const fill = how === 'better' ? BETTER : how === 'worse' ? WORSE : EVEN;
      out.push(
        `<rect class="bar ${how}" data-scenario="${escapeXml(bar.scenario)}" data-ratio="${bar.ratio}" ` +
          `x="${left}" y="${y + 6}" width="${num(w)}" height="${rowHeight - 12}" rx="2" fill="${fill}"><title>${escapeXml(tip)}</title></rect>`,
      );
      // The figure goes right of the bar, and right of the target tick and the 1.0 line when they are just past it.
      let at = x(bar.ratio);
      for (const mark of [bar.target?.ratio ?? 0, 1])
        if (mark >= bar.ratio && x(mark) - at < 40) at = Math.max(at, x(mark));
      out.push(
        `<text x="${num(at + 6)}" y="${y + 22}" font-size="12" font-weight="600" fill="${INK}">${ratioText(bar.ratio)}</text>`,
      );
    }
    if (bar.target !== null) {
      const tx = num(x(bar.target.ratio));
      const label = `target ${bar.target.atLeast ? '≥' : '≤'} ${bar.target.ratio}×`;
      out.push(
        `<line class="target" x1="${tx}" y1="${y + 2}" x2="${tx}" y2="${y + rowHeight - 2}" stroke="${INK}" stroke-width="2"><title>${escapeXml(label)}</title></line>`,
      );
    }
  });
  // The reference: ws + bufferutil is 1.0 by definition.
  const one = num(x(1));
  out.push(
    `<line class="ref" x1="${one}" y1="${top - 10}" x2="${one}" y2="${bottom}" stroke="${INK}" stroke-width="1.5" stroke-dasharray="5 4"/>`,
  );
  out.push(`<text x="${one}" y="${top - 14}" font-size="11" fill="${INK}" text-anchor="middle">ws = 1.0×</text>`);
  out.push(
    `<text x="16" y="${height - 10}" font-size="11" fill="${MUTED}">Green: better than ws + bufferutil; red: worse; grey: within 2 %. Black tick: the target. Figures: bench/RESULTS.md.</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * Lines of nopoll's ratio to ws per scenario across runs, on a log-2 axis (2× and 0.5× equally far from 1.0), with
 * the 1.0 line. Hollow points: runs disturbed by other load.
 */
export function historyChartSvg(chart: HistoryChart, heading: string, subheading: string): string {
  const width = 820;
  const left = 56;
  const right = 190;
  const top = 70;
  const plotHeight = 300;
  const height = top + plotHeight + 70;
  const plotWidth = width - left - right;
  const all = chart.series.flatMap((s) => s.ratios.filter((r): r is number => r !== null && r > 0));
  const lo = 2 ** Math.floor(Math.log2(Math.min(0.5, ...all)));
  const hi = 2 ** Math.ceil(Math.log2(Math.max(2, ...all)));
  const y = (ratio: number): number =>
    top + plotHeight - ((Math.log2(ratio) - Math.log2(lo)) / (Math.log2(hi) - Math.log2(lo))) * plotHeight;
  const n = chart.runs.length;
  const x = (i: number): number => left + (n <= 1 ? plotWidth / 2 : (i / (n - 1)) * plotWidth);
  const out = svgOpen(width, height, `${heading}. ${subheading}`);
  out.push(`<text x="16" y="28" font-size="17" font-weight="600" fill="${INK}">${escapeXml(heading)}</text>`);
  out.push(`<text x="16" y="50" font-size="12" fill="${MUTED}">${escapeXml(subheading)}</text>`);
  for (let t = lo; t <= hi * 1.0001; t *= 2) {
    out.push(
      `<line class="grid" x1="${left}" y1="${num(y(t))}" x2="${left + plotWidth}" y2="${num(y(t))}" stroke="${GRID}"/>`,
    );
    out.push(
      `<text x="${left - 8}" y="${num(y(t) + 4)}" font-size="11" fill="${MUTED}" text-anchor="end">${t}×</text>`,
    );
  }
  // Label at most about twelve runs along the axis.
  const every = Math.max(1, Math.ceil(n / 12));
  chart.runs.forEach((run, i) => {
    if (i % every !== 0 && i !== n - 1) return;
    const px = num(x(i));
    out.push(
      `<text x="${px}" y="${top + plotHeight + 18}" font-size="10" fill="${MUTED}" text-anchor="middle">${escapeXml(run)}</text>`,
    );
  });
  out.push(
    `<line class="ref" x1="${left}" y1="${num(y(1))}" x2="${left + plotWidth}" y2="${num(y(1))}" stroke="${INK}" stroke-width="1.5" stroke-dasharray="5 4"/>`,
  );
  out.push(`<text x="${left + 4}" y="${num(y(1) - 5)}" font-size="10" fill="${INK}">ws = 1×</text>`);
  chart.series.forEach((series, k) => {
    const colour = PALETTE[k % PALETTE.length]!;
    // A line breaks where a run did not measure the scenario.
    let path = '';
    let pen = false;
    series.ratios.forEach((r, i) => {
      if (r === null || r <= 0) {
        pen = false;
        return;
      }
      path += `${pen ? 'L' : 'M'}${num(x(i))} ${num(y(r))} `;
      pen = true;
    });
    out.push(`<g class="series" data-scenario="${escapeXml(series.scenario)}">`);
    if (path !== '') out.push(`<path d="${path.trim()}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    series.ratios.forEach((r, i) => {
      if (r === null || r <= 0) return;
      const hollow = chart.disturbed[i] === true;
      out.push(
        `<circle cx="${num(x(i))}" cy="${num(y(r))}" r="3.5" fill="${hollow ? '#fff' : colour}" stroke="${colour}" stroke-width="1.5">` +
          `<title>${escapeXml(`${series.scenario} ${chart.runs[i]}: ${ratioText(r)}${hollow ? ' (other load)' : ''}`)}</title></circle>`,
      );
    });
    out.push('</g>');
    const ly = top + k * 20;
    const lx = left + plotWidth + 30;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`);
    out.push(
      `<text x="${lx + 24}" y="${ly + 4}" font-size="12" fill="${INK}">${escapeXml(series.scenario + (series.lowerIsBetter ? ' (lower better)' : ''))}</text>`,
    );
  });
  out.push(
    `<text x="16" y="${height - 12}" font-size="11" fill="${MUTED}">nopoll / ws + bufferutil in each full run, oldest left; log scale. Hollow points: other processes disturbed that run.</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
