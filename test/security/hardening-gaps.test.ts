/**
 * Issue 6, the protections of docs/security.md that no other test proved necessary (found by `npm run mutation`):
 * the client's connect timeout on a plain connection, the pause while a compressed message inflates, the header
 * count on upgrades an `http.Server` parsed, the message limit on messages the connection assembles after
 * `onMessageStream` is unset, and the 123-byte close reason / 125-byte control frame bounds through the public API
 * and over the wire; and two gaps that work found in src/ and that are fixed: the rest of a message refused over
 * maxMessageSize is dropped, and a server whose peer closed first but never ends TCP drops it after closeTimeoutMs.
 * Each test fails when its protection is removed (see test/mutations/mutations.mjs).
 *
 * Loopback only, ephemeral ports, short configured timeouts with generous bounded waits, everything closed after
 * (raw peers first, so that a connection waiting on its peer never holds up closing a listener).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Conn } from '../../src/api/conn.js';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { MessageStream } from '../../src/api/message-stream.js';
import { MessageTooBigError, ProtocolError, TimeoutError } from '../../src/errors.js';
import { deflateOnce, inflateOnce } from '../helpers/deflate.js';
import {
  OP,
  RawServer,
  closeBody,
  parseClose,
  rawClient,
  rawHttp,
  type RawPeer,
  type RawUpgradeOptions,
} from '../helpers/raw-peer.js';
import { setSharedReadBuffer } from '../../src/transport/read-buffer.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener, type EchoListener } from '../helpers/ws-peers.js';

/** An upgrade request with `extra` header lines added. */
function request(extra: string[]): string {
  const lines = [
    'GET / HTTP/1.1',
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    ...extra,
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * An echo listener and a raw client upgraded on it. `setup` runs before the client connects (to install handlers).
 * After the test the client is dropped first, then the listener closed.
 */
async function listenerWithPeer(
  t: TestContext,
  opts: ConnOptsInit,
  setup: (srv: EchoListener) => void = () => undefined,
  upgrade: RawUpgradeOptions = {},
  echo = true,
): Promise<{ srv: EchoListener; peer: RawPeer; conn: Conn; extensions: string }> {
  const srv = await startEchoListener(opts, echo);
  let peer: RawPeer | null = null;
  t.after(async () => {
    peer?.destroy();
    await srv.close();
  });
  setup(srv);
  const client = await rawClient(srv.port, upgrade);
  peer = client.peer;
  const conn = await srv.ready.next(3000, 'server conn');
  return { srv, peer, conn, extensions: client.response.headers.get('sec-websocket-extensions') ?? '' };
}

/** Streaming on for good, then back to whole messages: the connection then assembles messages itself. */
function assembleInConn(srv: EchoListener): void {
  srv.ctx.onReady = (conn) => {
    conn.onMessageStream = (_conn: Conn, _stream: MessageStream) => undefined;
    conn.onMessageStream = null;
    srv.ready.push(conn);
  };
}

describe('client connect timeout (client-connect.ts: the timer in connectClient)', () => {
  it('connectTimeoutMs: a server that reads the request and never answers fails the client with TimeoutError(handshake)', async (t) => {
    const raw = await RawServer.start();
    const ctx = new Context();
    t.after(async () => {
      await raw.close();
      await withTimeout(ctx.close(), 5000, 'ctx close');
    });
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`, { connectTimeoutMs: 200 });
    const incoming = await raw.next(3000);
    assert.match(incoming.request.startLine, /^GET \/ HTTP\/1\.1$/);
    // No answer ever comes: only the client's own timer can end the attempt.
    const info = await withTimeout(conn.closed, 10_000, 'the client giving up');
    assert.ok(info.error instanceof TimeoutError, String(info.error));
    assert.equal(info.error.phase, 'handshake');
    assert.equal(conn.isOk, false);
    const dropped = new Promise((resolve) => {
      incoming.socket.once('end', resolve);
      incoming.socket.once('close', resolve);
      if (incoming.socket.destroyed) resolve(undefined);
    });
    incoming.socket.resume();
    await withTimeout(dropped, 5000, 'the client dropping TCP');
  });
});

describe('compressed messages pause the socket while they inflate (socket-driver.ts: sessionCompressed)', () => {
  for (const shared of [true, false]) {
    const how = shared ? 'read into the shared buffer' : "read through 'data' events";
    it(`reading stops after the chunk that completes a compressed message and resumes once it inflates (${how})`, async (t) => {
      const was = setSharedReadBuffer(shared);
      t.after(() => setSharedReadBuffer(was));
      const { peer, conn, extensions } = await listenerWithPeer(t, { perMessageDeflate: true }, undefined, {
        extraHeaders: ['Sec-WebSocket-Extensions: permessage-deflate'],
      });
      assert.match(extensions, /permessage-deflate/);
      const socket = conn.socket!;
      // The socket's own pause and resume, in order, from the moment the connection is open.
      const calls: string[] = [];
      const pause = socket.pause.bind(socket);
      const resume = socket.resume.bind(socket);
      socket.pause = () => (calls.push('pause'), pause());
      socket.resume = () => (calls.push('resume'), resume());
      const text = 'compress me '.repeat(200);
      peer.send({ opcode: OP.TEXT, rsv: 0x40, payload: deflateOnce(text) });
      const echo = await peer.nextFrame(5000);
      assert.equal(echo.opcode, OP.TEXT);
      assert.equal((echo.rsv & 0x40) !== 0 ? inflateOnce(echo.payload).toString() : echo.payload.toString(), text);
      assert.deepEqual(calls, ['pause', 'resume'], 'paused while the message inflated, then resumed');
      assert.equal(socket.isPaused(), false, 'reading resumed once the message was delivered');
    });
  }
});

describe('header count on upgrades an http.Server parsed (http-upgrade.ts: checkIncomingUpgrade)', () => {
  it('handleUpgrade: 150 header lines in 2 KiB are refused with 431; 50 pass', async (t) => {
    const ctx = new Context();
    const listener = Listener.detached(ctx);
    const server = createHttpServer();
    server.on('upgrade', (req, socket, head) => listener.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      server.close();
      server.closeAllConnections();
      await withTimeout(ctx.close(), 5000, 'ctx close');
    });
    const port = (server.address() as AddressInfo).port;
    // Node's parser allows 2000 fields and 16 KiB: only nopoll's maxHeaderCount (100) stands in the way.
    const many = await rawHttp(port, request(Array.from({ length: 150 }, (_, i) => `X-${i}: y`)), 5000);
    assert.equal(many.response?.status, 431);
    const { peer } = await rawClient(port, { extraHeaders: Array.from({ length: 50 }, (_, i) => `X-${i}: y`) });
    peer.destroy();
  });
});

describe('maxMessageSize once streaming is turned off again (the session assembles messages again)', () => {
  it('after onMessageStream is set and unset, a message over maxMessageSize is refused with 1009', async (t) => {
    const { peer, conn } = await listenerWithPeer(t, { maxMessageSize: 1000 }, assembleInConn);
    peer.send({ opcode: OP.TEXT, payload: 'a'.repeat(1000) });
    const fits = await peer.nextFrame(3000);
    assert.deepEqual([fits.opcode, fits.payload.length], [OP.TEXT, 1000], 'a message of exactly maxMessageSize passes');
    peer.send({ opcode: OP.TEXT, payload: 'b'.repeat(1500) });
    const close = await peer.nextFrame(3000);
    assert.equal(close.opcode, OP.CLOSE, `got opcode ${close.opcode} (${close.payload.length} bytes)`);
    assert.equal(parseClose(close.payload).code, 1009);
    peer.send({ opcode: OP.CLOSE, payload: close.payload });
    await peer.waitEnded(5000); // §7.1.1: the server ends TCP first, then we do
    peer.end();
    const info = await withTimeout(conn.closed, 5000, 'server conn closed');
    // Refused as any message over the limit is: the connection failed (§7.1.7) with the typed error.
    assert.ok(info.error instanceof MessageTooBigError, String(info.error));
    assert.equal(info.error.closeCode, 1009);
  });

  it('nothing of a message refused over maxMessageSize reaches onMessage', async (t) => {
    const { srv, peer, conn } = await listenerWithPeer(t, { maxMessageSize: 1000 }, assembleInConn, {}, false);
    peer.send({ opcode: OP.TEXT, payload: 'b'.repeat(1500) });
    const close = await peer.nextFrame(3000);
    assert.equal(close.opcode, OP.CLOSE);
    peer.send({ opcode: OP.CLOSE, payload: close.payload });
    await peer.waitEnded(5000);
    peer.end();
    await withTimeout(conn.closed, 5000, 'server conn closed');
    const delivered: number[] = [];
    while (srv.received.size > 0) delivered.push((await srv.received.next(100)).msg.payload.length);
    assert.deepEqual(delivered, [], 'sizes of the messages delivered after the refusal');
  });
});

describe('closing handshake started by the peer (socket-driver.ts: sessionClose)', () => {
  it('server: a peer that sends its close frame and never ends TCP is dropped after closeTimeoutMs', async (t) => {
    const { peer, conn } = await listenerWithPeer(t, { closeTimeoutMs: 300 });
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1000) });
    assert.equal((await peer.nextFrame(3000)).opcode, OP.CLOSE);
    await peer.waitEnded(3000); // the server ended TCP first (§7.1.1); we never end ours
    const info = await withTimeout(conn.closed, 3000, 'the server dropping a peer that keeps TCP half-open');
    assert.equal(info.code, 1000);
  });
});

describe('control frame sizes (RFC 6455 §5.5; close.ts encodeCloseBody, frame-parser.ts control length)', () => {
  it('a close reason over 123 bytes: close() throws RangeError on both sides, sends nothing and leaves the connection open', async (t) => {
    const srv = await startEchoListener();
    const ctx = new Context();
    t.after(async () => {
      await withTimeout(ctx.close(), 5000, 'ctx close');
      await srv.close();
    });
    const client = await Conn.open(ctx, srv.url, { timeoutMs: 3000 });
    const server = await srv.ready.next(3000, 'server conn');
    for (const conn of [client, server]) {
      assert.throws(() => conn.close(1000, 'x'.repeat(124)), RangeError);
      assert.throws(() => conn.close(1000, 'é'.repeat(62)), RangeError, '62 characters are 124 bytes of UTF-8');
      assert.equal(conn.isOk, true);
    }
    // Still open both ways: no close frame went out before this echo.
    client.sendText('still open');
    assert.equal((await client.nextMsg({ timeoutMs: 3000 })).text, 'still open');
    // 123 bytes is the most that fits, and it arrives whole.
    const closing = client.close(4000, 'r'.repeat(123));
    const info = await withTimeout(server.closed, 5000, 'server conn closed');
    assert.deepEqual([info.code, info.reason], [4000, 'r'.repeat(123)]);
    await withTimeout(closing, 5000, 'client closed');
  });

  it('a received close frame of 126 bytes (a 124-byte reason) is answered with 1002, on both sides', async (t) => {
    const { peer, conn: serverConn } = await listenerWithPeer(t, {});
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1000, 'r'.repeat(124)) });
    const answer = await peer.nextFrame(3000);
    assert.equal(answer.opcode, OP.CLOSE);
    assert.equal(parseClose(answer.payload).code, 1002);
    await peer.waitEnded(5000); // §7.1.7: the server drops the connection after its close frame
    peer.end();
    const serverInfo = await withTimeout(serverConn.closed, 5000, 'server conn closed');
    assert.ok(serverInfo.error instanceof ProtocolError, String(serverInfo.error));
    assert.equal(serverInfo.error.closeCode, 1002);

    const raw = await RawServer.start();
    const ctx = new Context({ closeTimeoutMs: 300 });
    t.after(async () => {
      await raw.close();
      await withTimeout(ctx.close(), 5000, 'ctx close');
    });
    const client = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`);
    const server = RawServer.accept(await raw.next(3000));
    await client.waitUntilReady({ timeoutMs: 3000 });
    server.send({ opcode: OP.CLOSE, payload: closeBody(1000, 'r'.repeat(124)) });
    const reply = await server.nextFrame(3000);
    assert.equal(reply.opcode, OP.CLOSE);
    assert.equal(parseClose(reply.payload).code, 1002);
    const clientInfo = await withTimeout(client.closed, 5000, 'client closed');
    assert.ok(clientInfo.error instanceof ProtocolError, String(clientInfo.error));
    assert.equal(clientInfo.error.closeCode, 1002);
  });
});
