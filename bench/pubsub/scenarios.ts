/**
 * The pub/sub scenarios of issue 14 and the servers they compare. Each server is a set of processes started for
 * each run (one server, or Redis plus two relays); each scenario asks the load generator for one or two jobs.
 */
import { join } from 'node:path';
import type { Job, Target } from '../lib/jobs.js';
import { BENCH_BUILD, REPO_ROOT } from '../lib/paths.js';

export type PubSubScenarioId = 'fanout-64b' | 'fanout-4k' | 'room' | 'relay-redis' | 'sub-memory';
export const PUBSUB_SCENARIO_IDS: readonly PubSubScenarioId[] = [
  'fanout-64b',
  'fanout-4k',
  'room',
  'relay-redis',
  'sub-memory',
];

export type PubSubServerId = 'ws-broadcast' | 'nopoll-relay' | 'relays-pubsub' | 'relays-streams' | 'nopoll-topics';

/** How the processes of a server are started. */
export interface PubSubServer {
  id: PubSubServerId;
  label: string;
  /** Needs a redis-server and starts two relays on it (`--mode`), else one process (`script`, `args`). */
  relays: 'pubsub' | 'streams' | null;
  script: string;
  args: string[];
}

/** Path of the nopoll CLI (NOPOLL_BENCH_BIN for another build). */
export const NOPOLL_BIN = process.env['NOPOLL_BENCH_BIN'] ?? join(REPO_ROOT, 'bin', 'nopoll.js');

export const PUBSUB_SERVERS: Record<PubSubServerId, PubSubServer> = {
  'ws-broadcast': {
    id: 'ws-broadcast',
    label: 'ws + bufferutil, README broadcast loop',
    relays: null,
    script: join(BENCH_BUILD, 'servers', 'ws-broadcast.js'),
    args: ['--port', '0', '--host', '127.0.0.1'],
  },
  'nopoll-relay': {
    id: 'nopoll-relay',
    label: 'nopoll relay (one process)',
    relays: null,
    script: NOPOLL_BIN,
    args: ['relay', '--port', '0', '--host', '127.0.0.1'],
  },
  'relays-pubsub': {
    id: 'relays-pubsub',
    label: 'two nopoll relays, Redis pubsub mode',
    relays: 'pubsub',
    script: NOPOLL_BIN,
    args: [],
  },
  'relays-streams': {
    id: 'relays-streams',
    label: 'two nopoll relays, Redis streams mode',
    relays: 'streams',
    script: NOPOLL_BIN,
    args: [],
  },
  'nopoll-topics': {
    id: 'nopoll-topics',
    label: 'nopoll topics',
    relays: null,
    script: join(BENCH_BUILD, 'servers', 'nopoll-topics.js'),
    args: ['--port', '0', '--host', '127.0.0.1'],
  },
};

export interface PubSubTiming {
  warmupMs: number;
  durationMs: number;
  /** Subscribers of the fan-out scenarios. */
  subscribers: number;
}

/** What one row measures: its headline, unit, and the ratio target for nopoll (null: none). */
export interface PubSubMeasure {
  /** Row name suffix (a scenario with two jobs has two rows). */
  variant: string;
  metric: 'deliveries' | 'latency' | 'bytes';
  job(targets: Target[], extraPids: number[], timing: PubSubTiming): Job;
}

export interface PubSubScenario {
  id: PubSubScenarioId;
  title: string;
  servers: PubSubServerId[];
  /** The server that is the baseline for ratios, and the one the target applies to. */
  baseline: PubSubServerId | null;
  subject: PubSubServerId | null;
  target: number | null;
  measures: PubSubMeasure[];
}

/** A delivery measure: `clients` subscribers (default: the timing's, plus the publisher), closed loop or at `rate`. */
function fanout(
  payloadBytes: number,
  window: number,
  options: { clients?: number; rate?: number; variant?: string } = {},
): PubSubMeasure {
  return {
    variant: options.variant ?? '',
    metric: options.rate === undefined ? 'deliveries' : 'latency',
    job: (targets, extraPids, t) => ({
      type: 'fanout',
      target: targets[0]!,
      targets,
      extraPids,
      path: '/bench',
      clients: options.clients ?? t.subscribers + 1,
      publishers: 1,
      payloadBytes,
      window,
      ...(options.rate === undefined ? {} : { ratePerSecond: options.rate }),
      warmupMs: t.warmupMs,
      durationMs: t.durationMs,
    }),
  };
}

export const PUBSUB_SCENARIOS: readonly PubSubScenario[] = [
  {
    id: 'fanout-64b',
    title: '1 publisher -> 10,000 subscribers, 64 B',
    servers: ['ws-broadcast', 'nopoll-relay'],
    baseline: 'ws-broadcast',
    subject: 'nopoll-relay',
    target: 3,
    measures: [fanout(64, 32)],
  },
  {
    id: 'fanout-4k',
    title: '1 publisher -> 10,000 subscribers, 4 KiB',
    servers: ['ws-broadcast', 'nopoll-relay'],
    baseline: 'ws-broadcast',
    subject: 'nopoll-relay',
    target: null,
    measures: [fanout(4096, 8)],
  },
  {
    id: 'room',
    title: '100-client room: everyone sends, everyone receives (64 B)',
    servers: ['ws-broadcast', 'nopoll-relay'],
    baseline: 'ws-broadcast',
    subject: 'nopoll-relay',
    target: 5,
    measures: [
      {
        variant: '',
        metric: 'deliveries',
        job: (targets, extraPids, t) => ({
          type: 'fanout',
          target: targets[0]!,
          targets,
          extraPids,
          path: '/room',
          clients: 100,
          publishers: 100,
          payloadBytes: 64,
          window: 8,
          warmupMs: t.warmupMs,
          durationMs: t.durationMs,
        }),
      },
    ],
  },
  {
    id: 'relay-redis',
    title: 'two relays over Redis: 1 publisher, 1,000 subscribers on both relays (64 B)',
    servers: ['relays-pubsub', 'relays-streams'],
    baseline: null,
    subject: null,
    target: null,
    measures: [
      fanout(64, 32, { clients: 1001 }),
      fanout(64, 32, { clients: 1001, rate: 200, variant: 'latency at 200 msg/s' }),
    ],
  },
  {
    id: 'sub-memory',
    title: 'server memory per subscription (10,000 connections)',
    servers: ['nopoll-topics'],
    baseline: null,
    subject: null,
    target: null,
    measures: [
      [1, 1, 'all on one topic'],
      [10, 1000, '10 topics each out of 1,000'],
    ].map(([k, pool, variant]) => ({
      variant: variant as string,
      metric: 'bytes' as const,
      job: (targets: Target[]): Job => ({
        type: 'submem',
        target: targets[0]!,
        connections: 10_000,
        topicsPerConnection: k as number,
        topicPool: pool as number,
      }),
    })),
  },
];
