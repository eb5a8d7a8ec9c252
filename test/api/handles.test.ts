/**
 * Issue 6 item 4: every timer and socket is released when connections end, counted with
 * `process.getActiveResourcesInfo()`. It lists ref'd timers (the handshake timers); the keepalive and close timers
 * are unref'd, so they are not listed: their release is covered by the connection registry emptying.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

function count(): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) out.set(name, (out.get(name) ?? 0) + 1);
  return out;
}

it('50 connections with heartbeat and idle timers open, echo, close: TCP handles and timers return to the baseline', async () => {
  const srv = await startEchoListener({ pingIntervalMs: 1000, idleTimeoutMs: 5000 });
  const ctx = new Context({ pingIntervalMs: 1000, idleTimeoutMs: 5000 });
  await new Promise((r) => setImmediate(r));
  const before = count();
  const conns = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const conn = Conn.connect(ctx, srv.url);
      await conn.waitUntilReady({ timeoutMs: 5000 });
      return conn;
    }),
  );
  for (const conn of conns) conn.sendText('x');
  await Promise.all(conns.map((c) => c.nextMsg({ timeoutMs: 5000 })));
  assert.ok((count().get('TCPSocketWrap') ?? 0) >= (before.get('TCPSocketWrap') ?? 0) + 100, 'sockets were open');
  await Promise.all(conns.map((c) => withTimeout(c.close(), 5000, 'close')));
  // Server sides end once their TCP is gone; give the loop a few turns.
  for (let i = 0; i < 100 && srv.ctx.conns.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 20));
  const after = count();
  assert.equal(srv.ctx.conns.size, 0);
  assert.equal(after.get('TCPSocketWrap') ?? 0, before.get('TCPSocketWrap') ?? 0, 'sockets released');
  assert.ok(
    (after.get('Timeout') ?? 0) <= (before.get('Timeout') ?? 0),
    `timers released: ${JSON.stringify([...after])}`,
  );
  await srv.close();
});
