// Guide §1.3: nopoll in worker threads. Each thread has its own Context; no
// nopoll object (Context, Conn, Listener, Msg) is shared between threads.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Conn, Context, Listener } from '../../src/index.js';

if (isMainThread) {
  // The main thread runs a server with its own Context.
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => {
    conn.sendText(`hello ${msg.text}`);
  };
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });

  // Each worker opens a client connection with a Context of its own and reports
  // the reply through postMessage: only plain data crosses threads.
  const replies = await Promise.all(
    [1, 2, 3].map(
      (n) =>
        new Promise<string>((resolve, reject) => {
          const worker = new Worker(new URL(import.meta.url), { workerData: { port: listener.port, n } });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  console.log(replies); // [ 'hello worker 1', 'hello worker 2', 'hello worker 3' ]
  await ctx.close();
} else {
  const { port, n } = workerData as { port: number; n: number };
  const ctx = new Context(); // this worker's own Context
  const conn = await Conn.open(ctx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
  conn.sendText(`worker ${n}`);
  const reply = await conn.nextMsg({ timeoutMs: 5000 });
  parentPort?.postMessage(reply.text);
  await ctx.close();
}
