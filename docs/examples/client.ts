// Guide §1.6: a client.
import { Conn, Context, Listener } from '../../src/index.js';

// A local echo server so that this example runs on its own.
const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => {
  conn.sendText(msg.text);
};
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });

const ctx = new Context();

// Like nopoll_conn_new: returns at once; the handshake runs in the background.
const conn = Conn.connect(ctx, `ws://127.0.0.1:${listener.port}/`);
// Like nopoll_conn_wait_until_connection_ready, but the timeout is in milliseconds.
await conn.waitUntilReady({ timeoutMs: 5000 });

const text = 'Hello there! this is a test';
if (conn.sendText(text) !== Buffer.byteLength(text)) {
  console.error('the connection no longer sends');
}
console.log(`echo: ${(await conn.nextMsg({ timeoutMs: 5000 })).text}`);
await conn.close();

// Conn.open does both steps and rejects if the handshake fails. A ConnectTarget
// object can replace the URL; options and the wait timeout go in the third argument.
const other = await Conn.open(
  ctx,
  { host: '127.0.0.1', port: listener.port, path: '/chat?room=1' },
  { protocols: ['chat'], timeoutMs: 5000 },
);
console.log(`ready: ${other.isReady}, subprotocol: ${other.acceptedProtocol}`); // the server picked 'chat'
await other.close();

await ctx.close();
await serverCtx.close();
