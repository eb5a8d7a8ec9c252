/**
 * The benchmark charts (bench/lib/chart.ts) and their history file (bench/lib/history.ts): well-formed SVG that
 * Chromium parses and draws, one bar per scenario scaled to its ratio, the 1.0 line where 1.0 is, one line per
 * scenario across runs, and history.jsonl appended per run with both charts redrawn from it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from '../../bench/lib/aggregate.js';
import { historyChartSvg, ratioChartSvg, verdict, type RatioBar } from '../../bench/lib/chart.js';
import {
  historyRun,
  historySeries,
  readHistory,
  recordRun,
  renderCharts,
  type HistoryRun,
} from '../../bench/lib/history.js';
import { hasChromium, runPageInChromium, servePage } from '../helpers/browser.js';

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench');

/**
 * Checks that `svg` is well-formed XML in the subset the chart writer uses (elements, quoted attributes, text, the
 * five predefined entities and numeric ones): every tag closed in order, nothing unescaped. Returns the element names
 * in document order.
 */
function wellFormed(svg: string): string[] {
  const names: string[] = [];
  const open: string[] = [];
  const token = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let at = 0;
  while (at < svg.length) {
    token.lastIndex = at;
    const m = token.exec(svg);
    assert.ok(m !== null, `not well-formed at ${at}: ${JSON.stringify(svg.slice(at, at + 60))}`);
    const [whole, closing, name, attributes, selfClosing, text] = m;
    if (text !== undefined) {
      assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(text), `a bare & in ${JSON.stringify(text.slice(0, 60))}`);
      assert.ok(!text.includes('>'), `a bare > in ${JSON.stringify(text.slice(0, 60))}`);
    } else if (closing === '/') {
      assert.equal(open.pop(), name, `</${name}> closes the wrong element`);
    } else {
      assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(attributes ?? ''), `a bare & in <${name}${attributes}>`);
      names.push(name!);
      if (selfClosing !== '/') open.push(name!);
    }
    at += whole.length;
  }
  assert.deepEqual(open, [], 'elements left open');
  assert.equal(names[0], 'svg');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+" viewBox="0 0 \d+ \d+"/);
  return names;
}

/** Every element `<tag ... class="<cls>...">` with its attributes. */
function elements(svg: string, tag: string, cls: string): Array<Record<string, string>> {
  const found: Array<Record<string, string>> = [];
  for (const m of svg.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'g'))) {
    const attributes = Object.fromEntries([...m[1]!.matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!]));
    if ((attributes['class'] ?? '').split(' ').includes(cls)) found.push(attributes);
  }
  return found;
}

const BARS: RatioBar[] = [
  { scenario: '64b', title: '64 B echo', ratio: 5.1, lowerIsBetter: false, target: { ratio: 3, atLeast: true } },
  { scenario: '16k', title: '16 KiB echo', ratio: 1.41, lowerIsBetter: false, target: { ratio: 1.5, atLeast: true } },
  { scenario: '1m', title: '1 MiB echo', ratio: 0.88, lowerIsBetter: false, target: null },
  {
    scenario: 'latency',
    title: 'p99 <latency> & "friends"',
    ratio: 0.85,
    lowerIsBetter: true,
    target: { ratio: 0.9, atLeast: false },
  },
  { scenario: 'idle', title: 'memory', ratio: 1.005, lowerIsBetter: true, target: null },
];

describe('ratio chart', () => {
  it('is well-formed SVG with one bar per scenario, in order, each as long as its ratio', () => {
    const svg = ratioChartSvg(BARS, 'heading & more', 'sub <heading>');
    wellFormed(svg);
    const bars = elements(svg, 'rect', 'bar');
    assert.deepEqual(
      bars.map((b) => b['data-scenario']),
      BARS.map((b) => b.scenario),
    );
    const x0 = Number(bars[0]!['x']);
    assert.ok(
      bars.every((b) => Number(b['x']) === x0),
      'every bar starts on the same axis',
    );
    const unit = Number(bars[0]!['width']) / 5.1;
    for (const [i, bar] of BARS.entries()) {
      assert.ok(
        Math.abs(Number(bars[i]!['width']) - bar.ratio! * unit) < 0.2,
        `${bar.scenario}: width ${bars[i]!['width']} for ${bar.ratio}`,
      );
    }
    assert.deepEqual(
      bars.map((b) => b['class']),
      ['bar better', 'bar better', 'bar worse', 'bar better', 'bar even'],
      'green above ws, red below, lower is better for latency and memory, grey within 2 %',
    );
    assert.match(svg, /heading &amp; more/);
    assert.match(svg, /p99 &lt;latency&gt; &amp; &quot;friends&quot;/);
  });

  it('draws the 1.0 line (ws) where a ratio of 1.0 ends, across every row, and a tick per target', () => {
    const svg = ratioChartSvg(BARS, 'h', 's');
    const [ref, ...others] = elements(svg, 'line', 'ref');
    assert.ok(ref !== undefined && others.length === 0, 'exactly one 1.0 line');
    const bars = elements(svg, 'rect', 'bar');
    const unit = Number(bars[0]!['width']) / 5.1;
    assert.ok(Math.abs(Number(ref['x1']) - (Number(bars[0]!['x']) + unit)) < 0.2, `the 1.0 line at x=${ref['x1']}`);
    assert.equal(ref['x1'], ref['x2'], 'vertical');
    const tops = bars.map((b) => Number(b['y']));
    assert.ok(
      Number(ref['y1']) <= Math.min(...tops) && Number(ref['y2']) >= Math.max(...tops) + Number(bars[0]!['height']),
      'spans all rows',
    );
    const targets = elements(svg, 'line', 'target');
    assert.equal(targets.length, 3);
    assert.ok(Math.abs(Number(targets[0]!['x1']) - (Number(bars[0]!['x']) + 3 * unit)) < 0.2, 'the 3× target of 64b');
  });

  it('a scenario without a ratio gets a row saying so, not a bar', () => {
    const svg = ratioChartSvg(
      [...BARS.slice(0, 2), { scenario: 'deflate-1k', title: 'x', ratio: null, lowerIsBetter: false, target: null }],
      'h',
      's',
    );
    wellFormed(svg);
    assert.equal(elements(svg, 'rect', 'bar').length, 2);
    assert.match(svg, />no result</);
  });

  it('verdict: better, worse or even, by the direction of the metric', () => {
    assert.deepEqual(
      [verdict(false, 1.5), verdict(false, 0.5), verdict(true, 0.5), verdict(true, 1.5), verdict(true, 0.99)],
      ['better', 'worse', 'better', 'worse', 'even'],
    );
  });
});

describe('history chart', () => {
  it('is well-formed SVG with one line per scenario, broken where a run lacks it, and the 1.0 line', () => {
    const svg = historyChartSvg(
      {
        runs: ['11-23 22:42', '11-23 23:34', '11-24 01:56'],
        disturbed: [true, false, false],
        series: [
          { scenario: '64b', lowerIsBetter: false, ratios: [4.89, 6.04, 5.1] },
          { scenario: 'deflate-1k', lowerIsBetter: false, ratios: [null, 1.41, 1.41] },
          { scenario: 'latency', lowerIsBetter: true, ratios: [0.82, null, 1.0] },
        ],
      },
      'h',
      's',
    );
    wellFormed(svg);
    const series = elements(svg, 'g', 'series');
    assert.deepEqual(
      series.map((s) => s['data-scenario']),
      ['64b', 'deflate-1k', 'latency'],
    );
    const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!);
    assert.equal(paths[0]!.match(/[ML]/g)!.join(''), 'MLL');
    assert.equal(paths[1]!.match(/[ML]/g)!.join(''), 'ML', 'deflate-1k starts at the second run');
    assert.equal(paths[2]!.match(/[ML]/g)!.join(''), 'MM', 'latency is broken where the middle run lacks it');
    assert.equal((svg.match(/<circle /g) ?? []).length, 7);
    assert.equal((svg.match(/fill="#fff" stroke=/g) ?? []).length, 2, 'the disturbed run is hollow on both its lines');
    // Log scale: 1.0 sits halfway between 0.5 and 2.
    const ref = elements(svg, 'line', 'ref')[0]!;
    const grid = elements(svg, 'line', 'grid').map((g) => Number(g['y1']));
    const y = (label: string): number =>
      grid[[...svg.matchAll(/text-anchor="end">([\d.]+)×</g)].map((m) => m[1]).indexOf(label)]!;
    assert.ok(Math.abs(Number(ref['y1']) - (y('0.5') + y('2')) / 2) < 0.2);
  });
});

describe('history.jsonl', () => {
  const row = (
    scenario: Row['scenario'],
    server: Row['server'],
    value: number,
    ratio: number,
    flags: string[] = [],
  ): Row =>
    ({
      scenario,
      server,
      metric: scenario === 'latency' ? 'latency' : 'messages',
      value,
      ratio,
      flags,
    }) as unknown as Row;
  const meta = { commit: 'abc1234', node: 'v20.20.2', rounds: 3 };

  it('each recorded run is one more line; both charts are redrawn from all of them; partial runs are kept but not drawn', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'nopoll-bench-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = historyRun(
      [
        row('64b', 'ws', 100, 1),
        row('64b', 'nopoll', 500, 5),
        row('latency', 'ws', 1000, 1),
        row('latency', 'nopoll', 900, 0.9, ['other 0.4']),
      ],
      { ...meta, date: '2026-12-01T10:00:00.000Z', partial: false },
    );
    assert.equal(first.disturbed, true);
    assert.deepEqual(first.scenarios['64b'], {
      metric: 'messages',
      values: { ws: 100, nopoll: 500 },
      ratios: { ws: 1, nopoll: 5 },
    });
    recordRun(dir, first);
    recordRun(
      dir,
      historyRun([row('64b', 'nopoll', 600, 6)], { ...meta, date: '2026-12-02T10:00:00.000Z', partial: true }),
    );
    const written = recordRun(
      dir,
      historyRun([row('64b', 'nopoll', 400, 4)], { ...meta, date: '2026-12-03T10:00:00.000Z', partial: false }),
    );
    assert.deepEqual(
      written.map((p) => p.slice(dir.length + 1)),
      ['history.jsonl', 'ratios.svg', 'history.svg'],
    );
    assert.equal(readFileSync(join(dir, 'history.jsonl'), 'utf8').trimEnd().split('\n').length, 3);
    const runs = readHistory(join(dir, 'history.jsonl'));
    assert.deepEqual(
      runs.map((r) => r.scenarios['64b']!.ratios['nopoll']),
      [5, 6, 4],
    );
    const chart = historySeries(runs);
    assert.deepEqual(chart.runs, ['12-01 10:00', '12-03 10:00']);
    assert.deepEqual(
      chart.series.map((s) => [s.scenario, s.ratios]),
      [
        ['64b', [5, 4]],
        ['latency', [0.9, null]],
      ],
    );
    const bars = elements(readFileSync(join(dir, 'ratios.svg'), 'utf8'), 'rect', 'bar');
    assert.deepEqual(
      bars.map((b) => [b['data-scenario'], b['data-ratio']]),
      [['64b', '4']],
      'the bars show the last run',
    );
  });

  it('the committed history parses, oldest first, and its charts are the ones committed', () => {
    const runs: HistoryRun[] = readHistory(join(BENCH, 'history.jsonl'));
    assert.ok(runs.length >= 4, `${runs.length} runs`);
    assert.deepEqual(
      runs.map((r) => r.date),
      [...runs.map((r) => r.date)].sort(),
    );
    for (const run of runs)
      assert.ok(
        Object.values(run.scenarios).some((s) => s.ratios['nopoll'] !== undefined),
        run.date,
      );
    const charts = renderCharts(runs);
    assert.equal(
      readFileSync(join(BENCH, 'ratios.svg'), 'utf8'),
      charts.ratios,
      'bench/ratios.svg is stale: npm run bench -- --charts',
    );
    assert.equal(
      readFileSync(join(BENCH, 'history.svg'), 'utf8'),
      charts.history,
      'bench/history.svg is stale: npm run bench -- --charts',
    );
  });

  it(
    'Chromium parses both charts as SVG and draws them at their size',
    { skip: !hasChromium() && 'no Chromium' },
    async (t) => {
      const charts = renderCharts(readHistory(join(BENCH, 'history.jsonl')));
      const page = `<!doctype html><meta charset="utf-8"><body><script>
      const svgs = ${JSON.stringify([charts.ratios, charts.history])};
      window.__result = [];
      Promise.all(svgs.map((text) => new Promise((resolve) => {
        const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
        const img = new Image();
        img.onload = () => resolve({ error: doc.querySelector('parsererror') !== null, bars: doc.querySelectorAll('rect.bar').length, series: doc.querySelectorAll('g.series').length, width: img.naturalWidth, declared: Number(doc.documentElement.getAttribute('width')) });
        img.onerror = () => resolve({ error: true });
        img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(text);
      }))).then((r) => { window.__result = r; window.__done = true; });
    </script>`;
      const url = await servePage(t, () => page);
      const [ratios, history] = (await runPageInChromium(t, url, '__result')) as Array<{
        error: boolean;
        bars: number;
        series: number;
        width: number;
        declared: number;
      }>;
      const last = readHistory(join(BENCH, 'history.jsonl')).at(-1)!;
      assert.deepEqual([ratios!.error, ratios!.width === ratios!.declared], [false, true]);
      assert.equal(ratios!.bars, Object.values(last.scenarios).filter((s) => s.ratios['nopoll'] !== undefined).length);
      assert.deepEqual([history!.error, history!.width === history!.declared], [false, true]);
      assert.ok(history!.series >= 6);
    },
  );
});
