/**
 * What an accepted connection keeps of its opening handshake (RFC 6455 §4.2.1): the request target, Host, Origin,
 * Cookie, subprotocols and X-Real-IP for its whole life; the full header list only until `onReady` has run, unless
 * the `keepHeaders` option is set. Raw requests from a real socket on loopback, our listener answering.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Context, Listener, type Conn, type HandshakeInfo } from '../../src/index.js';
import { within } from '../helpers/net.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A listener on an ephemeral port; `seen` gets each accepted connection's handshake as onOpen saw it. */
async function listen(t: TestContext, keepHeaders: boolean): Promise<{ listener: Listener; seen: HandshakeInfo[] }> {
  const ctx = new Context();
  const seen: HandshakeInfo[] = [];
  ctx.onOpen = (conn) => {
    seen.push(conn.handshake);
    return true;
  };
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0, opts: { keepHeaders } });
  t.after(async () => {
    for (const conn of [...ctx.conns]) conn.shutdown();
    await listener.close();
  });
  return { listener, seen };
}

/** Sends a raw upgrade request with `extra` header lines and waits for the accepted connection to be ready. */
async function upgrade(t: TestContext, listener: Listener, target: string, extra: string[]): Promise<Conn> {
  const socket: Socket = connect(listener.port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.on('error', () => undefined);
  const head = [
    `GET ${target} HTTP/1.1`,
    'Host: example.test',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${KEY}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
  ];
  socket.write(`${head.join('\r\n')}\r\n\r\n`);
  const conn = await listener.accept({ timeoutMs: 3000 });
  await within(conn.waitUntilReady({ timeoutMs: 3000 }), 3000, 'ready');
  return conn;
}

test('a request with Origin, Cookie, subprotocols and X-Real-IP: all kept after onReady, the header list dropped', async (t) => {
  const { listener, seen } = await listen(t, false);
  const conn = await upgrade(t, listener, '/chat?room=1', [
    'Origin: https://app.example.test',
    'Cookie: a=1',
    'Sec-WebSocket-Protocol: chat, superchat',
    'X-Real-IP: 192.0.2.7',
  ]);
  // During onOpen the header list was there.
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.headers?.get('x-real-ip'), '192.0.2.7');
  const kept = {
    requestedUrl: '/chat?room=1',
    hostHeader: 'example.test',
    origin: 'https://app.example.test',
    cookie: 'a=1',
    requestedProtocols: ['chat', 'superchat'],
    xRealIp: '192.0.2.7',
  };
  assert.deepEqual(conn.handshake, { ...kept, headers: null });
  assert.deepEqual(
    [conn.requestedUrl, conn.hostHeader, conn.origin, conn.cookie, conn.requestedProtocols, conn.xRealIp],
    Object.values(kept),
  );
  assert.equal(conn.requestedProtocol, 'chat, superchat');
  assert.equal(conn.acceptedProtocol, 'chat');
});

test('a bare request: the defaults, and nothing else kept', async (t) => {
  const { listener, seen } = await listen(t, false);
  const conn = await upgrade(t, listener, '/', []);
  assert.equal(seen[0]!.headers?.get('host'), 'example.test');
  assert.deepEqual(conn.handshake, {
    requestedUrl: '/',
    hostHeader: 'example.test',
    origin: null,
    cookie: null,
    requestedProtocols: [],
    xRealIp: null,
    headers: null,
  });
  assert.equal(conn.requestedProtocol, null);
  // Each read is a copy: changing it changes nothing on the connection.
  conn.handshake.requestedUrl = '/elsewhere';
  assert.equal(conn.requestedUrl, '/');
});

test('keepHeaders: the header list stays after onReady', async (t) => {
  const { listener } = await listen(t, true);
  const conn = await upgrade(t, listener, '/', ['X-Trace: 42']);
  assert.equal(conn.handshake.headers?.get('x-trace'), '42');
  assert.equal(conn.origin, null);
});
