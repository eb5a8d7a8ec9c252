// Manual 1.7: reading. A message goes to onMessage when a handler is set; otherwise it waits in the connection's
// queue for getMsg() (never waits, nopoll_conn_get_msg), nextMsg() (a Promise) or `for await (const msg of conn)`.
import { Conn, Context, Listener, type Msg } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => {
  if (msg.text === 'bye') void conn.close(1000, 'bye');
  else conn.sendText(`echo: ${msg.text}`);
};
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });
const url = `ws://127.0.0.1:${listener.port}/`;

// 1. Handlers: the connection's own handler wins over the context's.
const ctx = new Context();
ctx.onMessage = () => check(false, 'the context handler must not run when the connection has its own');
const first = await Conn.open(ctx, url, { timeoutMs: 5000 });
const got = new Promise<Msg>((resolve) => {
  first.onMessage = (_conn, msg) => resolve(msg);
});
first.sendText('one');
checkEqual((await got).text, 'echo: one', 'handler delivery');
await first.close();

// 2. Pulling: no handler anywhere, so messages are queued.
const pullCtx = new Context();
const conn = await Conn.open(pullCtx, url, { timeoutMs: 5000 });
checkEqual(conn.getMsg(), null, 'getMsg returns null when nothing is queued');
conn.sendText('two');
checkEqual((await conn.nextMsg({ timeoutMs: 5000 })).text, 'echo: two', 'nextMsg');
conn.sendText('three');
let next: Msg | null = conn.getMsg();
while (next === null) {
  await new Promise((resolve) => setTimeout(resolve, 5)); // an application would do other work here
  next = conn.getMsg();
}
checkEqual(next.text, 'echo: three', 'getMsg after the message arrived');

// 3. Async iteration: ends when the connection closes.
conn.sendText('four');
conn.sendText('five');
conn.sendText('bye');
const rest: string[] = [];
for await (const msg of conn) rest.push(msg.text);
checkEqual(rest, ['echo: four', 'echo: five'], 'for await over the connection');
checkEqual([conn.closeStatus, conn.closeReason], [1000, 'bye'], 'the server closed after "bye"');

await pullCtx.close();
await ctx.close();
await serverCtx.close();
ok('reading (manual 1.7)');
