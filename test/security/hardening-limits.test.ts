/**
 * Issue 6, limits: connections per listener, pending automatic pongs under a ping flood, fragments bounded by
 * memory and not by count, and the unread-message inbox pausing the socket. Each test fails without its protection
 * (named in the test title).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { Conn } from '../../src/api/conn.js';
import { PolicyViolationError } from '../../src/errors.js';
import { fullGc } from '../helpers/gc.js';
import { makeSession, OP as COP, pattern } from '../helpers/frames.js';
import { OP, encodeFrame, rawClient, rawHttp } from '../helpers/raw-peer.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

/** Heap bytes in use after a full garbage collection. */
function heapAfterGc(): number {
  fullGc();
  return process.memoryUsage().heapUsed;
}

const REQUEST =
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

describe('maxConnections (listener.ts: #admit → refuseOverLimit)', () => {
  it('refuses the connection past the limit with 503 and serves again once one ends', async (t) => {
    const srv = await startEchoListener({ maxConnections: 2, closeTimeoutMs: 200 });
    t.after(() => srv.close());
    const a = await rawClient(srv.port);
    const b = await rawClient(srv.port);
    t.after(() => (a.peer.destroy(), b.peer.destroy()));
    const connA = await srv.ready.next(3000, 'a');
    await srv.ready.next(3000, 'b');
    const third = await rawHttp(srv.port, REQUEST, 5000);
    assert.equal(third.response?.status, 503);
    a.peer.destroy();
    await withTimeout(connA.closed, 5000, 'a gone');
    const c = await rawClient(srv.port);
    c.peer.send({ opcode: OP.TEXT, payload: Buffer.from('hi') });
    assert.equal((await c.peer.nextFrame(3000)).payload.toString(), 'hi');
    c.peer.destroy();
  });
});

describe('ping flood from a peer that does not read (socket-driver.ts: sessionPing write-limit check)', () => {
  it('drops the connection once unread pongs pass maxPendingWriteBytes; the process and listener carry on', async (t) => {
    const srv = await startEchoListener({ maxPendingWriteBytes: 64 * 1024 });
    t.after(() => srv.close());
    const { peer } = await rawClient(srv.port);
    t.after(() => peer.destroy());
    const conn = await srv.ready.next(3000, 'server conn');
    peer.socket.pause(); // never read: the pongs pile up in the kernel, then in the server's socket
    const ping = encodeFrame({ opcode: OP.PING, payload: Buffer.alloc(125, 7) }, true);
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => ping));
    let sent = 0;
    const closed = conn.closed;
    let done = false;
    void closed.then(() => (done = true));
    // Up to 256 MiB of pings; the server gives up long before (kernel buffers are a few MiB).
    while (!done && sent < 256 * 1024 * 1024) {
      if (!peer.socket.write(batch)) await new Promise((r) => setTimeout(r, 5));
      sent += batch.length;
      if (sent % (batch.length * 64) === 0) await new Promise((r) => setImmediate(r));
    }
    const info = await withTimeout(closed, 10_000, 'server dropped the flooding peer');
    assert.ok(info.error instanceof PolicyViolationError, String(info.error));
    assert.equal(info.code, 1006);
  });
});

describe('fragments bounded by memory, not by count (session.ts #dataFrame; frame-parser message limit)', () => {
  it('a 4 MiB message in 64-byte fragments is delivered whole (ws 8.23 refuses it)', () => {
    const h = makeSession('server');
    const message = pattern(4 * 1024 * 1024, 3);
    const chunks: Buffer[] = [];
    for (let at = 0; at < message.length; at += 64) {
      const fin = at + 64 >= message.length;
      chunks.push(
        h.peer.frame({ opcode: at === 0 ? COP.BINARY : COP.CONT, fin, payload: message.subarray(at, at + 64) }),
      );
      if (chunks.length === 4096 || fin) h.feed(Buffer.concat(chunks.splice(0)));
    }
    const messages = h.handler.events.filter((e) => e.type === 'message');
    assert.equal(messages.length, 1);
    assert.ok((messages[0] as { payload: Buffer }).payload.equals(message));
  });

  it('endless empty fragments pin no memory', () => {
    const h = makeSession('server');
    h.feed(h.peer.frame({ opcode: COP.TEXT, fin: false }));
    const empty = h.peer.frame({ opcode: COP.CONT, fin: false });
    const batch = Buffer.concat(Array.from({ length: 100_000 }, () => empty));
    // Two million empty fragments. Nothing counts bytes here (they hold none), so the heap itself is the witness:
    // keeping a reference per fragment would retain at least 8 bytes each, 16 MiB in all, after a full collection.
    const before = heapAfterGc();
    for (let i = 0; i < 20; i++) h.feed(batch);
    const retained = heapAfterGc() - before;
    assert.equal(h.session.bufferedBytes, 0);
    assert.equal(h.handler.events.length, 0, 'no message, no error');
    assert.ok(
      retained < 4 * 1024 * 1024,
      `${(retained / 1048576).toFixed(1)} MiB retained by 2,000,000 empty fragments`,
    );
  });
});

describe('unread-message inbox (conn.ts #enqueue: INBOX_PAUSE / INBOX_RESUME)', () => {
  it('pauses the socket while messages wait unread, resumes once they are read', async (t) => {
    const ctx = new Context();
    const ready = new AsyncQueue<Conn>();
    ctx.onReady = (conn) => void ready.push(conn);
    const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
    t.after(() => withTimeout(ctx.close(), 10_000, 'ctx close'));
    const { peer } = await rawClient(listener.port);
    t.after(() => peer.destroy());
    const conn = await ready.next(3000, 'conn');
    for (let i = 0; i < 200; i++) peer.send({ opcode: OP.TEXT, payload: Buffer.from(`m${i}`) });
    for (let i = 0; i < 200 && conn.socket?.isPaused() !== true; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(conn.socket?.isPaused(), true, 'socket paused while the inbox is full');
    for (let i = 0; i < 200; i++) assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, `m${i}`);
    assert.equal(conn.socket?.isPaused(), false, 'reading again once drained');
  });
});
