/**
 * Hostile input over HTTP/2, from a raw HTTP/2 peer that ignores the server's settings and from Node's client:
 * streams past the concurrency limit are refused (REFUSED_STREAM); a flood of failing extended CONNECTs (refused
 * handshakes, streams reset before their answer) costs the connection (ENHANCE_YOUR_CALM); a connection that opens
 * no stream, or stalls in its preface, is closed in time; maxConnections counts WebSockets, not TCP connections;
 * a stream reset mid-message frees what it held and leaves the other streams alone; a WebSocket whose reader is
 * paused holds no more than its flow-control window; oversized header lists are refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Conn, Context, inboundBudgetStats } from '../../src/index.js';
import { H2, nodeH2Session, rawConnect, RawH2, readBody, startH2Echo } from '../helpers/h2.js';
import { FrameReader, clientFrame } from '../helpers/net.js';
import { delay, withTimeout } from '../helpers/ws-async.js';

const REFUSED_STREAM = 0x7;
const ENHANCE_YOUR_CALM = 0xb;

describe('HTTP/2 limits per connection', () => {
  it('refuses streams past maxConcurrentStreams with REFUSED_STREAM; the others open', async (t) => {
    const srv = await startH2Echo(t, { listen: { http2: { maxConcurrentStreams: 3 } } });
    const peer = await RawH2.connect(t, srv.port);
    for (let i = 0; i < 6; i++) peer.connectWebSocket(1 + 2 * i);
    await peer.until(
      (f) => f.filter((x) => x.type === H2.HEADERS).length + f.filter((x) => x.type === H2.RST_STREAM).length >= 6,
      3000,
      'six answers',
    );
    const answered = peer.frames.filter((f) => f.type === H2.HEADERS).map((f) => f.stream);
    const refused = peer.frames.filter((f) => f.type === H2.RST_STREAM);
    assert.deepEqual(answered, [1, 3, 5]);
    assert.deepEqual(
      refused.map((f) => [f.stream, f.code]),
      [
        [7, REFUSED_STREAM],
        [9, REFUSED_STREAM],
        [11, REFUSED_STREAM],
      ],
    );
    assert.equal(srv.ctx.conns.size, 3, 'three WebSockets, no more');
  });

  it('closes a connection that floods failing handshakes (refused or reset before the answer)', async (t) => {
    const srv = await startH2Echo(t, { listen: { http2: { maxFailedStreams: 20 } } });
    const peer = await RawH2.connect(t, srv.port);
    // Refused handshakes (wrong version), each answered 426 and its stream ended.
    for (let i = 0; i < 15; i++) peer.connectWebSocket(1 + 2 * i, [['sec-websocket-version', '8']]);
    // Rapid reset: open and cancel at once.
    for (let i = 15; i < 40; i++) {
      peer.connectWebSocket(1 + 2 * i);
      peer.reset(1 + 2 * i);
    }
    await peer.until((f) => f.some((x) => x.type === H2.GOAWAY), 5000, 'GOAWAY', true);
    const goaway = peer.frames.find((f) => f.type === H2.GOAWAY);
    assert.equal(goaway?.code, ENHANCE_YOUR_CALM);
    await withTimeout(
      (async () => {
        while (!peer.closed) await delay(10);
      })(),
      3000,
      'the connection closing',
    );
    // The listener is fine.
    const ok = await Conn.open(new Context(), srv.url, { http2: true, timeoutMs: 3000 });
    assert.equal(ok.httpVersion, '2');
    ok.shutdown();
  });

  it('closes a connection that opens no stream, and one that stalls inside the preface', async (t) => {
    const srv = await startH2Echo(t, { opts: { handshakeTimeoutMs: 300 } });
    const idle = await RawH2.connect(t, srv.port);
    const stalled = await RawH2.connect(t, srv.port, false);
    stalled.socket.write('PRI * HTTP/2.0\r\n');
    const started = Date.now();
    await withTimeout(
      (async () => {
        while (!idle.closed || !stalled.closed) await delay(10);
      })(),
      4000,
      'both closed',
    );
    assert.ok(Date.now() - started < 3000);
    assert.ok(
      idle.frames.some((f) => f.type === H2.GOAWAY && f.code === 0),
      'GOAWAY NO_ERROR for the idle connection',
    );
  });

  it('counts WebSockets against maxConnections: the one past it gets 503 on its stream', async (t) => {
    const srv = await startH2Echo(t, { opts: { maxConnections: 2 } });
    const session = await nodeH2Session(t, srv.origin);
    assert.equal((await rawConnect(session)).status, 200);
    assert.equal((await rawConnect(session)).status, 200);
    const third = await rawConnect(session);
    assert.equal(third.status, 503);
    assert.match(await readBody(third.stream), /too many connections/);
  });

  it('refuses a header list past the limits without harm to the connection', async (t) => {
    const ctx = new Context({ maxHeaderCount: 20, maxHeadBytes: 4096 });
    const srv = await startH2Echo(t, { ctx });
    const session = await nodeH2Session(t, srv.origin);
    const many: Record<string, string> = {};
    for (let i = 0; i < 60; i++) many[`x-field-${i}`] = 'v';
    const tooMany = await rawConnect(session, '/', many).then(
      (answer) => answer.status,
      () => 'reset',
    );
    assert.notEqual(tooMany, 200);
    const tooBig = await rawConnect(session, '/', { 'x-big': 'v'.repeat(8000) }).then(
      (answer) => answer.status,
      () => 'reset',
    );
    assert.notEqual(tooBig, 200);
    assert.equal(srv.ctx.conns.size, 0, 'no WebSocket for either');
    const fresh = await nodeH2Session(t, srv.origin);
    assert.equal((await rawConnect(fresh)).status, 200);
  });
});

describe('HTTP/2 limits per stream', () => {
  it('a stream reset mid-message frees what it held; the other streams go on', async (t) => {
    const srv = await startH2Echo(t);
    const session = await nodeH2Session(t, srv.origin);
    const keep = await rawConnect(session);
    const cut = await rawConnect(session);
    assert.equal(keep.status, 200);
    assert.equal(cut.status, 200);
    await srv.ready.next(3000, 'first');
    await srv.ready.next(3000, 'second');
    const before = inboundBudgetStats().used;
    // 1 MiB of a fragmented message, then the stream is reset before its last frame.
    cut.stream.write(clientFrame(0x2, Buffer.alloc(512 * 1024, 1), false));
    cut.stream.write(clientFrame(0x0, Buffer.alloc(512 * 1024, 2), false));
    await withTimeout(
      (async () => {
        while (inboundBudgetStats().used - before < 1024 * 1024) await delay(10);
      })(),
      5000,
      'the partial message held',
    );
    const closing = srv.closed.next(5000, 'the reset WebSocket ending');
    cut.stream.close(0x8); // RST_STREAM CANCEL
    const ended = await closing;
    assert.equal(ended.closeInfo?.code, 1006);
    assert.equal(ended.closeInfo?.wasClean, false);
    assert.ok(
      inboundBudgetStats().used - before <= 0,
      `released: ${inboundBudgetStats().used - before} bytes still held`,
    );
    const reader = new FrameReader(keep.stream as unknown as Socket);
    keep.stream.write(clientFrame(0x1, 'unaffected'));
    assert.equal((await reader.next()).payload.toString(), 'unaffected');
  });

  it('a WebSocket whose reader is paused holds no more than its stream window', async (t) => {
    const srv = await startH2Echo(t, { listen: { http2: { streamWindowBytes: 256 * 1024 } } });
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 5000, 'closing the client'));
    const conn = await Conn.open(ctx, srv.url, { http2: true, timeoutMs: 5000 });
    const server = await srv.ready.next(3000, 'the server side');
    server.pause();
    const chunk = Buffer.alloc(256 * 1024, 3);
    for (let i = 0; i < 32; i++) conn.sendBinary(chunk); // 8 MiB offered
    await delay(300);
    const stream = server.stream as unknown as { readableLength: number };
    // The window, plus at most one DATA frame in flight when the window was last opened.
    assert.ok(
      stream.readableLength <= 256 * 1024 + 16 * 1024,
      `the paused stream holds ${stream.readableLength} bytes`,
    );
    assert.ok(conn.pendingWriteBytes > 4 * 1024 * 1024, 'the rest waits on the sending side');
    let received = 0;
    server.onMessage = (_c, msg) => {
      received += msg.size;
    };
    server.resume();
    await withTimeout(
      (async () => {
        while (received < 32 * chunk.length) await delay(20);
      })(),
      15_000,
      'everything after resume',
    );
    await conn.close();
  });
});
