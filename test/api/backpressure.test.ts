/**
 * The backpressure signal (docs/client.md): after a send, `conn.needsDrain` says whether the unsent bytes reached
 * the socket's high-water mark (send return values are unchanged); `onDrain` fires and `drained()` resolves once
 * the queue has emptied, with permessage-deflate too. The peer is a raw server that stops reading, then reads again.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { ConnectionClosedError, TimeoutError } from '../../src/errors.js';
import { RawServer, type RawPeer } from '../helpers/raw-peer.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';

const CHUNK = 'x'.repeat(64 * 1024);
const MAX_SENDS = 400; // 25 MiB at most: kernel buffers on loopback fill long before

async function pausedPeer(
  t: TestContext,
  extraHeaders: string[] = [],
): Promise<{ conn: Conn; peer: RawPeer; ctx: Context }> {
  const raw = await RawServer.start();
  t.after(() => raw.close());
  const ctx = new Context();
  ctx.onError = () => undefined;
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client'));
  const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, {
    timeoutMs: 5000,
    perMessageDeflate: extraHeaders.length > 0,
  });
  const peer = RawServer.accept(await raw.next(), extraHeaders);
  peer.socket.pause();
  return { conn: await opening, peer, ctx };
}

/** Sends 64 KiB messages until `needsDrain` says stop; every send still reports its bytes. */
function sendUntilFull(conn: Conn): number {
  for (let i = 1; i <= MAX_SENDS; i++) {
    assert.equal(conn.sendText(CHUNK), CHUNK.length, 'send return values are unchanged');
    if (conn.needsDrain) return i;
  }
  assert.fail(`needsDrain never became true after ${MAX_SENDS} sends`);
}

describe('backpressure: needsDrain, onDrain, drained()', () => {
  it('a peer that stops reading: needsDrain after some sends; onDrain once the queue is empty again', async (t) => {
    const { conn, peer } = await pausedPeer(t);
    const drains = new AsyncQueue<number>();
    conn.onDrain = (c) => drains.push(c.pendingWriteBytes);
    assert.equal(conn.needsDrain, false);
    const sends = sendUntilFull(conn);
    assert.ok(conn.pendingWriteBytes >= conn.socket!.writableHighWaterMark);
    const drained = conn.drained({ timeoutMs: 10_000 });
    assert.equal(drains.size, 0);
    peer.socket.resume();
    assert.equal(await drains.next(10_000, 'onDrain'), 0, 'the queue is empty when onDrain runs');
    await drained;
    assert.equal(conn.needsDrain, false);
    // The peer got every message.
    let received = 0;
    while (received < sends) {
      const frame = await peer.nextFrame(5000);
      if (frame.opcode === 1) received++;
    }
    assert.equal(drains.size, 0, 'onDrain fired once');
    // Small sends to a reading peer never need draining; drained() resolves at once.
    assert.equal(conn.sendText('small'), 5);
    assert.equal(conn.needsDrain, false);
    await conn.drained();
  });

  it('with permessage-deflate: messages waiting for compression count; drained() resolves once all is out', async (t) => {
    const { conn, peer } = await pausedPeer(t, ['Sec-WebSocket-Extensions: permessage-deflate']);
    assert.ok(conn.perMessageDeflate !== null, 'compression agreed');
    let fired = 0;
    conn.onDrain = () => fired++;
    // Random text compresses poorly, so the socket fills as well as the compressor's queue.
    const noisy = Buffer.alloc(64 * 1024);
    for (let i = 0; i < noisy.length; i++) noisy[i] = 0x61 + ((i * 7919) % 26);
    let full = false;
    for (let i = 0; i < MAX_SENDS && !full; i++) {
      assert.equal(conn.sendBinary(noisy), noisy.length);
      full = conn.needsDrain;
    }
    assert.ok(full, 'needsDrain became true');
    const waiting = conn.drained({ timeoutMs: 15_000 });
    peer.socket.resume();
    await waiting;
    assert.equal(conn.pendingWriteBytes, 0);
    assert.equal(fired, 1);
  });

  it('drained() rejects when the connection ends first, and times out with phase drain', async (t) => {
    const { conn, peer } = await pausedPeer(t);
    sendUntilFull(conn);
    const timedOut = await conn.drained({ timeoutMs: 50 }).then(
      () => assert.fail('resolved'),
      (error: unknown) => error,
    );
    assert.ok(timedOut instanceof TimeoutError && timedOut.phase === 'drain', String(timedOut));
    const waiting = conn.drained();
    peer.socket.destroy();
    const error = await waiting.then(
      () => assert.fail('resolved'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof ConnectionClosedError, String(error));
    assert.equal(conn.needsDrain, false, 'false once closed');
    await assert.rejects(conn.drained(), ConnectionClosedError);
  });

  it('an onDrain that throws is reported to onError; the connection goes on', async (t) => {
    const { conn, peer, ctx } = await pausedPeer(t);
    const errors = new AsyncQueue<unknown>();
    ctx.onError = (error) => errors.push(error);
    conn.onDrain = () => {
      throw new Error('drain handler failed');
    };
    sendUntilFull(conn);
    peer.socket.resume();
    assert.match(String(await errors.next(10_000, 'onError')), /drain handler failed/);
    assert.equal(conn.isReady, true);
  });

  it('works on a connection a listener accepted (server side)', async (t) => {
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing the server'));
    const ready = new AsyncQueue<Conn>();
    ctx.onReady = (conn) => ready.push(conn);
    const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
    const client = new Context();
    t.after(() => withTimeout(client.close(), 10_000, 'closing the client'));
    const conn = await Conn.open(client, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });
    conn.socket!.pause();
    const server = await ready.next(5000, 'server side');
    sendUntilFull(server);
    const waiting = server.drained({ timeoutMs: 10_000 });
    conn.socket!.resume();
    await waiting;
    assert.equal(server.pendingWriteBytes, 0);
  });
});
