/**
 * The soak's server side, run in a child process (forked with --expose-gc) so that its RSS and active handles are
 * its own: a nopoll echo listener on 127.0.0.1, driven over IPC by bench/soak/soak.ts. The soak restarts the server
 * by ending this process (SIGTERM, SIGKILL if it outlives a bound) and forking a fresh one on the same port.
 *
 * Requests: `start` (force GC and record the memory baseline, then listen on the given port, retrying while it is
 * still taken, and record the handles at once, before anything can be accepted), `stats` (memory now and peak since
 * the last reset, handle counts by type, registered connections), `settle` (force GC, then stats), `snapshot`
 * (force GC, write a heap snapshot to the given path), `stop`. SIGTERM closes the Context (closing handshakes,
 * bounded by the close timeout) and exits 0.
 *
 * `SOAK_LEAK_BYTES=N` in the environment makes the server keep about N bytes of JS heap per accepted connection
 * forever: a deliberate leak, to check that the soak's memory bounds catch one.
 */
import { readFileSync } from 'node:fs';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';

export interface Request {
  id: number;
  op: 'start' | 'stats' | 'settle' | 'snapshot' | 'stop';
  port?: number;
  resetPeak?: boolean;
  path?: string;
}

/**
 * Memory of this process in bytes. `rssAnon`/`rssFile` come from /proc/self/status, `rssBrk` is the resident part of
 * the `[heap]` mapping in /proc/self/smaps (glibc's main malloc arena); 0 where they are missing.
 */
export interface Memory {
  rss: number;
  rssAnon: number;
  rssFile: number;
  rssBrk: number;
  heapTotal: number;
  heapUsed: number;
  /** Resident size of the V8 heap (`total_physical_size`). */
  heapPhysical: number;
  external: number;
  arrayBuffers: number;
}

export interface ServerStats extends Memory {
  pid: number;
  port: number;
  peakRss: number;
  handles: Record<string, number>;
  /** Connections registered in the Context (listeners not counted). */
  conns: number;
  accepted: number;
  /** Milliseconds the listen retried because the port was still taken (start only). */
  bindWaitMs?: number;
}

// Open the stdio handles now (they are created on first use, e.g. by a warning) so they are part of the baseline.
void process.stdout;
void process.stderr;

const opts = {
  maxPendingWriteBytes: 1024 * 1024,
  handshakeTimeoutMs: 2000,
  closeTimeoutMs: 1000,
  idleTimeoutMs: 10_000,
};
let ctx: Context | null = null;
let port = 0;
let accepted = 0;
let peakRss = process.memoryUsage().rss;
const leakBytes = Number(process.env.SOAK_LEAK_BYTES ?? 0);
const leaked: unknown[] = [];
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function procStatusKiB(field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function brkHeapRss(): number {
  try {
    const smaps = readFileSync('/proc/self/smaps', 'latin1');
    const at = smaps.indexOf(' [heap]\n');
    if (at < 0) return 0;
    const m = /^Rss:\s+(\d+) kB/m.exec(smaps.slice(at));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function memory(): Memory {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  return {
    rss: m.rss,
    rssAnon: procStatusKiB('RssAnon'),
    rssFile: procStatusKiB('RssFile'),
    rssBrk: brkHeapRss(),
    heapTotal: m.heapTotal,
    heapUsed: m.heapUsed,
    heapPhysical: getHeapStatistics().total_physical_size,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) out[name] = (out[name] ?? 0) + 1;
  return out;
}

function stats(mem: Memory = memory()): ServerStats {
  return { ...mem, pid: process.pid, port, peakRss, handles: handles(), conns: ctx?.conns.size ?? 0, accepted };
}

async function gc(): Promise<void> {
  const collect = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    collect?.();
    await sleep(50);
  }
}

async function start(wanted: number): Promise<ServerStats> {
  await gc();
  const baseline = memory();
  const c = new Context(opts);
  c.onReady = () => {
    accepted++;
    if (leakBytes > 0) leaked.push(new Array(Math.ceil(leakBytes / 8)).fill(accepted));
  };
  c.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  ctx = c;
  // The previous server's port can stay taken for a moment after it exits; retry for up to 10 s.
  const t0 = Date.now();
  for (;;) {
    try {
      port = (await Listener.listen(c, { host: '127.0.0.1', port: wanted, opts })).port;
      break;
    } catch (error) {
      if (Date.now() - t0 > 10_000 || !/EADDRINUSE/.test(String((error as Error).cause ?? error))) throw error;
      await sleep(50);
    }
  }
  // The listen settles before the loop polls the new socket, so nothing has been accepted yet.
  return { ...stats(baseline), bindWaitMs: Date.now() - t0 };
}

async function handle(req: Request): Promise<object> {
  switch (req.op) {
    case 'start':
      return await start(req.port ?? 0);
    case 'stats': {
      const s = stats();
      if (req.resetPeak === true) peakRss = s.rss;
      return s;
    }
    case 'settle':
      await gc();
      return stats();
    case 'snapshot':
      await gc();
      return { path: writeHeapSnapshot(req.path) };
    case 'stop':
      clearInterval(sampler);
      await ctx?.close();
      return {};
  }
}

process.on('message', (req: Request) => {
  handle(req).then(
    (body) => process.send?.({ id: req.id, ok: true, body }),
    (error: unknown) => process.send?.({ id: req.id, ok: false, error: String(error) }),
  );
});

process.on('SIGTERM', () => {
  clearInterval(sampler);
  void (ctx?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
