/**
 * `npm run soak -- [--seconds N] [--connections N] [--cycles N] [--fault-percent P] [--restart-signal S]
 * [--settle-seconds N] [--server-env NAME=VALUE]... [--server-flag FLAG]... [--heap-snapshots DIR]` (issue 6 item 4).
 *
 * A nopoll echo listener runs in a child process (bench/soak/server.ts). Each cycle connects N nopoll `Conn` clients,
 * then has them keep a few sequence-numbered messages in flight for the load period and check every echo for order
 * and content while fault peers on raw sockets misbehave (reset mid-frame, vanish mid-handshake, half-close, stop
 * reading); then it drains, closes everything, waits (--settle-seconds, default 1), forces GC in the server and
 * samples its memory and handles. Halfway through cycle 1 the server process is ended (--restart-signal, default
 * SIGTERM, SIGKILL after 5 s; `none` skips the restart) and a fresh one is forked on the same port; the clients
 * reconnect with backoff and carry on. Later cycles run against that second process, so its memory after each cycle
 * shows whether the residue grows. --server-env and --server-flag pass environment variables and Node flags to the
 * server processes (allocator experiments); --heap-snapshots writes a server heap snapshot after each cycle.
 *
 * Exits 1 on any lost, reordered or corrupted message, client dropped outside the restart or unable to reconnect,
 * server handles or connections not back to the baseline after a cycle, or memory after GC growing from cycle 1 to
 * the last cycle beyond the bounds below.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import type { Msg } from '../../src/api/msg.js';
import { buildClientFrame, OP_TEXT, upgradeRequest } from '../loadgen/frames.js';
import type { Request, ServerStats } from './server.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    connections: { type: 'string' },
    cycles: { type: 'string' },
    'fault-percent': { type: 'string' },
    'restart-signal': { type: 'string' },
    'server-env': { type: 'string', multiple: true },
    'server-flag': { type: 'string', multiple: true },
    'settle-seconds': { type: 'string' },
    'heap-snapshots': { type: 'string' },
  },
});
const seconds = Number(values.seconds ?? 20);
const connections = Number(values.connections ?? 2000);
const cycles = Number(values.cycles ?? 3);
const faultPeers = Math.max(4, Math.round((connections * Number(values['fault-percent'] ?? 3)) / 100));
const restartSignal = (values['restart-signal'] ?? 'SIGTERM').toUpperCase();
if (!['SIGTERM', 'SIGKILL', 'NONE'].includes(restartSignal))
  throw new TypeError('--restart-signal is SIGTERM, SIGKILL or none');
const serverEnv: Record<string, string> = {};
for (const kv of values['server-env'] ?? []) {
  const at = kv.indexOf('=');
  if (at <= 0) throw new TypeError(`--server-env ${kv}: expected NAME=VALUE`);
  serverEnv[kv.slice(0, at)] = kv.slice(at + 1);
}
const serverFlags = values['server-flag'] ?? [];
const settleMs = Number(values['settle-seconds'] ?? 1) * 1000;
const IN_FLIGHT = 4;
/**
 * Memory after GC may grow this much from cycle 1 to the last cycle (the server's own figures, same process): heap
 * used 1 MiB (about 260 bytes per connection over a default run); RSS 32 MiB. glibc keeps the freed part of its heap
 * below the highest chunk still in use, so RSS after GC wanders from cycle to cycle without a trend (up to 24 MiB
 * above cycle 1 in a 10-cycle run, see docs/reliability.md); the RSS bound sits above that wander.
 */
const HEAP_GROWTH_BOUND = 1 << 20;
const RSS_GROWTH_BOUND = 32 << 20;
/** How long the restarted server may take to exit after the signal before it is sent SIGKILL. */
const KILL_BOUND_MS = 5000;
/** How long a client keeps retrying its connect (backoff 100 ms doubling to 2 s, with jitter) before giving up. */
const RECONNECT_BOUND_MS = 30_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
const problems: string[] = [];

// --- the server process -----------------------------------------------------------------------------------------
const serverPath = fileURLToPath(new URL('./server.js', import.meta.url));

class Server {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  baseline: ServerStats | null = null;
  #nextId = 1;
  #pending = new Map<number, { resolve: (v: ServerStats) => void; reject: (e: Error) => void }>();
  #ending = false;

  constructor(readonly label: string) {
    this.child = fork(serverPath, [], {
      execArgv: ['--expose-gc', ...serverFlags],
      env: { ...process.env, ...serverEnv },
    });
    this.child.on('message', (m: { id: number; ok: boolean; body?: ServerStats; error?: string }) => {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.ok) p?.resolve(m.body!);
      else p?.reject(new Error(m.error));
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        if (!this.#ending) problems.push(`server ${label} exited on its own (${code ?? signal})`);
        for (const p of this.#pending.values()) p.reject(new Error(`server ${label} exited`));
        this.#pending.clear();
        resolve({ code, signal });
      });
    });
  }

  ask(op: Request['op'], extra: Omit<Request, 'id' | 'op'> = {}): Promise<ServerStats> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject });
      this.child.send({ id, op, ...extra } satisfies Request);
    });
  }

  /** Sends `signal`, then SIGKILL if the process is still there after KILL_BOUND_MS; says how it ended. */
  async end(signal: NodeJS.Signals): Promise<string> {
    this.#ending = true;
    const t0 = Date.now();
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.exited,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), KILL_BOUND_MS))),
    ]);
    clearTimeout(timer);
    if (result !== null) return `${signal}: exited (${result.code ?? result.signal}) after ${Date.now() - t0} ms`;
    this.child.kill('SIGKILL');
    await this.exited;
    return `${signal}: still running after ${KILL_BOUND_MS} ms, killed with SIGKILL`;
  }

  async stop(): Promise<void> {
    this.#ending = true;
    await this.ask('stop');
    this.child.disconnect();
    await this.exited;
  }
}

/**
 * A free port below the ephemeral range. While the server is down the clients keep connecting to its port; were
 * that port in the ephemeral range, a connect could be given it as its own source port and connect to itself (TCP
 * simultaneous open), holding the port against the new server.
 */
async function pickPort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the usual default
  }
  const from = Math.min(10_000, Math.max(1024, low - 1000));
  for (let i = 0; i < 50; i++) {
    const port = from + Math.floor(Math.random() * Math.max(1, low - from));
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen({ host: '127.0.0.1', port }, () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  return 0;
}

// --- the echo clients -------------------------------------------------------------------------------------------
interface Totals {
  sent: number;
  echoed: number;
  lost: number;
  reordered: number;
  corrupted: number;
  /** Client connections closed outside the restart window. */
  dropped: number;
  /** Client connections the restart closed, and the messages they had in flight (never acknowledged). */
  restartDrops: number;
  unackedAtRestart: number;
  connectFailures: number;
  gaveUp: number;
}
const newTotals = (): Totals => ({
  sent: 0,
  echoed: 0,
  lost: 0,
  reordered: 0,
  corrupted: 0,
  dropped: 0,
  restartDrops: 0,
  unackedAtRestart: 0,
  connectFailures: 0,
  gaveUp: 0,
});
let totals = newTotals();
let sending = true;
/** When the restart signal went out: connections opened before (or at) it and closed after it are the restart's. */
let restartSignalAt = Infinity;
let port = 0;
const ctx = new Context({ handshakeTimeoutMs: 5000, connectTimeoutMs: 5000, closeTimeoutMs: 2000 });

/** The text of message `seq` of client `id`: the numbers first, then a filler of varying length that depends on both. */
function messageOf(id: number, seq: number): string {
  const len = (id * 31 + seq * 17) % 512;
  const ch = String.fromCharCode(97 + ((id + seq) % 26));
  return `${id}:${seq}:${ch.repeat(len)}`;
}

class Client {
  conn: Conn | null = null;
  openedAt = 0;
  seq = 0;
  /** Sequence numbers sent on the current connection and not echoed yet, oldest first. */
  outstanding: number[] = [];
  done = false;
  constructor(readonly id: number) {}

  /** Connects, retrying with backoff for up to RECONNECT_BOUND_MS (the port is refused while the server is down). */
  async open(): Promise<boolean> {
    const giveUpAt = Date.now() + RECONNECT_BOUND_MS;
    for (let attempt = 0; !this.done; attempt++) {
      try {
        const conn = await Conn.open(ctx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
        if (this.done) {
          await conn.close().catch(() => undefined);
          return false;
        }
        this.attach(conn);
        return true;
      } catch {
        totals.connectFailures++;
        if (Date.now() >= giveUpAt) {
          totals.gaveUp++;
          return false;
        }
        await sleep(Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
      }
    }
    return false;
  }

  attach(conn: Conn): void {
    this.conn = conn;
    this.openedAt = Date.now();
    this.outstanding = [];
    conn.onMessage = (_c, msg) => this.onEcho(msg);
    conn.onClose = () => this.onClosed(conn);
    for (let i = 0; i < IN_FLIGHT; i++) this.send();
  }

  send(): void {
    if (!sending || this.conn === null) return;
    const seq = this.seq++;
    this.outstanding.push(seq);
    totals.sent++;
    this.conn.sendText(messageOf(this.id, seq));
  }

  onEcho(msg: Msg): void {
    const text = msg.text;
    const seq = Number(text.slice(text.indexOf(':') + 1, text.indexOf(':', text.indexOf(':') + 1)));
    const expected = this.outstanding[0];
    if (expected === undefined || seq !== expected) {
      // An echo ahead of the oldest outstanding message: everything before it was skipped.
      if (expected !== undefined && this.outstanding.includes(seq)) {
        while (this.outstanding[0] !== seq) {
          this.outstanding.shift();
          totals.lost++;
        }
      } else {
        totals.reordered++;
        return;
      }
    }
    this.outstanding.shift();
    if (text !== messageOf(this.id, seq)) totals.corrupted++;
    totals.echoed++;
    this.send();
  }

  onClosed(conn: Conn): void {
    if (this.conn !== conn) return;
    this.conn = null;
    if (this.done) return;
    if (this.openedAt <= restartSignalAt && Date.now() >= restartSignalAt) {
      totals.restartDrops++;
      totals.unackedAtRestart += this.outstanding.length;
    } else {
      totals.dropped++;
    }
    this.outstanding = [];
    void sleep(50 + Math.random() * 450).then(() => (this.done ? undefined : this.open()));
  }
}

// --- the fault peers --------------------------------------------------------------------------------------------
const newFaultCounts = (): Record<'resetMidFrame' | 'vanishMidHandshake' | 'halfClose' | 'stopReading', number> => ({
  resetMidFrame: 0,
  vanishMidHandshake: 0,
  halfClose: 0,
  stopReading: 0,
});
let faultCounts = newFaultCounts();
const faultSockets = new Set<Socket>();

/** One raw-socket misbehaviour; resolves when the socket is gone (destroyed by us or closed by the server). */
function fault(kind: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    faultSockets.add(socket);
    const guard = setTimeout(() => socket.destroy(), 5000);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      faultSockets.delete(socket);
      resolve();
    });
    const request = upgradeRequest('127.0.0.1', port);
    let upgraded = false;
    const afterUpgrade = (): void => {
      const frame = buildClientFrame(OP_TEXT, Buffer.alloc(4000, 0x61));
      if (kind === 0) {
        faultCounts.resetMidFrame++;
        socket.write(frame.subarray(0, 1000), () => socket.resetAndDestroy());
      } else if (kind === 2) {
        faultCounts.halfClose++;
        socket.end(frame); // the server should echo, see the FIN and end the connection
      } else {
        faultCounts.stopReading++;
        socket.pause();
        const big = buildClientFrame(OP_TEXT, Buffer.alloc(60_000, 0x62));
        for (let i = 0; i < 40; i++) socket.write(big);
        setTimeout(() => socket.destroy(), 1500);
      }
    };
    socket.on('connect', () => {
      if (kind === 1) {
        faultCounts.vanishMidHandshake++;
        socket.write(request.subarray(0, 40 + Math.floor(Math.random() * 40)), () =>
          Math.random() < 0.5 ? socket.destroy() : socket.resetAndDestroy(),
        );
        return;
      }
      socket.write(request);
    });
    let head = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return;
      head = Buffer.concat([head, chunk]);
      if (head.indexOf('\r\n\r\n') < 0) return;
      upgraded = true;
      afterUpgrade();
    });
  });
}

async function faultLoop(lane: number, until: number): Promise<void> {
  let n = lane;
  while (Date.now() < until) {
    await fault(n++ % 4);
    await sleep(20 + Math.random() * 80);
  }
}

// --- the run ----------------------------------------------------------------------------------------------------
interface Restart {
  ended: string;
  /** From the signal to the new process listening. */
  downMs: number;
  /** From the signal to every client connected again. */
  backMs: number;
  reconnected: number;
  /** Server A when every client was connected, and just before the signal. */
  aLoaded: ServerStats;
  aAtRestart: ServerStats;
}
interface Cycle {
  n: number;
  server: string;
  connectMs: number;
  loadMs: number;
  totals: Totals;
  faults: ReturnType<typeof newFaultCounts>;
  loaded: ServerStats;
  peakRss: number;
  after: ServerStats;
  restart: Restart | null;
}

let server = new Server('A');
const servers: Server[] = [server];
port = await pickPort();
server.baseline = await server.ask('start', { port });
port = server.baseline.port;
const sameHandles = (h: Record<string, number>, base: Record<string, number>): boolean =>
  Object.keys({ ...h, ...base }).every((k) => (h[k] ?? 0) === (base[k] ?? 0));
// The handle baseline is taken right after the listen; check it against a settled process with nothing connected.
const settledA = await server.ask('settle');
if (!sameHandles(settledA.handles, server.baseline.handles)) {
  problems.push(
    `server A handles at listen ${JSON.stringify(server.baseline.handles)} != settled ${JSON.stringify(settledA.handles)}`,
  );
}
console.log(
  `server A (pid ${server.baseline.pid}) on 127.0.0.1:${port}; ${connections} clients, ${faultPeers} fault lanes, ` +
    `${cycles} cycle(s) of ${seconds} s, restart ${restartSignal === 'NONE' ? 'off' : `by ${restartSignal} in cycle 1`}` +
    (Object.keys(serverEnv).length > 0 ? `, server env ${JSON.stringify(serverEnv)}` : '') +
    (serverFlags.length > 0 ? `, server flags ${serverFlags.join(' ')}` : ''),
);
console.log(
  `server A baseline: RSS ${mib(server.baseline.rss)} MiB, heap used ${mib(server.baseline.heapUsed)} MiB, handles ${JSON.stringify(server.baseline.handles)}`,
);

const clients = Array.from({ length: connections }, (_, i) => new Client(i));
const allReady = (): boolean => clients.every((c) => c.conn?.isReady === true);

async function restart(runStart: number, aLoaded: ServerStats): Promise<Restart> {
  const aAtRestart = await server.ask('stats');
  const t0 = Date.now();
  restartSignalAt = t0;
  const ended = await server.end(restartSignal as NodeJS.Signals);
  server = new Server('B');
  servers.push(server);
  server.baseline = await server.ask('start', { port });
  const downMs = Date.now() - t0;
  console.log(
    `  t=${Math.round((t0 - runStart) / 1000)} s: server A ${ended}; server B (pid ${server.baseline.pid}) listening ${downMs} ms after the signal` +
      ` (baseline RSS ${mib(server.baseline.rss)} MiB, heap used ${mib(server.baseline.heapUsed)} MiB)`,
  );
  const backBy = Date.now() + RECONNECT_BOUND_MS + 5000;
  while (!allReady() && Date.now() < backBy) await sleep(100);
  const backMs = Date.now() - t0;
  const reconnected = clients.filter((c) => c.conn?.isReady === true).length;
  if (reconnected !== connections)
    problems.push(`only ${reconnected} of ${connections} clients reconnected after the restart`);
  console.log(
    `  all ${reconnected} clients back ${backMs} ms after the signal (${totals.connectFailures} refused or failed connects)`,
  );
  return { ended, downMs, backMs, reconnected, aLoaded, aAtRestart };
}

async function cycle(n: number): Promise<Cycle> {
  totals = newTotals();
  faultCounts = newFaultCounts();
  // Connect everyone first, then start the echo load (a client that reconnects later starts sending at once).
  sending = false;
  for (const c of clients) c.done = false;
  await server.ask('stats', { resetPeak: true });
  const t0 = Date.now();
  for (let i = 0; i < clients.length; i += 100) await Promise.all(clients.slice(i, i + 100).map((c) => c.open()));
  const connectMs = Date.now() - t0;
  let loaded = await server.ask('stats');
  console.log(
    `cycle ${n}: ${clients.filter((c) => c.conn !== null).length} clients connected in ${connectMs} ms; server ${server.label} RSS ${mib(loaded.rss)} MiB`,
  );

  sending = true;
  for (const c of clients) for (let i = 0; i < IN_FLIGHT; i++) c.send();
  const runStart = Date.now();
  const deadline = runStart + seconds * 1000;
  const faults = Array.from({ length: faultPeers }, (_, i) => faultLoop(i, deadline));
  const progress = setInterval(() => {
    console.log(`  t=${Math.round((Date.now() - runStart) / 1000)} s: sent ${totals.sent}, echoed ${totals.echoed}`);
  }, 10_000);
  let restartInfo: Restart | null = null;
  if (n === 1 && restartSignal !== 'NONE') {
    await sleep((deadline - Date.now()) / 2);
    restartInfo = await restart(runStart, loaded);
    loaded = await server.ask('stats');
  }
  await sleep(Math.max(0, deadline - Date.now()));
  const peak = await server.ask('stats');

  // Drain: stop sending and wait for every outstanding message to come back (and for the last fault peers).
  sending = false;
  const tFaults = Date.now();
  await Promise.all(faults);
  clearInterval(progress);
  const faultsMs = Date.now() - tFaults;
  const drainBy = Date.now() + 15_000;
  while (clients.some((c) => c.outstanding.length > 0) && Date.now() < drainBy) await sleep(50);
  for (const c of clients) {
    c.done = true;
    totals.lost += c.outstanding.length;
    c.outstanding = [];
  }
  const loadMs = Date.now() - runStart;
  console.log(`  drained ${Date.now() - deadline} ms after the deadline (fault peers done after ${faultsMs} ms)`);
  await Promise.all(clients.map((c) => c.conn?.close().catch(() => undefined)));
  for (const s of faultSockets) s.destroy();
  await sleep(settleMs);

  // The load has left: the server's handles must return to its baseline and no connection may stay registered.
  const base = server.baseline!;
  let after = await server.ask('settle');
  const settleBy = Date.now() + 10_000;
  while ((!sameHandles(after.handles, base.handles) || after.conns !== 0) && Date.now() < settleBy) {
    await sleep(200);
    after = await server.ask('settle');
  }
  if (!sameHandles(after.handles, base.handles)) {
    problems.push(
      `cycle ${n}: server ${server.label} handles ${JSON.stringify(after.handles)} != baseline ${JSON.stringify(base.handles)}`,
    );
  }
  if (after.conns !== 0)
    problems.push(`cycle ${n}: ${after.conns} connections still registered in server ${server.label}`);
  if (values['heap-snapshots'] !== undefined) {
    const { path } = (await server.ask('snapshot', {
      path: join(values['heap-snapshots'], `soak-${server.label}-cycle${n}.heapsnapshot`),
    })) as unknown as { path: string };
    console.log(`  heap snapshot ${path}`);
  }
  for (const [what, count] of Object.entries({
    lost: totals.lost,
    reordered: totals.reordered,
    corrupted: totals.corrupted,
  })) {
    if (count > 0) problems.push(`cycle ${n}: ${count} messages ${what}`);
  }
  if (totals.dropped > 0) problems.push(`cycle ${n}: ${totals.dropped} client connections dropped outside the restart`);
  if (totals.gaveUp > 0) problems.push(`cycle ${n}: ${totals.gaveUp} clients gave up connecting`);
  return {
    n,
    server: server.label,
    connectMs,
    loadMs,
    totals,
    faults: faultCounts,
    loaded,
    peakRss: Math.max(peak.peakRss, after.peakRss),
    after,
    restart: restartInfo,
  };
}

const rows: Cycle[] = [];
for (let n = 1; n <= cycles; n++) {
  const row = await cycle(n);
  rows.push(row);
  const t = row.totals;
  const a = row.after;
  console.log(
    `cycle ${n} done: load ${(row.loadMs / 1000).toFixed(1)} s, sent ${t.sent}, echoed ${t.echoed}, in flight at restart ${t.unackedAtRestart}, ` +
      `lost ${t.lost}, reordered ${t.reordered}, corrupted ${t.corrupted}, dropped ${t.dropped}; faults ${JSON.stringify(row.faults)}`,
  );
  console.log(
    `  server ${row.server} after GC: RSS ${mib(a.rss)} MiB (anon ${mib(a.rssAnon)}, file ${mib(a.rssFile)}, malloc brk heap ${mib(a.rssBrk)}), heap used ${mib(a.heapUsed)} MiB ` +
      `(total ${mib(a.heapTotal)}, resident ${mib(a.heapPhysical)}), external ${mib(a.external)} MiB, arrayBuffers ${mib(a.arrayBuffers)} MiB, ` +
      `handles ${JSON.stringify(a.handles)}, connections ${a.conns}`,
  );
}
await ctx.close();
await server.stop();

// Memory flatness, from cycle 1 to the last cycle, in the process that served them all.
const first = rows[0]!;
const last = rows[rows.length - 1]!;
if (rows.length > 1 && first.server === last.server) {
  const heapGrowth = last.after.heapUsed - first.after.heapUsed;
  const rssGrowth = last.after.rss - first.after.rss;
  if (heapGrowth > HEAP_GROWTH_BOUND)
    problems.push(
      `heap used after GC grew ${mib(heapGrowth)} MiB from cycle 1 to cycle ${last.n} (bound ${mib(HEAP_GROWTH_BOUND)} MiB)`,
    );
  const rssBound = RSS_GROWTH_BOUND;
  if (rssGrowth > rssBound)
    problems.push(
      `RSS after GC grew ${mib(rssGrowth)} MiB from cycle 1 to cycle ${last.n} (bound ${mib(rssBound)} MiB)`,
    );
  console.log(
    `after GC, cycle 1 → cycle ${last.n}: RSS ${rssGrowth >= 0 ? '+' : ''}${mib(rssGrowth)} MiB (bound ${mib(rssBound)}), ` +
      `heap used ${heapGrowth >= 0 ? '+' : ''}${mib(heapGrowth)} MiB (bound ${mib(HEAP_GROWTH_BOUND)})`,
  );
}

const sum = (k: keyof Totals): number => rows.reduce((s, r) => s + r.totals[k], 0);
const restartRow = rows.find((r) => r.restart !== null);
console.log('--- summary');
console.log(
  [
    `${cycles} cycle(s), ${connections} connections each, ${seconds} s of load per cycle; load time ${rows.map((r) => (r.loadMs / 1000).toFixed(1)).join(' / ')} s, connect ${rows.map((r) => (r.connectMs / 1000).toFixed(1)).join(' / ')} s`,
    `messages sent ${sum('sent')}, echoed ${sum('echoed')}, in flight on connections the restart closed ${sum('unackedAtRestart')}`,
    `lost ${sum('lost')}, reordered ${sum('reordered')}, corrupted ${sum('corrupted')}, dropped outside the restart ${sum('dropped')}, gave up connecting ${sum('gaveUp')}`,
    `fault peers: ${JSON.stringify(rows.reduce((s, r) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v + r.faults[k as keyof typeof s]])) as typeof s, newFaultCounts()))}`,
  ].join('\n'),
);
if (restartRow?.restart) {
  const r = restartRow.restart;
  const a = servers[0]!;
  console.log(
    `restart: ${r.ended}; new process listening after ${r.downMs} ms, ${r.reconnected} clients back after ${r.backMs} ms ` +
      `(${restartRow.totals.restartDrops} connections closed, ${restartRow.totals.connectFailures} refused or failed connects)`,
  );
  console.log(
    `server A (pid ${a.baseline!.pid}): RSS before ${mib(a.baseline!.rss)} → connected ${mib(r.aLoaded.rss)} → ${mib(r.aAtRestart.rss)} at the restart (peak ${mib(r.aAtRestart.peakRss)}) MiB; heap used before ${mib(a.baseline!.heapUsed)} MiB, at the restart ${mib(r.aAtRestart.heapUsed)} MiB`,
  );
}
const b = server.baseline!;
console.log(
  `server ${server.label} (pid ${b.pid}): baseline RSS ${mib(b.rss)} MiB (anon ${mib(b.rssAnon)}, file ${mib(b.rssFile)}), heap used ${mib(b.heapUsed)} MiB, external ${mib(b.external)} MiB, arrayBuffers ${mib(b.arrayBuffers)} MiB, handles ${JSON.stringify(b.handles)}`,
);
console.log(
  'cycle | server | RSS connected | RSS peak | RSS after GC (anon / file / malloc brk heap) | heap used after GC | heap total / resident | external | arrayBuffers',
);
console.log(
  `0 (baseline) | ${server.label} | — | — | ${mib(b.rss)} (${mib(b.rssAnon)} / ${mib(b.rssFile)} / ${mib(b.rssBrk)}) | ${mib(b.heapUsed)} | ` +
    `${mib(b.heapTotal)} / ${mib(b.heapPhysical)} | ${mib(b.external)} | ${mib(b.arrayBuffers)}`,
);
for (const r of rows) {
  const a = r.after;
  console.log(
    `${r.n} | ${r.server} | ${mib(r.loaded.rss)} | ${mib(r.peakRss)} | ${mib(a.rss)} (${mib(a.rssAnon)} / ${mib(a.rssFile)} / ${mib(a.rssBrk)}) | ${mib(a.heapUsed)} | ` +
      `${mib(a.heapTotal)} / ${mib(a.heapPhysical)} | ${mib(a.external)} | ${mib(a.arrayBuffers)}`,
  );
}
for (const p of problems) console.log('PROBLEM', p);
process.exitCode = problems.length === 0 ? 0 : 1;
