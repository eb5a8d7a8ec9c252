/**
 * A nopoll endpoint in a child process, for tests that measure memory: the parent plays the hostile peer and asks
 * this process for its peak memory, so the figures are the endpoint's alone. Run with `fork()`:
 *
 *   fork(build/test/helpers/memory-child.js, ['server', JSON options])   → sends { port }
 *   fork(..., ['client', url, JSON options])                             → sends { ready: true }
 *
 * Each data message is answered with the text `size:N` (its payload bytes), or with `stream:N` when the options
 * say `stream: true` (messages are read through `onMessageStream`). Messages `{ report: true }` from the parent are
 * answered with `{ baseline, peak, now }` RSS figures and the inbound budget. `{ budget: N }` sets the inbound
 * budget. The process samples RSS every 10 ms.
 */
import {
  Conn,
  Context,
  inboundBudgetStats,
  Listener,
  setInboundBudget,
  type ConnOptsInit,
  type MessageStream,
} from '../../src/index.js';

type ChildOptions = ConnOptsInit & { stream?: boolean; budget?: number; context?: Record<string, number> };

const [role, first, second] = process.argv.slice(2);
const options = JSON.parse((role === 'server' ? first : second) ?? '{}') as ChildOptions;
if (options.budget !== undefined) setInboundBudget(options.budget);

function settle(): number {
  globalThis.gc?.();
  return process.memoryUsage().rss;
}
const baseline = settle();
let peak = baseline;
const sampler = setInterval(() => {
  const rss = process.memoryUsage().rss;
  if (rss > peak) peak = rss;
}, 10);

const ctx = new Context({ ...(options.context ?? {}) });
const closes: Array<{ code: number; error: string | null }> = [];
ctx.onClose = (_conn, info) => {
  closes.push({
    code: info.code,
    error: info.error
      ? `${info.error.name}:${(info.error as { code?: string }).code ?? ''}:${info.error.message}`
      : null,
  });
};
function serve(conn: Conn): void {
  if (options.stream) {
    conn.onMessageStream = (c, stream: MessageStream) => {
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
      stream.on('end', () => c.sendText(`stream:${bytes}`));
    };
  }
}
ctx.onMessage = (conn, msg) => {
  conn.sendText(`size:${msg.size}`);
};
ctx.onReady = (conn) => serve(conn);

process.on('message', (m: { report?: boolean; budget?: number }) => {
  if (m.budget !== undefined) setInboundBudget(m.budget);
  if (m.report) {
    const now = process.memoryUsage().rss;
    process.send!({
      baseline,
      peak: Math.max(peak, now),
      now,
      budget: inboundBudgetStats(),
      closes,
      conns: ctx.conns.size,
    });
  }
});
process.on('SIGTERM', () => {
  clearInterval(sampler);
  void ctx.close().then(() => process.exit(0));
});

if (role === 'server') {
  const { stream: _s, budget: _b, context: _c, ...opts } = options;
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0, opts });
  process.send!({ port: listener.port });
} else {
  const { stream: _s, budget: _b, context: _c, ...opts } = options;
  const conn = await Conn.open(ctx, first!, { ...opts, timeoutMs: 5000 });
  serve(conn);
  process.send!({ ready: true });
}
