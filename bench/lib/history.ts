/**
 * The benchmark history (bench/history.jsonl, one JSON object per line, one line per full run, oldest first) and
 * the two charts drawn from it: bench/ratios.svg (the latest run) and bench/history.svg (every run kept).
 * bench/run.ts calls {@link recordRun} whenever it rewrites RESULTS.md.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from './aggregate.js';
import { historyChartSvg, ratioChartSvg, type HistoryChart, type RatioBar } from './chart.js';
import { chartOrder, RETIRED_SCENARIOS, SCENARIOS, type Metric } from './scenarios.js';

/** One scenario in one run: each server's headline value and ratio to ws + bufferutil. */
export interface HistoryScenario {
  metric: Metric;
  /** Headline per server id. Units: msg/s, MB/s, hs/s, p99 µs (latency), bytes per connection (memory). */
  values: Record<string, number>;
  /** Value over ws + bufferutil's in the same run, per server id. */
  ratios: Record<string, number>;
}

/** One line of history.jsonl. */
export interface HistoryRun {
  /** ISO date of the run. */
  date: string;
  commit: string;
  node: string;
  rounds: number;
  /** A run with `--quick`, `--only`... written with `--write`: kept, but not drawn in the history chart. */
  partial: boolean;
  /** Other processes used CPU during some of its windows (the `other` flag): its figures are less reliable. */
  disturbed: boolean;
  /** Where the figures came from when not written by the harness itself (e.g. an older RESULTS.md). */
  source?: string;
  scenarios: Record<string, HistoryScenario>;
}

/** File names inside bench/. */
export const HISTORY_FILE = 'history.jsonl';
export const RATIO_CHART_FILE = 'ratios.svg';
export const HISTORY_CHART_FILE = 'history.svg';

/** The history's runs, oldest first ([] when there is no file). Blank lines are skipped. */
export function readHistory(path: string): HistoryRun[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as HistoryRun);
}

/** A history entry from the aggregated rows of this run (rows without a value or a ratio are left out). */
export function historyRun(rows: readonly Row[], meta: Omit<HistoryRun, 'scenarios' | 'disturbed'>): HistoryRun {
  const scenarios: Record<string, HistoryScenario> = {};
  let disturbed = false;
  for (const row of rows) {
    if (row.flags.some((f) => f.startsWith('other'))) disturbed = true;
    if (row.value === null) continue;
    const entry = (scenarios[row.scenario] ??= { metric: row.metric, values: {}, ratios: {} });
    entry.values[row.server] = row.value >= 100 ? Math.round(row.value) : Math.round(row.value * 1000) / 1000;
    if (row.ratio !== null) entry.ratios[row.server] = Math.round(row.ratio * 1000) / 1000;
  }
  return { ...meta, disturbed, scenarios };
}

const lowerIsBetter = (metric: Metric): boolean => metric === 'latency' || metric === 'idle-memory';

/** The bars of one run: nopoll's ratio in each scenario it has, in the harness's scenario order. */
export function ratioBars(run: HistoryRun): RatioBar[] {
  const known = chartOrder();
  const ids = Object.keys(run.scenarios).sort((a, b) => rank(known, a) - rank(known, b));
  return ids.map((id) => {
    const scenario = run.scenarios[id]!;
    const spec = SCENARIOS.find((s) => s.id === id) ?? RETIRED_SCENARIOS.find((s) => s.id === id);
    return {
      scenario: id,
      title: spec?.title ?? '',
      ratio: scenario.ratios['nopoll'] ?? null,
      lowerIsBetter: lowerIsBetter(scenario.metric),
      target: spec?.target ?? null,
    };
  });
}

function rank(order: readonly string[], id: string): number {
  const at = order.indexOf(id);
  return at < 0 ? order.length : at;
}

/** The history chart's data: full runs only (at most the last `limit`), one series per scenario nopoll ran in. */
export function historySeries(runs: readonly HistoryRun[], limit = 40): HistoryChart {
  const full = runs.filter((r) => !r.partial).slice(-limit);
  const known = chartOrder();
  const ids = [
    ...new Set(
      full.flatMap((r) => Object.keys(r.scenarios).filter((id) => r.scenarios[id]!.ratios['nopoll'] !== undefined)),
    ),
  ];
  ids.sort((a, b) => rank(known, a) - rank(known, b));
  return {
    runs: full.map((r) => `${r.date.slice(5, 10)} ${r.date.slice(11, 16)}`),
    disturbed: full.map((r) => r.disturbed),
    series: ids.map((id) => ({
      scenario: id,
      lowerIsBetter: lowerIsBetter(full.find((r) => r.scenarios[id] !== undefined)!.scenarios[id]!.metric),
      ratios: full.map((r) => r.scenarios[id]?.ratios['nopoll'] ?? null),
    })),
  };
}

/** Both charts' SVG text for a history whose last run is the one to show in bars. */
export function renderCharts(runs: readonly HistoryRun[]): { ratios: string; history: string } {
  const last = runs[runs.length - 1];
  const shown =
    last === undefined
      ? 'no run yet'
      : `${last.date.slice(0, 16).replace('T', ' ')} UTC, Node ${last.node}, commit ${last.commit}, ${last.rounds} round(s)${last.partial ? ', partial run' : ''}`;
  const ratios = ratioChartSvg(
    last === undefined ? [] : ratioBars(last),
    'nopoll against ws + bufferutil, by scenario',
    `${shown}. Bar: nopoll's result over ws's in the same run.`,
  );
  const full = runs.filter((r) => !r.partial);
  const history = historyChartSvg(
    historySeries(runs),
    'nopoll against ws + bufferutil, run after run',
    `${full.length} full run(s) of npm run bench${full.length > 0 ? `, ${full[0]!.date.slice(0, 10)} to ${full[full.length - 1]!.date.slice(0, 10)}` : ''}.`,
  );
  return { ratios, history };
}

/** Rewrites bench/ratios.svg and bench/history.svg from bench/history.jsonl. Returns the paths written. */
export function writeCharts(benchDir: string): string[] {
  const charts = renderCharts(readHistory(join(benchDir, HISTORY_FILE)));
  const ratiosPath = join(benchDir, RATIO_CHART_FILE);
  const historyChartPath = join(benchDir, HISTORY_CHART_FILE);
  writeFileSync(ratiosPath, charts.ratios);
  writeFileSync(historyChartPath, charts.history);
  return [ratiosPath, historyChartPath];
}

/** Appends this run to bench/history.jsonl, then redraws both charts. Returns the paths written. */
export function recordRun(benchDir: string, run: HistoryRun): string[] {
  const historyPath = join(benchDir, HISTORY_FILE);
  appendFileSync(historyPath, `${JSON.stringify(run)}\n`);
  return [historyPath, ...writeCharts(benchDir)];
}
