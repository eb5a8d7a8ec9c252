/**
 * What the orchestrator (run.ts) asks the load generator process to do, and what comes back. Both sides import
 * these types; the values travel over the `child_process.fork` IPC channel as JSON.
 */

/** Where a server under test listens, and its process id (the load generator reads its CPU and RSS from /proc). */
export interface Target {
  host: string;
  port: number;
  pid: number;
  /** `ws` speaks RFC 6455; `tcp` is the bare TCP echo used only as the idle-memory floor. */
  kind: 'ws' | 'tcp';
  /**
   * Transport between load generator and server: `tcp` (one TCP connection per WebSocket, RFC 6455 upgrade) or
   * `h2c` (WebSockets as streams of cleartext HTTP/2 connections, RFC 8441; see bench/http2.ts).
   * HOOK (TLS): add `'tls'` here, make loadgen/connect.ts use `tls.connect` for it, and pass the server a
   * certificate on its command line (see README, "Adding TLS and compression").
   */
  transport: 'tcp' | 'h2c';
  /** With `h2c`: how many HTTP/2 connections the WebSockets are spread over (default 1). */
  h2Sessions?: number;
}

/** Closed-loop echo: every connection keeps `inFlight` messages outstanding and sends one more per reply. */
export interface EchoJob {
  type: 'echo';
  target: Target;
  connections: number;
  inFlight: number;
  payloadBytes: number;
  /** Offer permessage-deflate and send pre-compressed text frames (replies are counted, not checked for size). */
  deflate?: boolean;
  warmupMs: number;
  durationMs: number;
}

/** Open-loop echo at a fixed offered rate, for latency at a load every server can carry. */
export interface RateJob {
  type: 'rate';
  target: Target;
  connections: number;
  ratePerSecond: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
}

/**
 * A connection's whole life, repeated with `concurrency` connections under way at any moment: connect, upgrade,
 * client-initiated close handshake, the server ends TCP (counted then, when a valid close frame came first).
 */
export interface LifecycleJob {
  type: 'lifecycle';
  target: Target;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

/** Open `connections` idle connections and report the server's RSS growth per connection. */
export interface IdleJob {
  type: 'idle';
  target: Target;
  connections: number;
  concurrency: number;
  settleMs: number;
  /** Offer permessage-deflate (and require the server to accept it). */
  deflate?: boolean;
  /**
   * Before measuring, every connection sends one compressed 2 KiB text message and waits for its echo, so the
   * server has had to create its zlib state (deflate scenarios).
   */
  exchange?: boolean;
}

/**
 * Pub/sub delivery (fan-out, room, relays): `clients` connections subscribe (spread over `targets` in turn, at
 * `path`); the first `publishers` of them publish (a fan-out has one publisher, a room has every client publish).
 * Every message carries its sequence number, its publisher and its send time. Closed loop: a publisher keeps at
 * most `window` messages ahead of what its witnesses (a sample of the clients) have received. Open loop
 * (`ratePerSecond`): the publisher sends on a 1 ms schedule whatever the others received. `operations` counts
 * deliveries (messages received by all clients together); latency is publish to delivery at the witnesses.
 */
export interface FanoutJob {
  type: 'fanout';
  target: Target;
  /** Where the clients connect, in turn (two relays: subscribers on both). The publishers use `target`. */
  targets: Target[];
  /** Other server processes whose CPU counts as the server's (a second relay, Redis). */
  extraPids: number[];
  path: string;
  clients: number;
  publishers: number;
  payloadBytes: number;
  window: number;
  ratePerSecond?: number;
  warmupMs: number;
  durationMs: number;
}

/**
 * Memory per subscription: `connections` connections open (not subscribed), RSS settles; then each asks the
 * server to subscribe it to `topicsPerConnection` topics out of `topicPool` (`sub N P`, answered `ok`); RSS
 * settles again.
 */
export interface SubscriptionMemoryJob {
  type: 'submem';
  target: Target;
  connections: number;
  topicsPerConnection: number;
  topicPool: number;
}

export type Job = EchoJob | RateJob | LifecycleJob | IdleJob | FanoutJob | SubscriptionMemoryJob;

/** CPU accounting over the measurement window. */
export interface WindowStats {
  wallMs: number;
  /** Server CPU time in the window (µs, all threads, 10 ms resolution); null without /proc. */
  serverCpuMicros: number | null;
  /** Load generator CPU time in the window (µs, process.cpuUsage). */
  loadgenCpuMicros: number;
  /** CPU used by everything else on the machine, in cores (0.25 = a quarter of a core); null without /proc. */
  otherCores: number | null;
  /** The biggest other CPU users in the window (processes not part of the benchmark), in cores. */
  otherTop: { name: string; cores: number }[];
  /** Fraction of machine CPU time stolen by the hypervisor; null without /proc. */
  stealFraction: number | null;
}

export interface LatencySummary {
  count: number;
  p50Micros: number;
  p99Micros: number;
  p999Micros: number;
  maxMicros: number;
}

export interface IdleSummary {
  connections: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerConnection: number;
  openMs: number;
}

/** Memory per subscription (`submem`). */
export interface SubscriptionMemory {
  subscriptions: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** Live JavaScript heap after a full collection, before and after subscribing. */
  heapBeforeBytes: number;
  heapAfterBytes: number;
  /** Heap growth per subscription. */
  bytesPerSubscription: number;
}

export interface JobSuccess {
  ok: true;
  /** Messages echoed (echo, rate) or connections that completed their life (lifecycle) inside the window; 0 for idle. */
  operations: number;
  /** Echoed payload bytes inside the window. */
  payloadBytes: number;
  window: WindowStats | null;
  latency: LatencySummary | null;
  idle: IdleSummary | null;
  /** Memory per subscription (submem only). */
  subscriptionMemory?: SubscriptionMemory;
  /** Failed connections, wrong reply sizes, unexpected closes: anything that makes the numbers suspect. */
  errors: number;
  /** Human-readable remarks (e.g. "offered rate not sustained"). */
  notes: string[];
}

export interface JobFailure {
  ok: false;
  error: string;
}

export type JobResult = JobSuccess | JobFailure;
