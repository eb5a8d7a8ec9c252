// Guide §1.7: reading messages with handlers or by pulling them.
import { Conn, Context, Listener, type Msg } from '../../src/index.js';

const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => {
  conn.sendText(`echo: ${msg.text}`);
};
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });
const url = `ws://127.0.0.1:${listener.port}/`;

// 1. Handlers. A connection's own handler wins over its context's.
const ctx = new Context();
const first = await Conn.open(ctx, url, { timeoutMs: 5000 });
const got = new Promise<Msg>((resolve) => {
  first.onMessage = (_conn, msg) => resolve(msg);
});
first.sendText('one');
console.log((await got).text); // "echo: one"
await first.close();

// 2. Pulling. Messages are queued only when neither the connection nor its
// context has an onMessage handler.
const pullCtx = new Context();
const conn = await Conn.open(pullCtx, url, { timeoutMs: 5000 });
conn.sendText('two');
conn.sendText('three');
const msg = await conn.nextMsg({ timeoutMs: 5000 }); // waits for the next message
console.log(msg.text); // "echo: two"

// getMsg() never waits: null means nothing is queued yet (nopoll_conn_get_msg).
let next: Msg | null = conn.getMsg();
while (next === null) {
  await new Promise((resolve) => setTimeout(resolve, 10));
  next = conn.getMsg();
}
console.log(next.text); // "echo: three"

await conn.close();
await pullCtx.close();
await ctx.close();
await serverCtx.close();
