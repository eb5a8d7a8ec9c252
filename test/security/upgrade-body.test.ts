/**
 * An upgrade request that announces a body (`Content-Length` other than 0, or any `Transfer-Encoding`) is refused
 * with 400 before a byte of that body is read as a frame (issue 11 item 5): behind a proxy that forwards bodies,
 * frames hidden in a body would be a request-smuggling shape. Each path where a request head reaches nopoll: a
 * listener reading the socket, a port-sharing listener (`acceptComplete`), and `attach` / `handleUpgrade` on a
 * Node HTTP server. The body is a masked text frame; an echo server must answer 400 and echo nothing.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { attach } from '../../src/api/attach.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { sharePort } from '../../src/api/port-sharing.js';
import { encodeFrame, parseHead, rawClient, tcpConnect, OP } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';

const SMUGGLED = 'smuggled frame in the body';

/** An echo context that counts the messages it received; closed after the test. */
function echoContext(t: TestContext): { ctx: Context; messages: () => number } {
  const ctx = new Context();
  let messages = 0;
  ctx.onMessage = (conn, msg) => {
    messages++;
    conn.sendText(msg.payload);
  };
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the context'));
  return { ctx, messages: () => messages };
}

/** A request head for `port` with extra header lines. */
function upgradeHead(port: number, extra: string[]): string {
  return [
    'GET / HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
    '',
    '',
  ].join('\r\n');
}

/** The request shapes that announce a body; each body is (or wraps) a masked text frame. */
function smugglingRequests(port: number): Array<[string, Buffer]> {
  const frame = encodeFrame({ opcode: OP.TEXT, payload: SMUGGLED }, true);
  const chunked = Buffer.concat([Buffer.from(`${frame.length.toString(16)}\r\n`), frame, Buffer.from('\r\n0\r\n\r\n')]);
  return [
    [
      'Content-Length',
      Buffer.concat([Buffer.from(upgradeHead(port, [`Content-Length: ${frame.length}`]), 'latin1'), frame]),
    ],
    [
      'Transfer-Encoding: chunked',
      Buffer.concat([Buffer.from(upgradeHead(port, ['Transfer-Encoding: chunked']), 'latin1'), chunked]),
    ],
    // Without a length Node's parser reads no body; nopoll must still not run the bytes as frames.
    [
      'Transfer-Encoding: identity',
      Buffer.concat([Buffer.from(upgradeHead(port, ['Transfer-Encoding: identity']), 'latin1'), frame]),
    ],
  ];
}

/**
 * Sends `request` and collects the answer until the server closes the connection or echoes the smuggled text
 * (what an unprotected server does at once), so a failure shows without waiting for a timeout.
 */
async function exchange(port: number, request: Buffer): Promise<string> {
  const socket = await tcpConnect(port);
  let raw = '';
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      if (raw.includes(SMUGGLED)) resolve();
    });
    socket.on('error', () => undefined);
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  socket.write(request);
  try {
    await withTimeout(done, 5000, 'waiting for the answer');
    return raw;
  } finally {
    socket.destroy();
  }
}

/** Sends every smuggling shape to `port`: each must get 400 and no echo; the server then still upgrades. */
async function expectRefused(port: number, messages: () => number): Promise<void> {
  for (const [name, request] of smugglingRequests(port)) {
    const raw = await exchange(port, request);
    assert.ok(!raw.includes(SMUGGLED), `${name}: the body was echoed as a frame`);
    assert.equal(parseHead(raw.slice(0, raw.indexOf('\r\n\r\n'))).status, 400, `${name}: ${raw.slice(0, 80)}`);
  }
  assert.equal(messages(), 0, 'no message was delivered to the application');
  // A request with Content-Length: 0 is an ordinary upgrade.
  const { peer } = await rawClient(port, { extraHeaders: ['Content-Length: 0'] });
  peer.send({ opcode: OP.TEXT, payload: 'after the refusals' });
  assert.equal((await peer.nextFrame()).payload.toString(), 'after the refusals');
  peer.destroy();
}

describe('an upgrade request with a body is refused with 400', () => {
  it('by a listener reading the socket', async (t) => {
    const { ctx, messages } = echoContext(t);
    const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
    await expectRefused(listener.port, messages);
  });

  it('by a port-sharing listener (acceptComplete after the sniff)', async (t) => {
    const { ctx, messages } = echoContext(t);
    const server = createTcpServer({ noDelay: true });
    const sockets = new Set<Socket>();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const shared = sharePort(server, { listener: Listener.fromSocket(ctx, server) });
    t.after(async () => {
      shared.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    });
    await expectRefused((server.address() as AddressInfo).port, messages);
  });

  it('by attach() on a Node HTTP server (handleUpgrade)', async (t) => {
    const { ctx, messages } = echoContext(t);
    const server = createHttpServer((_req, res) => res.writeHead(404).end());
    attach(server, { paths: { '/': ctx } });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    t.after(() => {
      server.close();
      server.closeAllConnections();
    });
    await expectRefused((server.address() as AddressInfo).port, messages);
  });
});
