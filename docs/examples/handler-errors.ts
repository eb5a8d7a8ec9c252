// Guide: handlers that throw.
import { Conn, Context, Listener } from '../../src/index.js';

const serverCtx = new Context();
serverCtx.onMessage = (_conn, msg) => {
  if (msg.text === 'bad') throw new Error('cannot handle this message');
};
// Receives every error a handler throws or rejects with. Without it, nopoll prints
// the error with console.error. Either way the process keeps running.
serverCtx.onError = (error, conn) => {
  console.log(`handler failed on connection ${conn?.id}: ${(error as Error).message}`);
};
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });

const ctx = new Context();
const conn = await Conn.open(ctx, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });
conn.sendText('bad');
const info = await conn.closed;
console.log(`closed by the server with ${info.code}`); // 1011 (internal error)

await ctx.close();
await serverCtx.close();
