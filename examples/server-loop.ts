// Manual 1.5: a server on the built-in loop. A listener, a context-wide message handler that replies
// "Message received", and ctx.loopWait() until ctx.loopStop(). A client in the same process checks the replies.
import { Conn, Context, Listener } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
const ctx = new Context();
let received = 0;

// nopoll_ctx_set_on_msg: called for every message on every connection of the context.
ctx.onMessage = (conn, msg) => {
  received++;
  const shown = msg.isText ? msg.text.slice(0, 32) : `<${msg.size} binary bytes>`;
  console.log(`server: received ${msg.size} bytes on connection ${conn.id}: '${shown}' (fragment: ${msg.isFragment})`);
  conn.sendText('Message received');
};

// nopoll_listener_new(ctx, "", "1234"); port 0 picks a free port so the example never collides.
const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
check(listener.isOk, 'the listener is up');

// The client side, driven while the server waits in its loop.
async function client(): Promise<void> {
  const clientCtx = new Context();
  const conn = await Conn.open(clientCtx, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });
  for (const text of ['first', 'second', 'third']) {
    conn.sendText(text);
    checkEqual((await conn.nextMsg({ timeoutMs: 5000 })).text, 'Message received', `reply to ${text}`);
  }
  await conn.close();
  await clientCtx.close();
  ctx.loopStop(); // nopoll_loop_stop: makes loopWait return 'stopped'
}

const [result] = await Promise.all([ctx.loopWait(10_000), client()]);
checkEqual(result, 'stopped', 'loopWait ends when loopStop is called');
checkEqual(received, 3, 'messages seen by the server handler');
// loopWait can be called again; with a timeout it returns 'timeout'.
checkEqual(await ctx.loopWait(10), 'timeout', 'a second loopWait times out');
await ctx.close();
ok('server-loop (manual 1.5)');
