/**
 * ReconnectingConn (docs/client.md) against our own server stopped and started again on the same port: backoff
 * with jitter and a cap, events for each retry, the hook on each (re)connection (where a client subscribes again),
 * sends while disconnected refused or queued up to a bound, giving up after `maxAttempts` or on a refusal that
 * retrying will not change, and `close()` stopping it all.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { backoffDelay, ReconnectingConn, type ReconnectAttempt } from '../../src/api/reconnect.js';
import { ConnectionClosedError, HandshakeError } from '../../src/errors.js';
import { freePort } from '../helpers/proxies.js';
import { AsyncQueue, delay, withTimeout } from '../helpers/ws-async.js';

/** Our server on a fixed port, which the test stops and starts again. Records every text message in order. */
class RestartableServer {
  readonly port: number;
  readonly received = new AsyncQueue<string>();
  readonly ready = new AsyncQueue<Conn>();
  refuse = false;
  #ctx: Context | null = null;

  constructor(port: number) {
    this.port = port;
  }

  async start(): Promise<void> {
    const ctx = new Context();
    ctx.onOpen = () => !this.refuse;
    ctx.onReady = (conn) => this.ready.push(conn);
    ctx.onMessage = (_conn, msg) => this.received.push(msg.text);
    await Listener.listen(ctx, { host: '127.0.0.1', port: this.port });
    this.#ctx = ctx;
  }

  /** Stops listening and closes every connection with 1001 (a server going down). */
  async stop(): Promise<void> {
    const ctx = this.#ctx;
    this.#ctx = null;
    if (ctx !== null) await withTimeout(ctx.close(1001, 'restarting'), 10_000, 'stopping the server');
  }
}

async function server(t: TestContext): Promise<RestartableServer> {
  const s = new RestartableServer(await freePort());
  await s.start();
  t.after(() => s.stop());
  return s;
}

function clientContext(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return ctx;
}

/** A client whose handlers push into queues; closed after the test. */
function client(t: TestContext, url: string, policy: ConstructorParameters<typeof ReconnectingConn>[3]) {
  const rc = new ReconnectingConn(clientContext(t), url, { connectTimeoutMs: 2000 }, policy);
  t.after(() => rc.close());
  const opens = new AsyncQueue<{ attempt: number; reconnect: boolean }>();
  const attempts = new AsyncQueue<ReconnectAttempt>();
  const disconnects = new AsyncQueue<number>();
  const gaveUp = new AsyncQueue<Error>();
  rc.onOpen = (conn, info) => {
    opens.push(info);
    conn.sendText('subscribe');
  };
  rc.onReconnecting = (info) => attempts.push(info);
  rc.onDisconnect = (info) => disconnects.push(info.code);
  rc.onGiveUp = (error) => gaveUp.push(error);
  return { rc, opens, attempts, disconnects, gaveUp };
}

describe('ReconnectingConn', () => {
  it('comes back after the server restarts on the same port; subscribes again, then sends what was queued, in order', async (t) => {
    const srv = await server(t);
    const { rc, opens, attempts, disconnects } = client(t, `ws://127.0.0.1:${srv.port}/`, {
      initialDelayMs: 40,
      maxDelayMs: 200,
      whileDisconnected: 'queue',
    });
    assert.deepEqual(await opens.next(5000, 'first open'), { attempt: 0, reconnect: false });
    assert.equal(await srv.received.next(5000, 'subscribe'), 'subscribe');
    assert.equal(rc.sendText('live'), 4);
    assert.equal(await srv.received.next(5000, 'live'), 'live');

    await srv.stop();
    assert.equal(await disconnects.next(5000, 'disconnect'), 1001);
    assert.equal(rc.sendText('queued 1'), 8);
    assert.equal(rc.sendBinary(Buffer.from('queued 2')), 8);
    assert.equal(rc.queuedBytes, 16);
    // While the port is closed, retries fail: each is announced with a growing delay, up to the cap.
    const first = await attempts.next(5000, 'retry 1');
    const second = await attempts.next(5000, 'retry 2');
    assert.deepEqual([first.attempt, second.attempt], [1, 2]);
    assert.ok(first.error instanceof ConnectionClosedError && first.error.closeCode === 1001, String(first.error));
    assert.ok(first.delayMs >= 20 && first.delayMs <= 40, `first delay ${first.delayMs}`);
    assert.ok(second.delayMs >= 40 && second.delayMs <= 80, `second delay ${second.delayMs}`);
    assert.ok(second.error.message.length > 0);
    assert.equal(rc.state === 'waiting' || rc.state === 'connecting', true);

    await srv.start();
    const reopened = await opens.next(10_000, 'reopen');
    assert.equal(reopened.reconnect, true);
    assert.ok(reopened.attempt >= 2, `attempt ${reopened.attempt}`);
    // The hook's message first, then the queue in order.
    assert.equal(await srv.received.next(5000, 'subscribe again'), 'subscribe');
    assert.equal(await srv.received.next(5000, 'queued 1'), 'queued 1');
    assert.equal(await srv.received.next(5000, 'queued 2'), 'queued 2');
    assert.equal(rc.queuedBytes, 0);
    assert.equal(rc.attempts, 0);
    assert.equal(rc.state, 'open');
    const conn = await rc.ready();
    assert.equal(conn.isReady, true);
  });

  it("'refuse' (the default) returns -1 while disconnected; 'queue' refuses past maxQueuedBytes", async (t) => {
    const srv = await server(t);
    const refusing = client(t, `ws://127.0.0.1:${srv.port}/`, { initialDelayMs: 1000 });
    const queueing = client(t, `ws://127.0.0.1:${srv.port}/`, {
      initialDelayMs: 1000,
      whileDisconnected: 'queue',
      maxQueuedBytes: 10,
    });
    await refusing.opens.next(5000, 'open');
    await queueing.opens.next(5000, 'open');
    await srv.stop();
    await refusing.disconnects.next(5000, 'disconnect');
    await queueing.disconnects.next(5000, 'disconnect');
    assert.equal(refusing.rc.sendText('lost'), -1);
    assert.equal(queueing.rc.sendText('123456'), 6);
    assert.equal(queueing.rc.sendText('7890'), 4);
    assert.equal(queueing.rc.sendText('x'), -1, 'past the bound');
    assert.equal(queueing.rc.queuedBytes, 10);
  });

  it('gives up after maxAttempts retries: onGiveUp, ready() rejects, state closed', async (t) => {
    const port = await freePort();
    const { rc, attempts, gaveUp } = client(t, `ws://127.0.0.1:${port}/`, {
      initialDelayMs: 10,
      factor: 3,
      maxDelayMs: 50,
      jitter: 0,
      maxAttempts: 3,
    });
    const waiting = rc.ready();
    const delays: number[] = [];
    for (let i = 1; i <= 3; i++) delays.push((await attempts.next(5000, `retry ${i}`)).delayMs);
    assert.deepEqual(delays, [10, 30, 50], 'without jitter: 10 × 3^(n-1), capped at 50');
    const error = await gaveUp.next(5000, 'give up');
    assert.equal((error.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
    assert.equal(rc.state, 'closed');
    await assert.rejects(waiting);
    assert.equal(rc.sendText('x'), -1);
    assert.equal(attempts.size, 0, 'no fourth retry');
  });

  it('does not retry a refusal that will not change (403) by default; shouldReconnect can say otherwise', async (t) => {
    const srv = await server(t);
    srv.refuse = true;
    const plain = client(t, `ws://127.0.0.1:${srv.port}/`, { initialDelayMs: 10 });
    const error = await plain.gaveUp.next(5000, 'give up');
    assert.ok(error instanceof HandshakeError && error.status === 403, String(error));
    assert.equal(plain.attempts.size, 0);
    const stubborn = client(t, `ws://127.0.0.1:${srv.port}/`, {
      initialDelayMs: 10,
      jitter: 0,
      shouldReconnect: () => true,
    });
    assert.equal((await stubborn.attempts.next(5000, 'retry')).attempt, 1);
    srv.refuse = false;
    assert.deepEqual(await stubborn.opens.next(5000, 'open'), { attempt: 1, reconnect: false });
  });

  it('close() stops retrying for good and closes the open connection', async (t) => {
    const srv = await server(t);
    const { rc, opens, attempts } = client(t, `ws://127.0.0.1:${srv.port}/`, { initialDelayMs: 20 });
    await opens.next(5000, 'open');
    const serverSide = await srv.ready.next(5000, 'server side');
    await rc.close(1000, 'bye');
    const info = await withTimeout(serverSide.closed, 5000, 'server sees the close');
    assert.deepEqual([info.code, info.reason], [1000, 'bye']);
    assert.equal(rc.state, 'closed');
    await delay(100);
    assert.equal(attempts.size, 0);
    await assert.rejects(rc.ready(), ConnectionClosedError);
  });

  it('an async onOpen hook runs before the queue; a throwing one is reported and the queue still goes', async (t) => {
    const srv = await server(t);
    const errors = new AsyncQueue<unknown>();
    const ctx = clientContext(t);
    ctx.onError = (error) => errors.push(error);
    const rc = new ReconnectingConn(
      ctx,
      `ws://127.0.0.1:${srv.port}/`,
      {},
      { initialDelayMs: 20, whileDisconnected: 'queue' },
    );
    t.after(() => rc.close());
    let opened = 0;
    rc.onOpen = async (conn) => {
      opened++;
      await delay(30);
      conn.sendText(`hello ${opened}`);
      if (opened === 2) throw new Error('hook failed');
    };
    assert.equal(rc.sendText('early'), 5, 'queued before the first open');
    assert.equal(await srv.received.next(5000, 'hook'), 'hello 1');
    assert.equal(await srv.received.next(5000, 'queue'), 'early');
    await srv.stop();
    await srv.start();
    assert.equal(await srv.received.next(10_000, 'hook again'), 'hello 2');
    assert.match(String(await errors.next(5000, 'reported')), /hook failed/);
  });

  it('backoffDelay: exponential, capped, jitter within [d·(1-j), d]; bad policies throw', (t) => {
    assert.equal(backoffDelay(1, { jitter: 0 }), 500);
    assert.equal(backoffDelay(4, { jitter: 0 }), 4000);
    assert.equal(backoffDelay(20, { jitter: 0 }), 30_000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, { initialDelayMs: 100, jitter: 0.5 });
      assert.ok(d >= 200 && d <= 400, String(d));
      const full = backoffDelay(3, { initialDelayMs: 100, jitter: 1 });
      assert.ok(full >= 0 && full <= 400, String(full));
    }
    const ctx = clientContext(t);
    assert.throws(() => new ReconnectingConn(ctx, 'ws://127.0.0.1:9/', {}, { jitter: 2 }), RangeError);
    assert.throws(() => new ReconnectingConn(ctx, 'ws://127.0.0.1:9/', {}, { maxAttempts: 0 }), RangeError);
    assert.throws(() => new ReconnectingConn(ctx, 'ftp://127.0.0.1:9/'), TypeError);
  });

  it('calls a target function before each attempt, and an onMessage set after construction reaches the first connection', async (t) => {
    const srv = await server(t);
    const targets: string[] = [];
    let n = 0;
    const rc = new ReconnectingConn(
      clientContext(t),
      () => {
        const url = `ws://127.0.0.1:${srv.port}/attempt-${++n}`;
        targets.push(url);
        return url;
      },
      {},
      { initialDelayMs: 20, jitter: 0 },
    );
    t.after(() => rc.close());
    const got = new AsyncQueue<string>();
    rc.onMessage = (_conn, msg) => got.push(msg.text);
    const first = await srv.ready.next(5000, 'first connection');
    assert.equal(first.requestedUrl, '/attempt-1');
    first.sendText('to the first connection');
    assert.equal(await got.next(5000, 'message'), 'to the first connection');
    first.shutdown();
    const second = await srv.ready.next(5000, 'second connection');
    assert.equal(second.requestedUrl, '/attempt-2');
    assert.deepEqual(
      targets.map((u) => new URL(u).pathname),
      ['/attempt-1', '/attempt-2'],
    );
  });
});
