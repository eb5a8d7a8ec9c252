/**
 * The soak's server side, run in a child process (forked with --expose-gc) so that its RSS and active handles are
 * its own: a nopoll echo listener on 127.0.0.1, driven over IPC by bench/soak/soak.ts.
 *
 * Requests: `start` (listen, port 0 or the given one), `restart` (close the Context, dropping every connection, and
 * listen again on the same port with a fresh Context), `stats` (RSS now and at peak, handle counts by type, live
 * connections), `settle` (force GC, then stats), `stop`.
 */
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';

interface Request {
  id: number;
  op: 'start' | 'restart' | 'stats' | 'settle' | 'stop';
}

// Open the stdio handles now (they are created on first use, e.g. by a warning) so they are part of the baseline.
void process.stdout;
void process.stderr;

const opts = { maxPendingWriteBytes: 1024 * 1024, handshakeTimeoutMs: 2000, closeTimeoutMs: 1000, idleTimeoutMs: 10_000 };
let ctx: Context | null = null;
let listener: Listener | null = null;
let port = 0;
let accepted = 0;
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100);

async function listen(): Promise<void> {
  const c = new Context(opts);
  c.onReady = () => {
    accepted++;
  };
  c.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  ctx = c;
  listener = await Listener.listen(c, { host: '127.0.0.1', port, opts });
  port = listener.port;
}

function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) out[name] = (out[name] ?? 0) + 1;
  return out;
}

function stats(): object {
  const rss = process.memoryUsage().rss;
  peakRss = Math.max(peakRss, rss);
  return { port, rss, peakRss, heapUsed: process.memoryUsage().heapUsed, handles: handles(), accepted };
}

async function handle(req: Request): Promise<object> {
  switch (req.op) {
    case 'start':
      await listen();
      return stats();
    case 'restart':
      await ctx?.close();
      await listen();
      return stats();
    case 'stats':
      return stats();
    case 'settle': {
      const gc = (globalThis as { gc?: () => void }).gc;
      for (let i = 0; i < 3; i++) {
        gc?.();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return stats();
    }
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
