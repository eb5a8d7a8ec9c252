/**
 * `npm run bench -- --http2 [options]`: WebSockets over HTTP/2 (RFC 8441) against nopoll's own HTTP/1.1, with the
 * same load generator (bench/loadgen, `transport: 'h2c'`), the same server CLI, the same CPU and memory accounting.
 * - echo: 64 B (100 WebSockets x 10 in flight), 16 KiB (10 x 4), 1 MiB (1 x 4): HTTP/1.1 (`echo-server`, one TCP
 *   connection per WebSocket) against HTTP/2 (`echo-server --http2`), the WebSockets on one HTTP/2 connection
 *   (`h2`) and on one HTTP/2 connection each (`h2 x n`). Target: HTTP/2 at least 0.7x HTTP/1.1 (issue 16).
 * - streams: 1,000 WebSockets opened (200 at a time) and held: over 1,000 TCP connections, or as streams of one
 *   HTTP/2 connection. Server RSS growth per WebSocket, and handshakes per second while opening them.
 * Each run has a fresh server and load-generator process; variants alternate within a round. The machine may be
 * shared: the load from other processes during each window is reported, and figures from a loaded machine must be
 * re-run on an idle one.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job, JobSuccess, Target } from './lib/jobs.js';
import { runLoadgen } from './lib/loadgen-process.js';
import { BENCH_SOURCE, REPO_ROOT } from './lib/paths.js';
import { loadAverage1 } from './lib/procfs.js';
import { renderTable } from './lib/report.js';
import { killAllChildren, startServer, type ServerSpec } from './lib/servers.js';

type Variant = 'h1' | 'h2' | 'h2xn';
interface Scenario {
  id: string;
  title: string;
  variants: readonly Variant[];
  job(target: Target, variant: Variant): Job;
  /** The headline of a run: messages/s, MB/s, or for `streams` KiB per WebSocket and handshakes/s. */
  read(result: JobSuccess): { value: number; second?: number };
  unit: string;
}

const USAGE = `npm run bench -- --http2 [--rounds N] [--only echo-64b,echo-16k,echo-1m,streams] [--warmup-ms MS]
                           [--duration-ms MS] [--streams N]
  WebSockets over HTTP/2 against nopoll's own HTTP/1.1 (see the comment at the top of bench/http2.ts).`;

const args = process.argv.slice(2);
function option(name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    process.stderr.write(`${name} needs a positive integer\n${USAGE}\n`);
    process.exit(2);
  }
  return value;
}
if (args.includes('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const rounds = option('--rounds', 2);
const warmupMs = option('--warmup-ms', 750);
const durationMs = option('--duration-ms', 2500);
const streams = option('--streams', 1000);
const only = args.includes('--only') ? (args[args.indexOf('--only') + 1] ?? '').split(',') : null;

function echo(
  id: string,
  title: string,
  connections: number,
  inFlight: number,
  payloadBytes: number,
  unit: 'msg/s' | 'MB/s',
): Scenario {
  return {
    id,
    title,
    variants: ['h1', 'h2', 'h2xn'],
    unit,
    job: (target, variant) => ({
      type: 'echo',
      target:
        variant === 'h1' ? target : { ...target, transport: 'h2c', h2Sessions: variant === 'h2' ? 1 : connections },
      connections,
      inFlight,
      payloadBytes,
      warmupMs,
      durationMs,
    }),
    read: (r) => {
      const seconds = (r.window?.wallMs ?? durationMs) / 1000;
      return { value: unit === 'MB/s' ? r.payloadBytes / 1e6 / seconds : r.operations / seconds };
    },
  };
}

const SCENARIOS: readonly Scenario[] = [
  echo('echo-64b', '64 B echo, 100 WebSockets x 10 in flight', 100, 10, 64, 'msg/s'),
  echo('echo-16k', '16 KiB echo, 10 WebSockets x 4 in flight', 10, 4, 16 * 1024, 'msg/s'),
  echo('echo-1m', '1 MiB echo, 1 WebSocket x 4 in flight', 1, 4, 1024 * 1024, 'MB/s'),
  {
    id: 'streams',
    title: `${streams} WebSockets held: TCP connections vs streams of one HTTP/2 connection`,
    variants: ['h1', 'h2'],
    unit: 'KiB/WebSocket',
    job: (target, variant) => ({
      type: 'idle',
      target: variant === 'h1' ? target : { ...target, transport: 'h2c', h2Sessions: 1 },
      connections: streams,
      concurrency: 200,
      settleMs: 1000,
    }),
    read: (r) => ({
      value: (r.idle?.bytesPerConnection ?? NaN) / 1024,
      second: streams / ((r.idle?.openMs ?? NaN) / 1000),
    }),
  },
];

const LABEL: Record<Variant, string> = {
  h1: 'HTTP/1.1 (TCP each)',
  h2: 'HTTP/2 (one connection)',
  h2xn: 'HTTP/2 (one connection each)',
};

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

function serverSpec(variant: Variant): ServerSpec {
  const base = ['echo-server', '--port', '0', '--host', '127.0.0.1'];
  return {
    id: 'nopoll',
    label: variant === 'h1' ? 'nopoll echo-server' : 'nopoll echo-server --http2',
    kind: 'ws',
    script: process.env['NOPOLL_BENCH_BIN'] ?? join(REPO_ROOT, 'bin', 'nopoll.js'),
    args: variant === 'h1' ? base : [...base, '--http2', '--http2-max-streams', String(Math.max(streams, 100) + 100)],
    env: {},
    scenarios: null,
    deflateArgs: null,
  };
}

interface Record_ {
  scenario: string;
  variant: Variant;
  round: number;
  value: number;
  second?: number;
  serverCpuPerOpMicros: number | null;
  /** Share of one core the server and the load generator used in the window. */
  serverBusy: number | null;
  loadgenBusy: number | null;
  otherCores: number | null;
  errors: number;
  error?: string;
}

const pct = (share: number): string => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : '-');

const median = (values: number[]): number => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(): Promise<void> {
  const chosen = SCENARIOS.filter((s) => only === null || only.includes(s.id));
  process.stdout.write(
    `nopoll bench --http2: ${rounds} round(s), window ${durationMs} ms after ${warmupMs} ms; load average ${loadAverage1().toFixed(2)}\n`,
  );
  const records: Record_[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const scenario of chosen) {
      for (const variant of scenario.variants) {
        const server = await startServer(serverSpec(variant));
        const target: Target = { host: server.host, port: server.port, pid: server.pid, kind: 'ws', transport: 'tcp' };
        const result = await runLoadgen(scenario.job(target, variant), 120_000);
        await server.stop();
        if (!result.ok) {
          records.push({
            scenario: scenario.id,
            variant,
            round,
            value: NaN,
            serverCpuPerOpMicros: null,
            serverBusy: null,
            loadgenBusy: null,
            otherCores: null,
            errors: 1,
            error: result.error,
          });
          process.stdout.write(`  round ${round} ${scenario.id} ${variant}: FAILED ${result.error}\n`);
          continue;
        }
        const read = scenario.read(result);
        const cpu = result.window?.serverCpuMicros ?? null;
        const wall = result.window?.wallMs ?? null;
        records.push({
          scenario: scenario.id,
          variant,
          round,
          ...read,
          serverCpuPerOpMicros: cpu !== null && result.operations > 0 ? cpu / result.operations : null,
          serverBusy: cpu !== null && wall ? cpu / 1000 / wall : null,
          loadgenBusy: result.window && wall ? result.window.loadgenCpuMicros / 1000 / wall : null,
          otherCores: result.window?.otherCores ?? null,
          errors: result.errors,
        });
        const extra = read.second !== undefined ? `, ${read.second.toFixed(0)} handshakes/s` : '';
        const other =
          result.window?.otherCores != null ? `, other load ${result.window.otherCores.toFixed(2)} cores` : '';
        process.stdout.write(
          `  round ${round} ${scenario.id} ${LABEL[variant]}: ${read.value.toFixed(read.value < 100 ? 2 : 0)} ${scenario.unit}${extra}${other}${result.errors ? `, ${result.errors} errors` : ''}\n`,
        );
      }
    }
  }
  const rows: string[][] = [];
  for (const scenario of chosen) {
    const of = (variant: Variant): Record_[] =>
      records.filter((r) => r.scenario === scenario.id && r.variant === variant);
    const base = median(of('h1').map((r) => r.value));
    const baseSecond = median(of('h1').map((r) => r.second ?? NaN));
    for (const variant of scenario.variants) {
      const runs = of(variant);
      const value = median(runs.map((r) => r.value));
      const second = median(runs.map((r) => r.second ?? NaN));
      const cpu = median(runs.map((r) => r.serverCpuPerOpMicros ?? NaN));
      const baseCpu = median(of('h1').map((r) => r.serverCpuPerOpMicros ?? NaN));
      const busy = `${pct(median(runs.map((r) => r.serverBusy ?? NaN)))} / ${pct(median(runs.map((r) => r.loadgenBusy ?? NaN)))}`;
      const other = Math.max(...runs.map((r) => r.otherCores ?? 0));
      const ratio = value / base;
      const isMemory = scenario.id === 'streams';
      rows.push([
        scenario.id,
        LABEL[variant],
        isMemory
          ? `${value.toFixed(2)} KiB, ${second.toFixed(0)} hs/s`
          : `${value.toFixed(value < 100 ? 1 : 0)} ${scenario.unit}`,
        Number.isFinite(cpu) ? `${cpu.toFixed(2)} µs` : '-',
        isMemory ? '-' : busy,
        variant === 'h1'
          ? '1.00'
          : isMemory
            ? `${ratio.toFixed(2)} mem, ${(second / baseSecond).toFixed(2)} hs/s`
            : ratio.toFixed(2),
        variant === 'h1' || !Number.isFinite(cpu) ? '' : (baseCpu / cpu).toFixed(2),
        variant === 'h1' || isMemory ? '' : ratio >= 0.7 ? 'met (>= 0.7)' : 'MISSED (>= 0.7)',
        other.toFixed(2),
      ]);
    }
  }
  process.stdout.write(
    `\n${renderTable(
      [
        'scenario',
        'variant',
        'median',
        'server CPU/msg',
        'CPU srv/lg',
        'vs HTTP/1.1',
        'CPU/msg vs HTTP/1.1',
        'target',
        'other load (cores, max)',
      ],
      rows,
      [false, false, true, true, true, true, true, false, true],
      'text',
    )}\n`,
  );
  const file = join(BENCH_SOURCE, `results-http2-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ args, rounds, warmupMs, durationMs, streams, records }, null, 2));
  process.stdout.write(`results: ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench --http2: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  killAllChildren();
  process.exit(1);
});
