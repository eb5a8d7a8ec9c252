/**
 * Issue 6 item 5, errors (timeouts, socket and TLS errors, local limits, aborts, operations on closed objects): every failure reaches the user as a typed error with a stable `code` (and, for a peer's
 * fault, the close code that went on the wire); a user handler that throws ends only its own connection (1011) and
 * never the process; logging has levels and a handler, and is off by default.
 *
 * Real sockets on loopback with ephemeral ports: our client against our listener, or either against a raw peer that
 * shapes (and reads) the bytes itself. Every configured timeout is short; every wait is bounded; every context,
 * listener and socket is closed after its test.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import {
  AbortError,
  ConnectError,
  ConnectionClosedError,
  HandshakeError,
  InvalidStateError,
  NopollError,
  PolicyViolationError,
  TimeoutError,
  TlsError,
} from '../../src/errors.js';
import { OP, RawServer, closeBody, tcpConnect, type RawPeer } from '../helpers/raw-peer.js';
import { certs, startTlsEchoListener } from '../helpers/tls.js';
import { delay, withTimeout } from '../helpers/ws-async.js';
import {
  assertError,
  assertLogged,
  closedPort,
  nextCloseCode,
  rawPeer,
  rawServer,
  recordedContext,
  rejection,
  startServer,
  trackEscapes,
} from '../helpers/errors.js';

trackEscapes();

// ---------------------------------------------------------------------------------------------------------------
// Timeouts, socket errors, TLS

describe('timeouts: TimeoutError with the phase that ran out', () => {
  it('client connect + handshake (connectTimeoutMs) → phase handshake; nothing left registered', async (t) => {
    const raw = await rawServer(t);
    const { ctx } = recordedContext(t);
    const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { connectTimeoutMs: 150 });
    await raw.next(); // the request arrives; no answer
    assertError(await rejection(opening), TimeoutError, 'NOPOLL_ERR_TIMEOUT', { phase: 'handshake' });
    assert.equal(ctx.conns.size, 0);
  });

  it('waitUntilReady({ timeoutMs }) → phase ready; the connection itself is untouched', async (t) => {
    const raw = await rawServer(t);
    const { ctx } = recordedContext(t);
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`);
    const incoming = await raw.next();
    assertError(await rejection(conn.waitUntilReady({ timeoutMs: 50 })), TimeoutError, 'NOPOLL_ERR_TIMEOUT', {
      phase: 'ready',
    });
    assert.equal(conn.state, 'connecting');
    RawServer.accept(incoming);
    await conn.waitUntilReady({ timeoutMs: 3000 });
  });

  it('nextMsg / listener.accept with timeoutMs → phases read / accept', async (t) => {
    const srv = await startServer(t);
    const { ctx } = recordedContext(t);
    const conn = await Conn.open(ctx, srv.url, { timeoutMs: 3000 });
    assertError(await rejection(conn.nextMsg({ timeoutMs: 30 })), TimeoutError, 'NOPOLL_ERR_TIMEOUT', {
      phase: 'read',
    });
    const other = await Listener.listen(srv.ctx, { host: '127.0.0.1', port: 0 });
    assertError(await rejection(other.accept({ timeoutMs: 30 })), TimeoutError, 'NOPOLL_ERR_TIMEOUT', {
      phase: 'accept',
    });
  });

  it('closing handshake unanswered (closeTimeoutMs) → phase close', async (t) => {
    const raw = await rawServer(t);
    const { ctx } = recordedContext(t, { closeTimeoutMs: 150 });
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`);
    const peer = RawServer.accept(await raw.next());
    await conn.waitUntilReady({ timeoutMs: 3000 });
    const info = await withTimeout(conn.close(1000), 5000, 'close');
    assert.equal(await nextCloseCode(peer), 1000);
    assertError(info.error, TimeoutError, 'NOPOLL_ERR_TIMEOUT', { phase: 'close' });
    assert.equal(info.code, 1006);
  });

  it('idle (idleTimeoutMs) → 1001 on the wire, phase idle', async (t) => {
    const srv = await startServer(t, { idleTimeoutMs: 100 });
    const peer = await rawPeer(t, srv.port);
    const conn = await srv.ready.next(3000, 'server conn');
    assert.equal(await nextCloseCode(peer), 1001);
    peer.end();
    const info = await withTimeout(conn.closed, 5000, 'closed');
    assertError(info.error, TimeoutError, 'NOPOLL_ERR_TIMEOUT', { phase: 'idle' });
  });

  it('heartbeat unanswered (pingIntervalMs, pongTimeoutMs) → dropped with 1006, phase heartbeat', async (t) => {
    const srv = await startServer(t, { pingIntervalMs: 60, pongTimeoutMs: 60 });
    const peer = await rawPeer(t, srv.port);
    const conn = await srv.ready.next(3000, 'server conn');
    const info = await withTimeout(conn.closed, 5000, 'closed');
    assertError(info.error, TimeoutError, 'NOPOLL_ERR_TIMEOUT', { phase: 'heartbeat' });
    assert.equal(info.code, 1006);
    assert.equal((await peer.nextFrame()).opcode, OP.PING, 'a ping went out, never a close frame');
  });
});

describe('socket errors: ConnectError before the connection, ConnectionClosedError (cause: Node error) after', () => {
  it('ECONNREFUSED → ConnectError, cause.code ECONNREFUSED', async (t) => {
    const { ctx, logs } = recordedContext(t);
    const port = await closedPort();
    const error = assertError(
      await rejection(Conn.open(ctx, `ws://127.0.0.1:${port}/`)),
      ConnectError,
      'NOPOLL_ERR_CONNECT',
    );
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assertLogged(logs, 'warning', 'NOPOLL_ERR_CONNECT');
  });

  it('ECONNRESET during the handshake → ConnectError, cause.code ECONNRESET', async (t) => {
    const raw = await rawServer(t);
    const { ctx } = recordedContext(t);
    const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { timeoutMs: 3000 });
    (await raw.next()).socket.resetAndDestroy();
    const error = await rejection(opening);
    // A reset is normally read as an error; a platform may report it as a plain close instead.
    if (error instanceof ConnectError) assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNRESET');
    else assertError(error, HandshakeError, 'NOPOLL_ERR_HANDSHAKE', { status: 0 });
  });

  it('ECONNRESET on an open connection → closeInfo.error ConnectionClosedError 1006, cause.code ECONNRESET', async (t) => {
    const srv = await startServer(t);
    const peer = await rawPeer(t, srv.port);
    const conn = await srv.ready.next(3000, 'server conn');
    peer.socket.resetAndDestroy();
    const info = await withTimeout(conn.closed, 5000, 'closed');
    assert.equal(info.code, 1006);
    assert.equal(info.wasClean, false);
    const error = assertError(info.error, ConnectionClosedError, 'NOPOLL_ERR_CLOSED', { closeCode: 1006 });
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNRESET');
    assertLogged(srv.logs, 'debug', 'ECONNRESET');
  });

  it('Listener.listen on a port in use → ConnectError, cause.code EADDRINUSE', async (t) => {
    const srv = await startServer(t);
    const error = await rejection(Listener.listen(srv.ctx, { host: '127.0.0.1', port: srv.port }));
    assertError(error, ConnectError, 'NOPOLL_ERR_CONNECT');
    assert.equal(((error as ConnectError).cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
  });
});

describe('TLS failures: TlsError (cause: Node error) or TimeoutError(tls)', () => {
  it('client: a server certificate it does not trust → TlsError with the verification code', async (t) => {
    const srv = await startTlsEchoListener();
    t.after(() => srv.close());
    const { ctx, logs } = recordedContext(t);
    const error = assertError(
      await rejection(Conn.open(ctx, srv.url, { timeoutMs: 5000 })),
      TlsError,
      'NOPOLL_ERR_TLS',
    );
    assert.equal(typeof (error.cause as NodeJS.ErrnoException).code, 'string');
    assertLogged(logs, 'warning', 'NOPOLL_ERR_TLS');
  });

  it('server: a plain-TCP client on a TLS listener → TlsError on the server, HandshakeError on the client', async (t) => {
    const srv = await startTlsEchoListener();
    t.after(() => srv.close());
    const { ctx } = recordedContext(t);
    const error = await rejection(Conn.open(ctx, `ws://127.0.0.1:${srv.port}/`, { timeoutMs: 5000 }));
    assert.ok(error instanceof HandshakeError || error instanceof ConnectError, String(error));
    const conn = await srv.closed.next(5000, 'server conn ended');
    assertError(conn.closeInfo?.error, TlsError, 'NOPOLL_ERR_TLS');
  });

  it('server: postTlsCheck returns false → TlsError', async (t) => {
    const serverCtx = new Context();
    serverCtx.postTlsCheck = () => false;
    const srv = await startTlsEchoListener({}, serverCtx);
    t.after(() => srv.close());
    const { ctx } = recordedContext(t);
    assert.ok(
      (await rejection(Conn.open(ctx, srv.url, { tls: { ca: certs.ca }, timeoutMs: 5000 }))) instanceof NopollError,
    );
    const conn = await srv.closed.next(5000, 'server conn ended');
    const error = assertError(conn.closeInfo?.error, TlsError, 'NOPOLL_ERR_TLS');
    assert.match(error.message, /post-handshake check/);
  });

  it('client: no TLS answer within connectTimeoutMs → TimeoutError(tls)', async (t) => {
    const raw = await rawServer(t); // accepts TCP, never speaks TLS
    const { ctx } = recordedContext(t);
    const url = `wss://127.0.0.1:${raw.port}/`;
    assertError(
      await rejection(Conn.open(ctx, url, { tls: { ca: certs.ca }, connectTimeoutMs: 150 })),
      TimeoutError,
      'NOPOLL_ERR_TIMEOUT',
      { phase: 'tls' },
    );
  });

  it('server: no ClientHello within handshakeTimeoutMs → TimeoutError(tls)', async (t) => {
    const srv = await startTlsEchoListener({ opts: { handshakeTimeoutMs: 150 } });
    t.after(() => srv.close());
    const socket = await tcpConnect(srv.port);
    t.after(() => socket.destroy());
    socket.on('error', () => undefined);
    const conn = await srv.closed.next(5000, 'server conn ended');
    assertError(conn.closeInfo?.error, TimeoutError, 'NOPOLL_ERR_TIMEOUT', { phase: 'tls' });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Local limits, aborts, and operations on a closed connection

describe('write limit (maxPendingWriteBytes) against a peer that does not read', () => {
  async function stalledClient(
    t: TestContext,
    policy: 'close' | 'refuse',
  ): Promise<{ conn: Conn; peer: RawPeer; sent: number }> {
    const raw = await rawServer(t);
    const { ctx } = recordedContext(t, { closeTimeoutMs: 2000 });
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`, {
      maxPendingWriteBytes: 64 * 1024,
      writeLimitPolicy: policy,
      perMessageDeflate: false,
    });
    const peer = RawServer.accept(await raw.next());
    await conn.waitUntilReady({ timeoutMs: 3000 });
    peer.socket.pause();
    const chunk = Buffer.alloc(256 * 1024);
    let sent = 1;
    for (let i = 0; i < 400 && sent > 0; i++) sent = conn.sendBinary(chunk);
    return { conn, peer, sent };
  }

  it("policy 'close' → the send returns -1, close 1008 on the wire, closeInfo.error PolicyViolationError", async (t) => {
    const { conn, peer, sent } = await stalledClient(t, 'close');
    assert.equal(sent, -1);
    assert.equal(conn.sendText('more'), -1, 'nothing more is accepted');
    peer.socket.resume();
    assert.equal(await nextCloseCode(peer, 10_000), 1008);
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1008) });
    peer.end();
    const info = await withTimeout(conn.closed, 5000, 'closed');
    assertError(info.error, PolicyViolationError, 'NOPOLL_ERR_POLICY_VIOLATION', { closeCode: 1008 });
  });

  it("policy 'refuse' → the send returns 0 and the connection stays open", async (t) => {
    const { conn, peer, sent } = await stalledClient(t, 'refuse');
    assert.equal(sent, 0);
    assert.equal(conn.state, 'open');
    peer.socket.resume();
    await withTimeout(conn.flushWrites(), 10_000, 'flush');
    assert.ok(conn.sendText('again') > 0);
  });
});

describe('AbortSignal → AbortError', () => {
  it('Conn.open aborted while connecting: AbortError, nothing left registered', async (t) => {
    const raw = await rawServer(t);
    const { ctx } = recordedContext(t);
    const controller = new AbortController();
    const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { signal: controller.signal });
    await raw.next();
    controller.abort(new Error('user gave up'));
    const error = assertError(await rejection(opening), AbortError, 'NOPOLL_ERR_ABORTED');
    assert.equal((error.cause as Error).message, 'user gave up');
    await delay(20);
    assert.equal(ctx.conns.size, 0);
  });

  it('nextMsg, listener.accept and loopWait, aborted while waiting', async (t) => {
    const srv = await startServer(t);
    const { ctx } = recordedContext(t);
    const conn = await Conn.open(ctx, srv.url, { timeoutMs: 3000 });
    const idle = await Listener.listen(srv.ctx, { host: '127.0.0.1', port: 0 }); // nothing to accept there
    const controller = new AbortController();
    const waiting = [
      conn.nextMsg({ signal: controller.signal }),
      idle.accept({ signal: controller.signal }),
      ctx.loopWait(0, { signal: controller.signal }),
    ].map((p) => rejection(p));
    controller.abort();
    for (const wait of waiting) assertError(await wait, AbortError, 'NOPOLL_ERR_ABORTED');
    assert.equal(conn.state, 'open', 'a wait that gives up does not change the connection');
  });
});

describe('operations on a closed connection or listener', () => {
  it('sends refuse (-1 / false), waits reject ConnectionClosedError with the close code seen, setters throw InvalidStateError', async (t) => {
    const srv = await startServer(t);
    const { ctx } = recordedContext(t);
    const conn = await Conn.open(ctx, srv.url, { timeoutMs: 3000 });
    const info = await withTimeout(conn.close(4001, 'bye'), 5000, 'close');
    assert.equal(info.code, 4001);
    assert.equal(conn.sendText('x'), -1);
    assert.equal(conn.sendBinary(Buffer.from('x')), -1);
    assert.equal(conn.sendTextFragment('x'), -1);
    assert.equal(conn.ping(), false);
    assert.equal(conn.pong(), false);
    assert.equal(
      await withTimeout(conn.close(), 1000, 'close again'),
      info,
      'close() again resolves with the same end',
    );
    // The server's echo carries the code only (RFC 6455 §5.5.1), so the reason seen is empty.
    for (const wait of [conn.nextMsg(), conn.waitUntilReady()].map((p) => rejection(p))) {
      assertError(await wait, ConnectionClosedError, 'NOPOLL_ERR_CLOSED', { closeCode: 4001, reason: '' });
    }
    assert.throws(
      () => (conn.acceptedProtocol = 'x'),
      (e: unknown) => e instanceof InvalidStateError && e.code === 'NOPOLL_ERR_INVALID_STATE',
    );
    const writer = conn.sendStream();
    writer.on('error', () => undefined);
    const written = await new Promise<Error | null | undefined>((resolve) => writer.write('x', resolve));
    assertError(written, ConnectionClosedError, 'NOPOLL_ERR_CLOSED');
  });

  it('a closed listener: accept() rejects and acceptSocket() throws InvalidStateError', async (t) => {
    const srv = await startServer(t);
    await srv.listener.close();
    assertError(await rejection(srv.listener.accept()), InvalidStateError, 'NOPOLL_ERR_INVALID_STATE');
    const socket = new Socket();
    assert.throws(
      () => srv.listener.acceptSocket(socket),
      (e: unknown) => e instanceof InvalidStateError,
    );
    assert.equal(socket.destroyed, true, 'the socket handed over is not left open');
  });
});
