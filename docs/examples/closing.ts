// Guide: closing connections.
import { Conn, Context, Listener } from '../../src/index.js';

const serverCtx = new Context({ closeTimeoutMs: 3000 });
serverCtx.onMessage = (conn, msg) => {
  if (msg.text === 'bye') void conn.close(4000, 'see you');
};
// Runs once per connection, however it ended.
serverCtx.onClose = (conn, info) => {
  console.log(`server: connection ${conn.id} ended with ${info.code}, clean: ${info.wasClean}`);
};
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });
const url = `ws://127.0.0.1:${listener.port}/`;
const ctx = new Context();

// 1. We close: close() sends a close frame, waits for the peer's, and resolves
// when the TCP connection has ended (or the close timeout dropped it).
const a = await Conn.open(ctx, url, { timeoutMs: 5000 });
const mine = await a.close(1000, 'done');
console.log(`a: ${mine.code} ${mine.wasClean}`); // the code the server echoed: 1000 true

// 2. The peer closes: the `closed` promise resolves with what it sent.
const b = await Conn.open(ctx, url, { timeoutMs: 5000 });
b.sendText('bye');
const theirs = await b.closed;
console.log(`b: ${b.closeStatus} ${b.closeReason}`); // 4000 see you
console.log(`b: clean ${theirs.wasClean}`); // true

// 3. shutdown() drops TCP with no close frame: the peer sees 1006.
const c = await Conn.open(ctx, url, { timeoutMs: 5000 });
c.shutdown();
console.log(`c: ${(await c.closed).code}`); // 1006

await ctx.close();
await serverCtx.close();
