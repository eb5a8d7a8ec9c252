// Guide §1.3: several processes serving one port with node:cluster.
import cluster from 'node:cluster';
import { Context, Listener } from '../../src/index.js';

const WORKERS = 2;

if (cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  // Stop the workers on Ctrl-C; each one closes its own Context.
  process.once('SIGINT', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
  });
} else {
  // Every worker process has its own Context and calls Listener.listen on the same
  // port; the cluster module shares the listening socket between them.
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => {
    conn.sendText(`process ${process.pid}: ${msg.text}`);
  };
  await Listener.listen(ctx, { host: '127.0.0.1', port: 9001 });
  process.once('SIGTERM', () => ctx.loopStop());
  await ctx.loopWait();
  await ctx.close();
  process.exit(0);
}
