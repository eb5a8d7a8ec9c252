/**
 * `npm run soak -- [--seconds N] [--connections N] [--fault-percent P]` (issue 6 item 4): a nopoll echo listener in
 * a child process (bench/soak/server.ts), N nopoll `Conn` clients that each keep a few sequence-numbered messages in
 * flight and check every echo for order and content, fault peers on raw sockets (reset mid-frame, vanish
 * mid-handshake, half-close, stop reading), and one server restart halfway under clients that reconnect. Prints the
 * figures and exits 1 on any lost or reordered message, client dropped outside the restart, or handle leak.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import type { Msg } from '../../src/api/msg.js';
import { buildClientFrame, OP_TEXT, upgradeRequest } from '../loadgen/frames.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string' }, connections: { type: 'string' }, 'fault-percent': { type: 'string' } },
});
const seconds = Number(values.seconds ?? 60);
const connections = Number(values.connections ?? 2000);
const faultPeers = Math.max(4, Math.round((connections * Number(values['fault-percent'] ?? 3)) / 100));
const IN_FLIGHT = 4;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

// --- the server child -------------------------------------------------------------------------------------------
interface ServerStats {
  port: number;
  rss: number;
  peakRss: number;
  heapUsed: number;
  handles: Record<string, number>;
  accepted: number;
}
const child: ChildProcess = fork(fileURLToPath(new URL('./server.js', import.meta.url)), [], { execArgv: ['--expose-gc'] });
let nextId = 1;
const pending = new Map<number, { resolve: (v: ServerStats) => void; reject: (e: Error) => void }>();
child.on('message', (m: { id: number; ok: boolean; body?: ServerStats; error?: string }) => {
  const p = pending.get(m.id);
  pending.delete(m.id);
  if (m.ok) p?.resolve(m.body!);
  else p?.reject(new Error(m.error));
});
const ask = (op: string): Promise<ServerStats> =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ id, op });
  });

// --- the echo clients -------------------------------------------------------------------------------------------
const totals = { sent: 0, echoed: 0, lost: 0, reordered: 0, corrupted: 0, reconnects: 0, unackedAtRestart: 0, dropped: 0, connectFailures: 0 };
let sending = true;
let restarting = false;
const ctx = new Context({ handshakeTimeoutMs: 5000, connectTimeoutMs: 5000, closeTimeoutMs: 2000 });

/** The text of message `seq` of client `id`: the numbers first, then a filler of varying length that depends on both. */
function messageOf(id: number, seq: number): string {
  const len = (id * 31 + seq * 17) % 512;
  const ch = String.fromCharCode(97 + ((id + seq) % 26));
  return `${id}:${seq}:${ch.repeat(len)}`;
}

class Client {
  conn: Conn | null = null;
  seq = 0;
  /** Sequence numbers sent on the current connection and not echoed yet, oldest first. */
  outstanding: number[] = [];
  done = false;
  constructor(readonly id: number) {}

  async open(port: number): Promise<void> {
    for (;;) {
      try {
        const conn = await Conn.open(ctx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
        this.attach(conn);
        return;
      } catch {
        totals.connectFailures++;
        await sleep(100 + Math.random() * 200);
        if (this.done) return;
      }
    }
  }

  attach(conn: Conn): void {
    this.conn = conn;
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
    if (restarting) totals.unackedAtRestart += this.outstanding.length;
    else totals.dropped++;
    this.outstanding = [];
    totals.reconnects++;
    void sleep(50 + Math.random() * 450).then(() => (this.done ? undefined : this.open(serverPort)));
  }
}

// --- the fault peers --------------------------------------------------------------------------------------------
const faultCounts = { resetMidFrame: 0, vanishMidHandshake: 0, halfClose: 0, stopReading: 0 };
const faultSockets = new Set<Socket>();

/** One raw-socket misbehaviour; resolves when the socket is gone (destroyed by us or closed by the server). */
function fault(port: number, kind: number): Promise<void> {
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
        socket.write(request.subarray(0, 40 + Math.floor(Math.random() * 40)), () => (Math.random() < 0.5 ? socket.destroy() : socket.resetAndDestroy()));
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
    await fault(serverPort, n++ % 4);
    await sleep(20 + Math.random() * 80);
  }
}

// --- the run ----------------------------------------------------------------------------------------------------
const problems: string[] = [];
const started = await ask('start');
let serverPort = started.port;
await sleep(300);
const baseline = await ask('settle');
console.log(`server on 127.0.0.1:${serverPort}; ${connections} clients, ${faultPeers} fault lanes, ${seconds} s`);
console.log(`baseline: RSS ${mib(baseline.rss)} MiB, handles ${JSON.stringify(baseline.handles)}`);

const t0 = Date.now();
const clients = Array.from({ length: connections }, (_, i) => new Client(i));
for (let i = 0; i < clients.length; i += 100) await Promise.all(clients.slice(i, i + 100).map((c) => c.open(serverPort)));
const connectMs = Date.now() - t0;
const loaded = await ask('stats');
console.log(`${connections} clients connected in ${connectMs} ms; server RSS ${mib(loaded.rss)} MiB`);

const runStart = Date.now();
const deadline = runStart + seconds * 1000;
const faults = Array.from({ length: faultPeers }, (_, i) => faultLoop(i, deadline));
const progress = setInterval(() => {
  console.log(`  t=${Math.round((Date.now() - runStart) / 1000)} s: sent ${totals.sent}, echoed ${totals.echoed}`);
}, 10_000);

await sleep((deadline - Date.now()) / 2);
restarting = true;
const beforeRestart = { ...totals };
await ask('restart');
console.log(`server restarted at t=${Math.round((Date.now() - runStart) / 1000)} s`);
// Wait until every client is back, then leave the restart window.
const backBy = Date.now() + 30_000;
while (clients.some((c) => c.conn === null || !c.conn.isReady) && Date.now() < backBy) await sleep(100);
restarting = false;
const reconnected = clients.filter((c) => c.conn?.isReady === true).length;
if (reconnected !== connections) problems.push(`only ${reconnected} of ${connections} clients reconnected after the restart`);
console.log(`${reconnected} clients back after the restart (${totals.reconnects - beforeRestart.reconnects} reconnects)`);

await sleep(Math.max(0, deadline - Date.now()));
await Promise.all(faults);
clearInterval(progress);
const peak = await ask('stats');

// Drain: stop sending and wait for every outstanding message to come back.
sending = false;
const drainBy = Date.now() + 15_000;
while (clients.some((c) => c.outstanding.length > 0) && Date.now() < drainBy) await sleep(50);
for (const c of clients) {
  c.done = true;
  totals.lost += c.outstanding.length;
}
const elapsed = (Date.now() - runStart) / 1000;
await Promise.all(clients.map((c) => c.conn?.close().catch(() => undefined)));
await ctx.close();
for (const s of faultSockets) s.destroy();

// The load has left: the server's handles must return to the baseline.
let after = await ask('settle');
const sameHandles = (h: Record<string, number>): boolean =>
  Object.keys({ ...h, ...baseline.handles }).every((k) => (h[k] ?? 0) === (baseline.handles[k] ?? 0));
const settleBy = Date.now() + 10_000;
while (!sameHandles(after.handles) && Date.now() < settleBy) {
  await sleep(200);
  after = await ask('settle');
}
if (!sameHandles(after.handles)) problems.push(`server handles ${JSON.stringify(after.handles)} != baseline ${JSON.stringify(baseline.handles)}`);
await ask('stop');
child.disconnect();

if (totals.lost > 0) problems.push(`${totals.lost} messages lost`);
if (totals.reordered > 0) problems.push(`${totals.reordered} messages out of order`);
if (totals.corrupted > 0) problems.push(`${totals.corrupted} echoes with the wrong content`);
if (totals.dropped > 0) problems.push(`${totals.dropped} client connections dropped outside the restart`);

console.log(
  [
    `duration ${elapsed.toFixed(1)} s (load), connect ${connectMs} ms`,
    `connections ${connections} (+${totals.reconnects} reconnects after the restart, ${totals.connectFailures} failed connect attempts during the restart)`,
    `messages sent ${totals.sent}, echoed ${totals.echoed}, in flight when the server restarted ${totals.unackedAtRestart}`,
    `lost ${totals.lost}, reordered ${totals.reordered}, corrupted ${totals.corrupted}, dropped ${totals.dropped}`,
    `fault peers: ${JSON.stringify(faultCounts)}`,
    `server RSS: before ${mib(baseline.rss)} MiB, loaded ${mib(loaded.rss)} MiB, peak ${mib(Math.max(peak.peakRss, after.peakRss))} MiB, after (GC) ${mib(after.rss)} MiB`,
    `server heap used: before ${mib(baseline.heapUsed)} MiB, loaded ${mib(loaded.heapUsed)} MiB, after (GC) ${mib(after.heapUsed)} MiB`,
    `server handles: baseline ${JSON.stringify(baseline.handles)}, after ${JSON.stringify(after.handles)}`,
  ].join('\n'),
);
for (const p of problems) console.log('PROBLEM', p);
process.exitCode = problems.length === 0 ? 0 : 1;
