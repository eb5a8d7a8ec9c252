/**
 * The end-to-end scenarios: what each one asks of the load generator and how its result is read.
 * Compressed scenarios set `deflate` (see ScenarioSpec). A TLS variant would be a new scenario id (e.g. '64b-tls')
 * whose Target sets transport 'tls' (bench/README.md, "Adding TLS and compression").
 */
import type { Job, Target } from './jobs.js';

export type ScenarioId =
  | '64b'
  | '16k'
  | '1m'
  | 'lifecycle'
  | 'latency'
  | 'rtt'
  | 'idle'
  | 'deflate-1k'
  | 'deflate-16k'
  | 'deflate-idle'
  | 'deflate-used';

export const SCENARIO_IDS: readonly ScenarioId[] = [
  '64b',
  '16k',
  '1m',
  'lifecycle',
  'latency',
  'rtt',
  'idle',
  'deflate-1k',
  'deflate-16k',
  'deflate-idle',
  'deflate-used',
];

/**
 * What a run without `--only` measures: everything but the 10,000-connection compressed memory scenarios, which
 * take two minutes on their own (run them with `--only deflate-idle,deflate-used`), so the default run stays
 * under six minutes on 2 cores.
 */
export const DEFAULT_SCENARIO_IDS: readonly ScenarioId[] = SCENARIO_IDS.filter(
  (id) => id !== 'deflate-idle' && id !== 'deflate-used',
);

/** How a scenario's headline number is computed and compared. */
export type Metric = 'messages' | 'megabytes' | 'connections' | 'latency' | 'idle-memory';

export interface Timing {
  warmupMs: number;
  durationMs: number;
  idleConnections: number;
  latencyRate: number;
}

export interface ScenarioSpec {
  id: ScenarioId;
  title: string;
  metric: Metric;
  /**
   * Ratio to ws + bufferutil that nopoll must reach (issues 3 and 17), and how it reads; `p50`: a latency target
   * that p50 must meet as well as p99.
   */
  target: { ratio: number; atLeast: boolean; p50?: boolean } | null;
  job(target: Target, timing: Timing): Job;
  /**
   * permessage-deflate scenario: servers run with compression on (their `deflateArgs`), the load generator offers
   * it and sends pre-compressed JSON-like text (RSV1 frames, compressed without context), and only servers that
   * support compression take part. Ratios are against ws with compression.
   */
  deflate?: boolean;
  /** Seconds one run takes, for the up-front duration estimate. */
  estimateSeconds(timing: Timing): number;
}

const echoSeconds = (t: Timing): number => (t.warmupMs + t.durationMs) / 1000 + 0.5;

/** An echo scenario: `connections` each keep `inFlight` messages of `payloadBytes` going for the window. */
function echoScenario(
  id: ScenarioId,
  title: string,
  metric: Metric,
  target: ScenarioSpec['target'],
  connections: number,
  inFlight: number,
  payloadBytes: number,
  deflate = false,
): ScenarioSpec {
  return {
    id,
    title,
    metric,
    target,
    ...(deflate ? { deflate } : {}),
    job: (to, t) => ({
      type: 'echo',
      target: to,
      connections,
      inFlight,
      payloadBytes,
      ...(deflate ? { deflate } : {}),
      warmupMs: t.warmupMs,
      durationMs: t.durationMs,
    }),
    estimateSeconds: echoSeconds,
  };
}

export const SCENARIOS: readonly ScenarioSpec[] = [
  echoScenario('64b', '64 B echo, 100 conns x 10 in flight', 'messages', { ratio: 3, atLeast: true }, 100, 10, 64),
  echoScenario(
    '16k',
    '16 KiB echo, 10 conns x 4 in flight',
    'messages',
    { ratio: 1.5, atLeast: true },
    10,
    4,
    16 * 1024,
  ),
  echoScenario('1m', '1 MiB echo, 1 conn x 4 in flight', 'megabytes', { ratio: 1.3, atLeast: true }, 1, 4, 1024 * 1024),
  {
    id: 'lifecycle',
    title: 'whole connections (connect, upgrade, client close handshake, server ends TCP), 50 at a time',
    metric: 'connections',
    target: { ratio: 1.5, atLeast: true },
    job: (target, t) => ({
      type: 'lifecycle',
      target,
      concurrency: 50,
      warmupMs: t.warmupMs,
      durationMs: t.durationMs,
    }),
    estimateSeconds: (t) => echoSeconds(t) + 0.3,
  },
  {
    id: 'latency',
    title: 'round trip, 64 B at a fixed rate over 100 conns',
    metric: 'latency',
    target: { ratio: 1, atLeast: false },
    job: (target, t) => ({
      type: 'rate',
      target,
      connections: 100,
      ratePerSecond: t.latencyRate,
      payloadBytes: 64,
      warmupMs: t.warmupMs,
      durationMs: t.durationMs,
    }),
    estimateSeconds: echoSeconds,
  },
  {
    // Issue 17's latency shape: nothing queues anywhere, so every microsecond is the servers' own delay.
    id: 'rtt',
    title: 'round trip, 64 B, 1 conn x 1 in flight (ping-pong)',
    metric: 'latency',
    target: { ratio: 0.9, atLeast: false, p50: true },
    job: (target, t) => ({
      type: 'echo',
      target,
      connections: 1,
      inFlight: 1,
      payloadBytes: 64,
      warmupMs: t.warmupMs,
      durationMs: t.durationMs,
    }),
    estimateSeconds: echoSeconds,
  },
  {
    id: 'idle',
    title: 'server RSS per idle connection',
    metric: 'idle-memory',
    target: { ratio: 0.78, atLeast: false },
    job: (target, t) => ({ type: 'idle', target, connections: t.idleConnections, concurrency: 200, settleMs: 1000 }),
    estimateSeconds: (t) => 2.5 + t.idleConnections / 4000,
  },
  echoScenario(
    'deflate-1k',
    'compressed 1 KiB JSON echo, 100 conns x 10 in flight',
    'messages',
    null,
    100,
    10,
    1024,
    true,
  ),
  echoScenario(
    'deflate-16k',
    'compressed 16 KiB JSON echo, 10 conns x 4 in flight',
    'messages',
    null,
    10,
    4,
    16 * 1024,
    true,
  ),
  {
    id: 'deflate-idle',
    title: 'server RSS per idle connection with compression agreed',
    metric: 'idle-memory',
    target: null,
    deflate: true,
    job: (target, t) => ({
      type: 'idle',
      target,
      connections: t.idleConnections,
      concurrency: 200,
      settleMs: 1000,
      deflate: true,
    }),
    estimateSeconds: (t) => 2.5 + t.idleConnections / 4000,
  },
  {
    id: 'deflate-used',
    title: 'server RSS per idle connection after one compressed message each way',
    metric: 'idle-memory',
    target: null,
    deflate: true,
    job: (target, t) => ({
      type: 'idle',
      target,
      connections: t.idleConnections,
      concurrency: 200,
      settleMs: 1000,
      deflate: true,
      exchange: true,
    }),
    estimateSeconds: (t) => 3 + t.idleConnections / 3000,
  },
];

/**
 * Scenarios no longer run whose figures stay in history.jsonl: the charts still label them and keep them next to
 * the scenario that replaced them (`before`).
 */
export const RETIRED_SCENARIOS: readonly {
  id: string;
  title: string;
  target: ScenarioSpec['target'];
  before: ScenarioId;
}[] = [
  {
    id: 'handshake',
    title: 'handshakes counted at the 101 (retired: see lifecycle)',
    target: { ratio: 1.5, atLeast: true },
    before: 'lifecycle',
  },
];

/** Scenario ids in chart order, retired ones next to their successors. */
export function chartOrder(): string[] {
  const order: string[] = [];
  for (const spec of SCENARIOS) {
    for (const retired of RETIRED_SCENARIOS) if (retired.before === spec.id) order.push(retired.id);
    order.push(spec.id);
  }
  return order;
}
