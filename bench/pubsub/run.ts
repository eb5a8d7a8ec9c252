/**
 * The pub/sub benchmarks (`npm run bench -- --only pubsub`, or some of fanout-64b, fanout-4k, room, relay-redis,
 * sub-memory): rounds of every scenario against every server in turn, a fresh set of server processes per run
 * (Redis and two relays for relay-redis), one load-generator process per job. Prints a table; returns the rows
 * and raw records for the JSON file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS } from '../lib/aggregate.js';
import type { JobResult, JobSuccess, Target } from '../lib/jobs.js';
import { runLoadgen } from '../lib/loadgen-process.js';
import { startServer, trackChild, type RunningServer } from '../lib/servers.js';
import { halfRange, median } from '../lib/stats.js';
import {
  PUBSUB_SCENARIOS,
  PUBSUB_SERVERS,
  type PubSubScenarioId,
  type PubSubServer,
  type PubSubServerId,
  type PubSubTiming,
} from './scenarios.js';

/** One job's result. */
export interface PubSubRecord {
  scenario: PubSubScenarioId;
  variant: string;
  server: PubSubServerId;
  round: number;
  result: JobResult;
}

/** One row of the table: medians over rounds. */
export interface PubSubRow {
  scenario: PubSubScenarioId;
  variant: string;
  server: PubSubServerId;
  label: string;
  metric: 'deliveries' | 'latency' | 'bytes';
  /** deliveries/s, p99 µs, or bytes per subscription. */
  value: number | null;
  spread: number;
  p50Micros: number | null;
  p99Micros: number | null;
  cpuPerDeliveryMicros: number | null;
  serverCores: number | null;
  loadgenCoresMax: number | null;
  otherCoresMax: number | null;
  ratio: number | null;
  cpuRatio: number | null;
  verdict: 'met' | 'missed' | null;
  flags: string[];
  notes: string[];
  failure: string | null;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** A redis-server (Debian's) on a free loopback port with its own directory, for one run. */
async function startRedis(): Promise<{ pid: number; url: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'nopoll-bench-redis-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  trackChild(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!/Ready to accept connections/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`redis-server did not start: ${output.slice(-300)}`);
    await sleep(50);
  }
  return {
    pid: child.pid!,
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a server's processes; returns the targets (first: where publishers go) and a stop function. */
async function launch(
  server: PubSubServer,
): Promise<{ targets: Target[]; extraPids: number[]; stop(): Promise<void> }> {
  if (server.relays === null) {
    const running = await startServer({ script: server.script, args: server.args, env: {} });
    return { targets: [targetOf(running)], extraPids: [], stop: () => running.stop() };
  }
  const redis = await startRedis();
  const relays: RunningServer[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const args = ['relay', '--port', '0', '--host', '127.0.0.1', '--redis', redis.url, '--mode', server.relays];
      relays.push(await startServer({ script: server.script, args, env: {} }));
    }
  } catch (error) {
    await Promise.all(relays.map((r) => r.stop()));
    await redis.stop();
    throw error;
  }
  return {
    targets: relays.map(targetOf),
    extraPids: [relays[1]!.pid, redis.pid],
    stop: async () => {
      await Promise.all(relays.map((r) => r.stop()));
      await redis.stop();
    },
  };
}

function targetOf(running: RunningServer): Target {
  return { host: running.host, port: running.port, pid: running.pid, kind: 'ws', transport: 'tcp' };
}

/** Runs the selected scenarios; prints progress, then the table. */
export async function runPubSubBench(
  ids: readonly PubSubScenarioId[],
  rounds: number,
  timing: PubSubTiming,
  log: (line?: string) => void,
): Promise<{ rows: PubSubRow[]; records: PubSubRecord[] }> {
  const scenarios = PUBSUB_SCENARIOS.filter((s) => ids.includes(s.id));
  const records: PubSubRecord[] = [];
  log(
    `\npub/sub: ${rounds} round(s), ${timing.warmupMs} ms warm-up + ${timing.durationMs} ms window, ${timing.subscribers.toLocaleString('en-US')} fan-out subscribers`,
  );
  for (let round = 1; round <= rounds; round++) {
    for (const scenario of scenarios) {
      for (const serverId of scenario.servers) {
        const server = PUBSUB_SERVERS[serverId];
        let running: Awaited<ReturnType<typeof launch>> | null = null;
        for (const measure of scenario.measures) {
          let result: JobResult;
          try {
            running ??= await launch(server);
            await sleep(200);
            result = await runLoadgen(measure.job(running.targets, running.extraPids, timing), 180_000);
          } catch (error) {
            result = { ok: false, error: (error as Error).message.split('\n')[0]! };
          }
          records.push({ scenario: scenario.id, variant: measure.variant, server: serverId, round, result });
          log(
            `  [${round}/${rounds}] ${scenario.id.padEnd(11)} ${(measure.variant === '' ? server.label : `${server.label}, ${measure.variant}`).slice(0, 60).padEnd(60)} ${describe(measure.metric, result)}`,
          );
          // A fresh process for each job of a scenario with several (memory needs a clean heap).
          if (scenario.measures.length > 1) {
            await running?.stop();
            running = null;
          }
        }
        await running?.stop();
      }
    }
  }
  const rows = aggregate(records, scenarios);
  log('\npub/sub results (median of rounds; ratios against the ws README broadcast loop of this run)');
  log(formatTable(rows));
  return { rows, records };
}

function headline(metric: PubSubRow['metric'], r: JobSuccess): number | null {
  if (metric === 'bytes') return r.subscriptionMemory?.bytesPerSubscription ?? null;
  if (metric === 'latency') return r.latency !== null && r.latency.count > 0 ? r.latency.p99Micros : null;
  const seconds = r.window === null ? 0 : r.window.wallMs / 1000;
  return seconds > 0 ? r.operations / seconds : null;
}

function describe(metric: PubSubRow['metric'], result: JobResult): string {
  if (!result.ok) return `FAILED: ${result.error}`;
  const value = headline(metric, result);
  const w = result.window;
  const cpu =
    w === null
      ? ''
      : ` srv ${w.serverCpuMicros === null ? '-' : Math.round(w.serverCpuMicros / 10 / w.wallMs)}% lg ${Math.round(w.loadgenCpuMicros / 10 / w.wallMs)}%`;
  const notes = result.notes.length > 0 ? ` (${result.notes.join('; ')})` : '';
  if (metric === 'bytes') {
    const m = result.subscriptionMemory!;
    return `${value?.toFixed(0)} B heap per subscription (RSS ${((m.rssAfterBytes - m.rssBeforeBytes) / m.subscriptions).toFixed(0)} B)${notes}`;
  }
  if (metric === 'latency')
    return `p50 ${((result.latency?.p50Micros ?? NaN) / 1000).toFixed(2)} p99 ${((value ?? NaN) / 1000).toFixed(2)} ms${cpu}${notes}`;
  return `${Math.round(value ?? 0).toLocaleString('en-US')} deliveries/s${cpu}${notes}`;
}

function aggregate(records: readonly PubSubRecord[], scenarios: typeof PUBSUB_SCENARIOS): PubSubRow[] {
  const rows: PubSubRow[] = [];
  for (const scenario of scenarios) {
    for (const measure of scenario.measures) {
      const group: PubSubRow[] = [];
      for (const serverId of scenario.servers) {
        const mine = records.filter(
          (r) => r.scenario === scenario.id && r.variant === measure.variant && r.server === serverId,
        );
        const ok = mine.map((r) => r.result).filter((r): r is JobSuccess => r.ok);
        const values = ok.map((r) => headline(measure.metric, r)).filter((v): v is number => v !== null);
        const windows = ok.flatMap((r) => (r.window === null ? [] : [r.window]));
        const perDelivery = ok.flatMap((r) =>
          r.window?.serverCpuMicros != null && r.operations > 0 ? [r.window.serverCpuMicros / r.operations] : [],
        );
        const row: PubSubRow = {
          scenario: scenario.id,
          variant: measure.variant,
          server: serverId,
          label: PUBSUB_SERVERS[serverId].label,
          metric: measure.metric,
          value: values.length > 0 ? median(values) : null,
          spread: halfRange(values),
          p50Micros: ok.some((r) => r.latency?.count)
            ? median(ok.flatMap((r) => (r.latency?.count ? [r.latency.p50Micros] : [])))
            : null,
          p99Micros: ok.some((r) => r.latency?.count)
            ? median(ok.flatMap((r) => (r.latency?.count ? [r.latency.p99Micros] : [])))
            : null,
          cpuPerDeliveryMicros: perDelivery.length > 0 ? median(perDelivery) : null,
          serverCores:
            windows.length > 0
              ? median(
                  windows.flatMap((w) => (w.serverCpuMicros === null ? [] : [w.serverCpuMicros / 1000 / w.wallMs])),
                )
              : null,
          loadgenCoresMax:
            windows.length > 0 ? Math.max(...windows.map((w) => w.loadgenCpuMicros / 1000 / w.wallMs)) : null,
          otherCoresMax: windows.length > 0 ? Math.max(...windows.map((w) => w.otherCores ?? 0)) : null,
          ratio: null,
          cpuRatio: null,
          verdict: null,
          flags: [],
          notes: [...new Set(ok.flatMap((r) => r.notes))],
          failure:
            ok.length === 0
              ? ((mine.find((r) => !r.result.ok)?.result as { error?: string } | undefined)?.error ?? 'not run')
              : null,
        };
        if (row.loadgenCoresMax !== null && row.loadgenCoresMax >= LIMITS.loadgenCores)
          row.flags.push(`LG ${Math.round(row.loadgenCoresMax * 100)}%`);
        if (row.otherCoresMax !== null && row.otherCoresMax >= LIMITS.otherCores)
          row.flags.push(`other ${row.otherCoresMax.toFixed(2)}`);
        const errors = ok.reduce((sum, r) => sum + r.errors, 0);
        if (errors > 0) row.flags.push(`err ${errors}`);
        group.push(row);
      }
      const baseline = group.find((r) => r.server === scenario.baseline && r.value !== null);
      for (const row of group) {
        if (baseline === undefined || row.value === null || row === baseline) continue;
        row.ratio = row.value / baseline.value!;
        if (
          row.cpuPerDeliveryMicros !== null &&
          baseline.cpuPerDeliveryMicros !== null &&
          row.cpuPerDeliveryMicros > 0
        ) {
          row.cpuRatio = baseline.cpuPerDeliveryMicros / row.cpuPerDeliveryMicros;
        }
        if (row.server === scenario.subject && scenario.target !== null)
          row.verdict = row.ratio >= scenario.target ? 'met' : 'missed';
      }
      rows.push(...group);
    }
  }
  return rows;
}

/** The table, as text or as Markdown. */
export function formatTable(rows: readonly PubSubRow[], markdown = false): string {
  const header = [
    'scenario',
    'server',
    'result (median)',
    '±',
    'p99',
    'server CPU/delivery',
    'CPU srv/lg',
    'vs ws loop',
    'target',
    'flags',
  ];
  const lines = rows.map((r) => {
    const scenario = r.variant === '' ? r.scenario : `${r.scenario} (${r.variant})`;
    const value =
      r.failure !== null
        ? `failed: ${r.failure.slice(0, 40)}`
        : r.metric === 'bytes'
          ? `${r.value?.toFixed(0)} B heap/subscription`
          : r.metric === 'latency'
            ? `p50 ${((r.p50Micros ?? NaN) / 1000).toFixed(2)} ms`
            : `${Math.round(r.value ?? 0).toLocaleString('en-US')} deliveries/s`;
    const target =
      r.verdict === null
        ? ''
        : `${r.verdict === 'met' ? 'met' : 'MISSED'}${r.cpuRatio !== null && r.flags.some((f) => f.startsWith('LG')) ? ` (CPU ${r.cpuRatio.toFixed(1)}x)` : ''}`;
    return [
      scenario,
      r.label,
      value,
      r.value === null ? '' : `${Math.round(r.spread * 100)}%`,
      r.p99Micros === null ? '' : `${(r.p99Micros / 1000).toFixed(2)} ms`,
      r.cpuPerDeliveryMicros === null ? '' : `${r.cpuPerDeliveryMicros.toFixed(2)} µs`,
      r.serverCores === null
        ? ''
        : `${Math.round(r.serverCores * 100)}%/${Math.round((r.loadgenCoresMax ?? 0) * 100)}%`,
      r.ratio === null ? '' : `${r.ratio.toFixed(2)}x${r.cpuRatio === null ? '' : ` (CPU ${r.cpuRatio.toFixed(1)}x)`}`,
      target,
      r.flags.join(' '),
    ];
  });
  if (markdown) {
    return [
      `| ${header.join(' | ')} |`,
      `|${header.map(() => '---').join('|')}|`,
      ...lines.map((l) => `| ${l.join(' | ')} |`),
    ].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines]
    .map((l) =>
      l
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
