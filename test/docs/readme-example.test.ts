// The README's example, run as written (imports mapped to the source tree).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Conn, Context, Listener } from '../../src/index.js';

test('README example: echo server and client, closing handshake', async () => {
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.text);
    else conn.sendBinary(msg.payload);
  };
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  const client = new Context();
  const conn = await Conn.open(client, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });
  conn.sendText('Hello there!');
  const reply = await conn.nextMsg({ timeoutMs: 5000 });
  assert.equal(reply.text, 'Hello there!');
  const info = await conn.close(1000, 'done');
  assert.equal(info.code, 1000);
  assert.equal(info.wasClean, true);
  await ctx.close();
  assert.equal(ctx.connCount, 0);
  assert.equal(client.connCount, 0);
});
