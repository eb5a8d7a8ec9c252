/** Tables (aligned text for the terminal, Markdown for RESULTS.md), machine description, and RESULTS.md upkeep. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type as osType } from 'node:os';
import type { MicroResult } from '../micro/harness.js';
import { LIMITS, WS_API_SHARE, type Row, type Warning } from './aggregate.js';
import { REPO_ROOT } from './paths.js';
import { SCENARIOS } from './scenarios.js';

export type Format = 'text' | 'markdown';

/** Renders a table; `right` marks right-aligned (numeric) columns. */
export function renderTable(headers: string[], rows: string[][], right: boolean[], format: Format): string {
  if (format === 'markdown') {
    const escape = (cell: string): string => cell.replace(/\|/g, '\\|');
    const lines = [
      `| ${headers.map(escape).join(' | ')} |`,
      `|${headers.map((_, i) => (right[i] ? '---:' : ':---')).join('|')}|`,
      ...rows.map((r) => `| ${r.map(escape).join(' | ')} |`),
    ];
    return lines.join('\n');
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const integer = (x: number): string => Math.round(x).toLocaleString('en-US');
const fixed = (x: number, digits: number): string =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (micros: number): string => fixed(micros / 1000, micros < 10_000 ? 3 : 1);

function formatValue(row: Row): string {
  if (row.value === null) return '-';
  switch (row.metric) {
    case 'messages':
      return `${integer(row.value)} msg/s`;
    case 'megabytes':
      return `${fixed(row.value, 0)} MB/s`;
    case 'connections':
      return `${integer(row.value)} conn/s`;
    case 'latency':
      // Round trips under a millisecond (the ping-pong) in microseconds, so their tenths show.
      if (row.value < 1000)
        return `p50 ${row.p50Micros === null ? '-' : fixed(row.p50Micros, 1)} / p99 ${fixed(row.value, 1)} µs`;
      return `p50 ${row.p50Micros === null ? '-' : ms(row.p50Micros)} / p99 ${ms(row.value)} ms`;
    case 'idle-memory':
      return `${fixed(row.value / 1024, 1)} KiB/conn`;
  }
}

function formatCpuPerOp(row: Row): string {
  if (row.cpuPerOpMicros === null) return '-';
  const unit = row.metric === 'connections' ? 'conn' : 'msg';
  const v = row.cpuPerOpMicros;
  return `${v >= 100 ? integer(v) : fixed(v, v >= 10 ? 1 : 2)} µs/${unit}`;
}

function formatTarget(row: Row): string {
  if (row.server === 'nopoll-ws') {
    const want = `≥ ${WS_API_SHARE}× nopoll's`;
    return row.verdict === null ? '' : `${want} ${row.verdict === 'met' ? 'met' : 'MISSED'}`;
  }
  if (row.server !== 'nopoll') return '';
  const target = SCENARIOS.find((s) => s.id === row.scenario)?.target;
  if (target == null) return '';
  const bound = `${target.atLeast ? '≥' : '≤'} ${target.ratio}×`;
  const want = target.p50 === true ? `p50, p99 ${bound}` : bound;
  if (row.verdict === null) return want;
  if (target.p50 === true && row.p50Ratio !== null) {
    return `${want} ${row.verdict === 'met' ? 'met' : 'MISSED'} (p50 ${fixed(row.p50Ratio, 2)}×)`;
  }
  // When the load generator was the limit, the rate ratio understates the server: add the CPU-per-op ratio.
  const lgBound = row.loadgenCoresMax !== null && row.loadgenCoresMax >= LIMITS.loadgenCores;
  const byCpu = lgBound && row.cpuRatio !== null ? ` (LG-bound; CPU/op ${fixed(row.cpuRatio, 2)}×)` : '';
  return `${want} ${row.verdict === 'met' ? 'met' : 'MISSED'}${byCpu}`;
}

export function formatE2ETable(rows: readonly Row[], format: Format): string {
  const headers = [
    'scenario',
    'server',
    'result (median)',
    '±',
    'server CPU',
    'CPU srv/lg',
    'vs ws+bu',
    'target',
    'flags',
  ];
  const right = [false, false, true, true, true, true, true, false, false];
  const body = rows.map((row) => {
    if (row.status !== 'ok') {
      const why = row.reason.split('\n')[0] ?? '';
      return [row.scenario, row.label, row.status, '', '', '', '', formatTarget(row), why.slice(0, 80)];
    }
    const cpu =
      row.serverCores === null && row.loadgenCoresMax === null
        ? '-'
        : `${row.serverCores === null ? '-' : Math.round(row.serverCores * 100)}%/${
            row.loadgenCoresMax === null ? '-' : Math.round(row.loadgenCoresMax * 100)
          }%`;
    return [
      row.scenario,
      row.label,
      formatValue(row),
      row.values.length > 1 ? `${Math.round(row.spread * 100)}%` : '',
      formatCpuPerOp(row),
      row.metric === 'idle-memory' ? '-' : cpu,
      row.ratio === null ? '-' : `${fixed(row.ratio, 2)}×`,
      formatTarget(row),
      row.flags.join(', '),
    ];
  });
  return renderTable(headers, body, right, format);
}

export const E2E_LEGEND =
  `± is half the range of the rounds over the median. server CPU: server CPU time per message or connection ` +
  `(all threads, from /proc, 10 ms resolution). CPU srv/lg: server CPU in the window (median, % of one core) / ` +
  `load generator CPU (highest round). vs ws+bu: ratio to ws with bufferutil in this same run (for latency: ` +
  `p99 over p99; for memory: bytes over bytes; lower is better for both). Flags: LG n% = the load generator ` +
  `reached ${LIMITS.loadgenCores * 100}% of a core, the result is a lower bound; other n = other processes used ` +
  `n cores; steal n% = hypervisor steal; srv n% = the server was not CPU-bound; err n = errors; rate! = the ` +
  `server could not carry the offered latency-test rate.`;

const WARNING_TEXT: Record<Warning['kind'], string> = {
  failed: 'some runs failed',
  loadgen:
    `the load generator used ${LIMITS.loadgenCores * 100}% or more of a core, so it may be what limited the ` +
    'result: the server numbers are lower bounds',
  other:
    `other processes used ${LIMITS.otherCores} cores or more during the window: results are disturbed, rerun ` +
    'on a quiet machine',
  steal: `the hypervisor stole ${LIMITS.steal * 100}% or more of CPU time: results are disturbed`,
  'server-idle':
    `the server used less than ${LIMITS.serverBusy * 100}% of a core while the load generator was not ` +
    'saturated: round trips (or other load) limited it, not its CPU',
  errors: 'errors (failed connections, wrong reply sizes or early closes)',
  note: 'remarks',
};

/** One line per kind of warning, listing where it applies; global warnings first. */
export function formatWarnings(global: readonly string[], rows: readonly Row[]): string[] {
  const lines = [...global];
  const kinds = Object.keys(WARNING_TEXT) as Warning['kind'][];
  for (const kind of kinds) {
    const found = rows.flatMap((r) => r.warnings.filter((w) => w.kind === kind));
    if (found.length === 0) continue;
    const joiner = kind === 'note' || kind === 'failed' ? '; ' : ', ';
    let line = `${WARNING_TEXT[kind]}: ${found.map((w) => `${w.where} (${w.detail})`).join(joiner)}.`;
    const who = new Map<string, number>();
    for (const p of found.flatMap((w) => w.who ?? [])) who.set(p.name, Math.max(p.cores, who.get(p.name) ?? 0));
    if (who.size > 0) {
      const top = [...who].sort((a, b) => b[1] - a[1]).slice(0, 5);
      line += ` Biggest other CPU users: ${top.map(([name, cores]) => `${name} (${cores.toFixed(2)} cores)`).join('; ')}.`;
    }
    lines.push(line);
  }
  return lines;
}

/** Micro results whose samples spread more than this are flagged as noisy. */
export const MICRO_NOISY = 0.15;

export function formatMicroTable(results: readonly MicroResult[], format: Format): string {
  const headers = ['group', 'case', 'impl', 'ops/s', 'MB/s', '±', 'vs ws', 'status'];
  const right = [false, false, false, true, true, true, true, false];
  const body = results.map((r) => [
    r.group,
    r.name,
    r.impl,
    r.opsPerSec === null ? '-' : integer(r.opsPerSec),
    r.megabytesPerSec === null
      ? '-'
      : r.megabytesPerSec >= 100
        ? integer(r.megabytesPerSec)
        : fixed(r.megabytesPerSec, 1),
    r.opsPerSec === null ? '' : `${Math.round(r.spread * 100)}%`,
    r.vsWs === null ? '-' : `${fixed(r.vsWs, 2)}×`,
    r.status === 'ok'
      ? r.spread > MICRO_NOISY
        ? 'noisy'
        : ''
      : r.detail === ''
        ? r.status
        : `${r.status}: ${r.detail.slice(0, 60)}`,
  ]);
  return renderTable(headers, body, right, format);
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  commit: string;
}

export function machineInfo(): MachineInfo {
  let commit = 'unknown';
  try {
    const git = (args: string[]): string =>
      execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    commit = git(['rev-parse', '--short', 'HEAD']);
    if (git(['status', '--porcelain']) !== '') commit += ' + uncommitted changes';
  } catch {
    // not a git checkout
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    commit,
  };
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

const PREAMBLE = `# nopoll benchmark results

Written by \`npm run bench\` (what each scenario measures and how to read the flags: [README.md](README.md)).
Everything between the two markers below is replaced by each full run; notes outside them are kept.

Each full run also appends its figures to [history.jsonl](history.jsonl) and redraws the two charts: nopoll's
ratio to \`ws\` + bufferutil per scenario in the latest run, and the same ratios run after run.

![nopoll against ws + bufferutil, by scenario, latest run](ratios.svg)

![nopoll against ws + bufferutil, run after run](history.svg)

`;

/** Replaces the results section of RESULTS.md (creating the file if needed). */
export function writeResultsMarkdown(path: string, section: string): void {
  const body = `${START}\n${section.trim()}\n${END}`;
  let text = existsSync(path) ? readFileSync(path, 'utf8') : `${PREAMBLE}${START}\n${END}\n`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  text = a >= 0 && b > a ? text.slice(0, a) + body + text.slice(b + END.length) : `${text.trimEnd()}\n\n${body}\n`;
  writeFileSync(path, text);
}
