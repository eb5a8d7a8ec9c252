/**
 * noPoll regression client (`test/nopoll-regression-client.c`, nopoll-api.md §4.2), tests 43 to 46: listeners
 * created by the test itself (argument validation, roles, option sharing, closing inside on_msg, a port already
 * taken). Loopback and ephemeral ports only, instead of noPoll's fixed 1251-1256.
 *
 * Not ported: test_45's "client refcount after an extra ref + close is 1" (connections have no reference count
 * here: the garbage collector owns them), and test_46's "NULL host consumes the opts" (a missing host means the
 * default address, and option objects are never consumed).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Conn, ConnOpts, ConnectError, Context, Listener, type Msg } from '../../src/index.js';
import { ipv6LoopbackAvailable, within } from '../helpers/net.js';

const READY = { timeoutMs: 5000 };
const ACCEPT = { timeoutMs: 3000 };

/** A context whose connections are dropped and listeners closed when the test ends, whatever happened. */
function newCtx(t: TestContext): Context {
  const ctx = new Context();
  t.after(async () => {
    for (const conn of [...ctx.conns]) conn.shutdown();
    await Promise.all([...ctx.listeners].map((l) => l.close()));
  });
  return ctx;
}

test('noPoll test_43: listener argument validation and the main-listener role', async (t) => {
  const ctx = newCtx(t);
  for (const port of ['', undefined, null, 'abc', '12a', -1, 65536, 1.5, Number.NaN]) {
    await assert.rejects(
      async () => Listener.listen(ctx, { host: '127.0.0.1', port: port as unknown as number }),
      TypeError,
      `port ${String(port)}`,
    );
  }
  // An IPv6 listener on an IPv4 address.
  await assert.rejects(async () => Listener.listen(ctx, { host: '0.0.0.0', port: 0, ipv6: true }), TypeError);
  assert.equal(ctx.listeners.size, 0);
  assert.equal(ctx.connCount, 0);

  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: '0' });
  assert.equal(listener.role, 'main-listener');
  assert.equal(listener.isOk, true);
  assert.equal(listener.host, '127.0.0.1');
  assert.ok(listener.port > 0);
  assert.equal(ctx.connCount, 1);
  // It works: a client comes up.
  const client = Conn.connect(ctx, `ws://127.0.0.1:${listener.port}/`);
  const accepted = await listener.accept(ACCEPT);
  await Promise.all([client.waitUntilReady(READY), accepted.waitUntilReady(READY)]);
  assert.equal(accepted.host, '127.0.0.1');
  // The peer's port is the client's local port, and both stay readable once the socket is gone.
  assert.equal(accepted.port, client.socket!.localPort);
  const clientPort = accepted.port;
  await client.close();
  await within(accepted.closed, 3000, 'accepted side closed');
  assert.equal(accepted.socket!.destroyed, true);
  assert.deepEqual([accepted.host, accepted.port], ['127.0.0.1', clientPort]);
  await listener.close();
  assert.equal(listener.isOk, false);
  assert.equal(ctx.listeners.size, 0);
});

test('noPoll test_43: port strings that are not decimal numbers (" ", "0x0", "0e0") are refused', async (t) => {
  // noPoll hands the port string to getaddrinfo, which refuses them. Each maps to 0 if taken as a Number, so a
  // wrong acceptance binds an ephemeral port (on loopback) rather than a real one.
  const ctx = newCtx(t);
  const accepted: string[] = [];
  for (const port of [' ', '\t', '0x0', '0e0', '0.0']) {
    try {
      const listener = await Listener.listen(ctx, { host: '127.0.0.1', port });
      accepted.push(`${JSON.stringify(port)} -> listening on ${listener.port}`);
      await listener.close();
    } catch (error) {
      assert.ok(error instanceof TypeError, `port ${JSON.stringify(port)}: ${String(error)}`);
    }
  }
  assert.deepEqual(accepted, []);
  assert.equal(ctx.listeners.size, 0);
});

test('noPoll test_43: accept() on a closed listener fails instead of waiting forever', async (t) => {
  // noPoll's nopoll_conn_accept returns NULL once the master listener is closed.
  const ctx = newCtx(t);
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  const waiting = listener.accept().then(
    () => 'resolved',
    () => 'rejected',
  );
  await listener.close();
  const outcome = await within(waiting, 1000, 'pending accept()').catch(() => 'still pending');
  assert.equal(outcome, 'rejected', 'an accept() waiting when the listener closed');
  const later = await within(
    listener.accept().then(
      () => 'resolved',
      () => 'rejected',
    ),
    1000,
    'accept() after close',
  ).catch(() => 'still pending');
  assert.equal(later, 'rejected', 'accept() called after the listener closed');
});

test("noPoll test_43: an IPv6 listener on ::1 and an IPv6 client: the accepted connection's host is ::1", async (t) => {
  if (!(await ipv6LoopbackAvailable())) {
    t.skip('::1 is not available on this machine');
    return;
  }
  const ctx = newCtx(t);
  const listener = await Listener.listen(ctx, { host: '::1', port: 0, ipv6: true });
  assert.equal(listener.role, 'main-listener');
  const client = Conn.connect(ctx, { host: '::1', port: listener.port, ipv6: true });
  const accepted = await listener.accept(ACCEPT);
  await Promise.all([client.waitUntilReady(READY), accepted.waitUntilReady(READY)]);
  assert.equal(accepted.host, '::1');
  assert.equal(accepted.port, client.socket!.localPort);
  assert.equal(accepted.role, 'listener');
  assert.equal(client.hostHeader, `[::1]:${listener.port}`);
  assert.equal(accepted.hostHeader, `[::1]:${listener.port}`);
  await client.close();
  await within(accepted.closed, 3000, 'accepted side closed');
});

test('noPoll test_44: options with reuse and a cookie shared by a listener survive three accept cycles, refCount back to 1', async (t) => {
  const ctx = newCtx(t);
  const cookie = 'theme=light; sessionToken=abc123';
  const opts = new ConnOpts().setReuse(true).setCookie(cookie);
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0, opts });
  for (let cycle = 0; cycle < 3; cycle++) {
    const client = Conn.connect(ctx, `ws://127.0.0.1:${listener.port}/`, opts);
    const accepted = await listener.accept(ACCEPT);
    await Promise.all([client.waitUntilReady(READY), accepted.waitUntilReady(READY)]);
    assert.equal(accepted.cookie, cookie);
    assert.equal(accepted.listener, listener);
    const info = await client.close();
    assert.equal(info.wasClean, true);
    await within(accepted.closed, 3000, 'accepted side closed');
    assert.equal(opts.refCount, 1, `cycle ${cycle}`);
  }
  assert.equal(opts.refCount, 1);
  assert.equal(opts.reuse, true);
  assert.equal(opts.values.cookie, cookie);
  // The caller then drops it.
  opts.unref();
  assert.equal(opts.refCount, 0);
  assert.equal(ctx.conns.size, 0);
});

test('noPoll test_45: on_msg closing the connection inside the handler runs once and the context loses the connection', async (t) => {
  const ctx = newCtx(t);
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  const seen: string[] = [];
  ctx.onMessage = (conn: Conn, msg: Msg) => {
    seen.push(msg.text);
    void conn.close();
  };
  const client = Conn.connect(ctx, `ws://127.0.0.1:${listener.port}/`);
  const accepted = await listener.accept(ACCEPT);
  // noPoll drives its loop with nopoll_loop_wait(ctx, 100 ms) until the client is ready.
  for (let i = 0; i < 50 && !(client.isReady && accepted.isReady); i++)
    assert.equal(await ctx.loopWait(100), 'timeout');
  assert.equal(client.isReady, true);
  assert.equal(accepted.isReady, true);
  assert.equal(ctx.connCount, 3);

  assert.equal(client.sendText('close me'), 8);
  await within(accepted.closed, 3000, 'accepted side closed');
  await within(client.closed, 3000, 'client closed');
  assert.deepEqual(seen, ['close me']);
  assert.ok(ctx.connCount < 3);
  assert.equal(ctx.connCount, 1);
  assert.equal(client.closeStatus, 1000);
});

test('noPoll test_46: listening on a port already taken rejects with ConnectError; the options stay usable', async (t) => {
  const ctx = newCtx(t);
  const taken = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  const reuse = new ConnOpts().setReuse(true).setCookie('a=b');
  await assert.rejects(Listener.listen(ctx, { host: '127.0.0.1', port: taken.port, opts: reuse }), ConnectError);
  assert.equal(reuse.refCount, 1);
  const plain = new ConnOpts({ cookie: 'a=b' });
  await assert.rejects(Listener.listen(ctx, { host: '127.0.0.1', port: taken.port, opts: plain }), ConnectError);
  assert.equal(plain.refCount, 1);
  assert.equal(ctx.listeners.size, 1);

  // Both option objects still work for a listener and a client.
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0, opts: reuse });
  const client = Conn.connect(ctx, `ws://127.0.0.1:${listener.port}/`, plain);
  const accepted = await listener.accept(ACCEPT);
  await Promise.all([client.waitUntilReady(READY), accepted.waitUntilReady(READY)]);
  assert.equal(accepted.cookie, 'a=b');
  await client.close();
  await within(accepted.closed, 3000, 'accepted side closed');
});
