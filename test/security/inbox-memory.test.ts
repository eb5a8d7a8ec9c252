// Issue 11: received data nobody reads is bounded in bytes, not only in messages. With no onMessage handler,
// messages wait in the connection's inbox; at 1 MiB (or 64 messages) the input stops, so the peer is slowed by
// TCP, and the bytes waiting count against the process-wide inbound budget until they are read.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Context, inboundBudgetStats, Listener, type Conn } from '../../src/index.js';
import { OP, rawClient } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';

const KiB = 1024;

it('unread messages: the input stops at 1 MiB of them, resumes as they are read, and leaves the budget', async (t) => {
  const ctx = new Context();
  t.after(() => ctx.close());
  const accepted: Conn[] = [];
  ctx.onReady = (conn) => void accepted.push(conn);
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  const { peer } = await rawClient(listener.port);
  t.after(() => peer.destroy());
  const before = inboundBudgetStats().used;
  // 16 messages of 256 KiB: 4 MiB in all, far fewer than the 64-message bound.
  for (let i = 0; i < 16; i++) peer.send({ opcode: OP.BINARY, payload: Buffer.alloc(256 * KiB, i) });
  const conn = await withTimeout(
    (async () => {
      while (accepted[0]?.isPaused !== true) await new Promise((resolve) => setTimeout(resolve, 10));
      return accepted[0];
    })(),
    5000,
    'the input pausing',
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  // Paused after the message that reached 1 MiB: whatever was already read stays, the rest waits in TCP.
  assert.ok(conn.readPending >= 1024 * KiB, `pending ${conn.readPending}`);
  assert.ok(conn.readPending < 2 * 1024 * KiB, `pending ${conn.readPending}`);
  assert.ok(inboundBudgetStats().used - before >= conn.readPending, 'the unread bytes are charged to the budget');
  let got = 0;
  while (got < 16) {
    const msg = await conn.nextMsg({ timeoutMs: 5000 });
    assert.equal(msg.payload[0], got);
    got++;
  }
  assert.equal(conn.readPending, 0);
  assert.equal(conn.isPaused, false);
  assert.equal(inboundBudgetStats().used, before);
});
