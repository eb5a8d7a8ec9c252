// Guide §1.3: passing accepted sockets to a child process.
import { fork } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Conn, Context, Listener } from '../../src/index.js';

if (process.argv[2] !== 'child') {
  // Parent: accepts TCP connections and sends each socket to the child. With
  // pauseOnConnect, the parent reads nothing, so no byte is lost on the way.
  const child = fork(fileURLToPath(import.meta.url), ['child']);
  await new Promise((resolve) => child.once('message', resolve)); // the child is ready
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    child.send('socket', socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  const ctx = new Context();
  const conn = await Conn.open(ctx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
  conn.sendText('hi');
  console.log((await conn.nextMsg({ timeoutMs: 5000 })).text); // "child <pid>: hi"
  await conn.close();
  await ctx.close();
  server.close();
  child.kill('SIGTERM');
} else {
  // Child: runs the WebSocket handshake on every socket it receives.
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => {
    conn.sendText(`child ${process.pid}: ${msg.text}`);
  };
  const listener = Listener.detached(ctx);
  process.on('message', (message: unknown, socket?: Socket) => {
    if (message === 'socket' && socket) listener.acceptSocket(socket);
  });
  process.once('SIGTERM', () => {
    void ctx.close().then(() => process.exit(0));
  });
  process.send?.('ready');
}
