/**
 * A completed closing handshake is clean whatever TCP does next (RFC 6455 §7.1.1, §7.1.4): a server that resets the
 * connection right after both close frames crossed (Autobahn|Testsuite's server does) must not turn the close into
 * an unclean one, neither in the library (`wasClean`) nor in `nopoll echo-client` (exit status 0). A reset before
 * the handshake completed stays unclean.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { exitCode, nopoll } from '../helpers/cli.js';
import { OP, RawServer, closeBody, parseClose, type RawPeer } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';

async function rawServer(t: TestContext): Promise<RawServer> {
  const raw = await RawServer.start();
  t.after(() => raw.close());
  return raw;
}

/** Waits for the client's close frame (skipping others) and returns its code. */
async function clientClose(peer: RawPeer): Promise<number | null> {
  for (;;) {
    const frame = await peer.nextFrame(3000);
    if (frame.opcode === OP.CLOSE) return parseClose(frame.payload).code;
  }
}

describe('a reset after the closing handshake', () => {
  it('server-initiated close, then a reset once our close frame was read: clean, code kept', async (t) => {
    const raw = await rawServer(t);
    const ctx = new Context();
    t.after(() => ctx.close());
    const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { timeoutMs: 3000 });
    const peer = RawServer.accept(await raw.next());
    const conn = await opening;
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1000, 'done') });
    assert.equal(await clientClose(peer), 1000);
    peer.socket.resetAndDestroy();
    const info = await withTimeout(conn.closed, 5000, 'closed');
    assert.deepEqual([info.code, info.reason, info.wasClean, info.error], [1000, 'done', true, undefined]);
  });

  it('client-initiated close, answered, then a reset: clean', async (t) => {
    const raw = await rawServer(t);
    const ctx = new Context();
    t.after(() => ctx.close());
    const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { timeoutMs: 3000 });
    const peer = RawServer.accept(await raw.next());
    const conn = await opening;
    const closing = conn.close(4001, 'bye');
    assert.equal(await clientClose(peer), 4001);
    peer.send({ opcode: OP.CLOSE, payload: closeBody(4001) });
    // Give the frame time to arrive before the reset, as a real peer's reset follows its write.
    await new Promise((resolve) => setTimeout(resolve, 50));
    peer.socket.resetAndDestroy();
    const info = await withTimeout(closing, 5000, 'closed');
    assert.deepEqual([info.code, info.wasClean, info.error], [4001, true, undefined]);
  });

  it('a reset before any close frame is still unclean (1006, ECONNRESET)', async (t) => {
    const raw = await rawServer(t);
    const ctx = new Context();
    t.after(() => ctx.close());
    const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { timeoutMs: 3000 });
    const peer = RawServer.accept(await raw.next());
    const conn = await opening;
    peer.socket.resetAndDestroy();
    const info = await withTimeout(conn.closed, 5000, 'closed');
    assert.equal(info.code, 1006);
    assert.equal(info.wasClean, false);
    assert.equal(((info.error as Error).cause as NodeJS.ErrnoException).code, 'ECONNRESET');
  });

  it('a reset after our close frame but before the peer answered is unclean', async (t) => {
    const raw = await rawServer(t);
    const ctx = new Context();
    t.after(() => ctx.close());
    const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { timeoutMs: 3000 });
    const peer = RawServer.accept(await raw.next());
    const conn = await opening;
    const closing = conn.close(1000);
    assert.equal(await clientClose(peer), 1000);
    peer.socket.resetAndDestroy();
    const info = await withTimeout(closing, 5000, 'closed');
    assert.deepEqual([info.code, info.wasClean], [1006, false]);
  });

  it('nopoll echo-client exits 0 when the server resets right after the closing handshake', async (t) => {
    const raw = await rawServer(t);
    const cli = nopoll(t, ['echo-client', `ws://127.0.0.1:${raw.port}/`]);
    const peer = RawServer.accept(await raw.next(10_000));
    peer.send({ opcode: OP.TEXT, payload: 'echo me' });
    const echoed = await peer.nextFrame(5000);
    assert.equal(echoed.payload.toString(), 'echo me');
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1000) });
    assert.equal(await clientClose(peer), 1000);
    peer.socket.resetAndDestroy();
    assert.equal(await exitCode(cli), 0, cli.stderr());
  });
});
