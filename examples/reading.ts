// Manual 1.7: reading. A message goes to onMessage when a handler is set; otherwise it waits in the connection's
// queue for getMsg() (never waits, nopoll_conn_get_msg), nextMsg() (a Promise) or `for await (const msg of conn)`.
import { createHash } from 'node:crypto';
import { Conn, Context, Listener, type MessageStream, type Msg } from '../src/index.js';
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

// 4. The stream view (nopoll_conn_read): bytes across message boundaries, with no handler set.
const reader = await Conn.open(pullCtx, url, { timeoutMs: 5000 });
reader.sendText('six');
reader.sendText('seven');
checkEqual(reader.tryRead(100), null, 'tryRead never waits: nothing there yet');
const first6 = await reader.read(12, { timeoutMs: 5000 }); // "echo: six" + "ech"
checkEqual(first6?.toString(), 'echo: sixech', 'read(12) spans two messages');
checkEqual(
  (await reader.read(100, { timeoutMs: 200 }))?.toString(),
  'o: seven',
  'at the timeout, read gives what it has',
);
checkEqual(reader.readPending, 0, 'readPending');
await reader.close();

// 5. A big message as a stream: it is hashed as it arrives, never held whole.
const streamCtx = new Context();
const hashed = new Promise<string>((resolve) => {
  streamCtx.onReady = (conn) => {
    conn.onMessageStream = (_conn, stream: MessageStream) => {
      const hash = createHash('sha256');
      stream.on('data', (chunk: Buffer) => hash.update(chunk));
      stream.on('end', () => resolve(`${stream.bytesReceived}:${hash.digest('hex')}`));
    };
  };
});
const streamListener = await Listener.listen(streamCtx, { host: '127.0.0.1', port: 0 });
const sender = await Conn.open(pullCtx, `ws://127.0.0.1:${streamListener.port}/`, { timeoutMs: 5000 });
const big = Buffer.alloc(8 * 1024 * 1024, 0x5a);
sender.sendBinary(big);
checkEqual(await hashed, `${big.length}:${createHash('sha256').update(big).digest('hex')}`, 'a streamed 8 MiB message');
await sender.close();
await streamListener.close();
await streamCtx.close();

await pullCtx.close();
await ctx.close();
await serverCtx.close();
ok('reading (manual 1.7, 1.8)');
