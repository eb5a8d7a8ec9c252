/**
 * WebSocket endpoints on an existing `http.Server` / `https.Server`: plain HTTP on some paths, two WebSocket paths
 * with their own options and handlers, unknown paths, refusals, frames pipelined after the request, the
 * `handleUpgrade` entry, and coexistence with another 'upgrade' listener. `ws` and nopoll clients.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  get as httpGet,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { attach, UpgradeRouter } from '../../src/api/attach.js';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { HandshakeError } from '../../src/errors.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { wrapWs, type WsPeer } from '../helpers/ws-peers.js';
import { encodeFrame, rawClient, rawHttp, OP } from '../helpers/raw-peer.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const tlsFile = (name: string): Buffer => readFileSync(join(ROOT, 'test', 'fixtures', 'tls', name));

/** Plain HTTP: GET /hello answers "hello", anything else 404. */
function httpHandler(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'GET' && req.url === '/hello') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('hello');
  } else {
    res.writeHead(404).end('not found');
  }
}

/** Listens on 127.0.0.1:0; the server (and every connection it holds) is closed after the test. */
async function listen(t: TestContext, server: Server): Promise<number> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  // Upgraded sockets leave the server's books: the hooks of the clients and contexts close them.
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  return (server.address() as AddressInfo).port;
}

/** A context whose connections are closed after the test. */
function context(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing a context'));
  return ctx;
}

/** GET over plain HTTP, resolving with status and body. */
function fetchText(port: number, path: string): Promise<{ status: number; body: string }> {
  return withTimeout(
    new Promise((done, fail) => {
      httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      }).on('error', fail);
    }),
    5000,
    `GET ${path}`,
  );
}

/** Opens a `ws` client; resolves when open, rejects with the HTTP status when refused. */
async function openWs(
  t: TestContext,
  url: string,
  protocols?: string[],
  options: WebSocket.ClientOptions = {},
): Promise<WsPeer> {
  const ws = new WebSocket(url, protocols, options);
  t.after(() => ws.terminate());
  const peer = wrapWs(ws);
  await withTimeout(
    new Promise<void>((done, fail) => {
      ws.once('open', () => done());
      ws.once('unexpected-response', (_req, res) => fail(new Error(`status ${res.statusCode}`)));
      ws.once('error', fail);
    }),
    5000,
    `opening ${url}`,
  );
  return peer;
}

/** Two endpoints: /echo (a listener of its own context, echoing) and /upper (a context with options, upper-casing). */
function endpoints(t: TestContext): { echoCtx: Context; upperCtx: Context; echo: Listener } {
  const echoCtx = context(t);
  echoCtx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  const upperCtx = context(t);
  upperCtx.onMessage = (conn, msg) => void conn.sendText(msg.text.toUpperCase());
  return { echoCtx, upperCtx, echo: Listener.detached(echoCtx, { maxMessageSize: 1024 }) };
}

describe('attach: WebSocket endpoints on an http.Server', () => {
  it('serves plain HTTP and two WebSocket paths, with ws and nopoll clients at once', async (t) => {
    const server = createHttpServer(httpHandler);
    const { upperCtx, echo } = endpoints(t);
    const router = attach(server, {
      paths: { '/echo': echo, '/upper': { ctx: upperCtx, opts: { protocols: ['upper'] } } },
    });
    t.after(() => router.close());
    const port = await listen(t, server);
    assert.deepEqual(router.paths.sort(), ['/echo', '/upper']);

    const ws = await openWs(t, `ws://127.0.0.1:${port}/echo?room=1`);
    const client = context(t);
    const upper = await Conn.open(client, `ws://127.0.0.1:${port}/upper`, {
      protocols: ['other', 'upper'],
      timeoutMs: 5000,
    });
    const wsUpper = await openWs(t, `ws://127.0.0.1:${port}/upper`, ['upper']);
    const nopollEcho = await Conn.open(client, `ws://127.0.0.1:${port}/echo`, { timeoutMs: 5000 });

    assert.deepEqual(await fetchText(port, '/hello'), { status: 200, body: 'hello' });
    assert.deepEqual(await fetchText(port, '/nope'), { status: 404, body: 'not found' });

    ws.ws.send('via ws');
    ws.ws.send(Buffer.from([0, 255]));
    upper.sendText('shout');
    wsUpper.ws.send('also');
    nopollEcho.sendText('via nopoll');
    const text = await ws.messages.next();
    assert.deepEqual([text.isBinary, text.data.toString()], [false, 'via ws']);
    const bin = await ws.messages.next();
    assert.deepEqual([bin.isBinary, [...bin.data]], [true, [0, 255]]);
    assert.equal(upper.acceptedProtocol, 'upper', 'the endpoint options chose the subprotocol');
    assert.equal((await upper.nextMsg({ timeoutMs: 5000 })).text, 'SHOUT');
    assert.equal((await wsUpper.messages.next()).data.toString(), 'ALSO');
    assert.equal((await nopollEcho.nextMsg({ timeoutMs: 5000 })).text, 'via nopoll');

    // The server side: each connection belongs to its endpoint, with what the request said.
    const served = [...echo.ctx.conns].map((c) => c.requestedUrl).sort();
    assert.deepEqual(served, ['/echo', '/echo?room=1']);
    assert.ok([...upperCtx.conns].every((c) => c.listener === router.endpoint('/upper')));

    // The echo endpoint's own limit applies: 1025 bytes close the connection with 1009.
    nopollEcho.sendText('x'.repeat(1025));
    assert.equal((await withTimeout(nopollEcho.closed, 5000, 'the 1009 close')).code, 1009);
  });

  it('answers 404 to an upgrade for an unknown path, and 400 to a broken upgrade on a known one', async (t) => {
    const server = createHttpServer(httpHandler);
    const { echo } = endpoints(t);
    attach(server, { paths: { '/echo': echo } });
    const port = await listen(t, server);
    await assert.rejects(openWs(t, `ws://127.0.0.1:${port}/missing`), /status 404/);
    const broken = await rawHttp(
      port,
      'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    assert.equal(broken.response?.status, 400);
    const version = await rawHttp(
      port,
      'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 8\r\n\r\n`,
    );
    assert.equal(version.response?.status, 426);
    assert.equal(version.response?.headers.get('sec-websocket-version'), '13');
    // The server still serves.
    assert.equal((await fetchText(port, '/hello')).status, 200);
  });

  it('runs onAccept and onOpen: a refusal answers 403 and the connection reports it', async (t) => {
    const server = createHttpServer(httpHandler);
    const ctx = context(t);
    const closed = new AsyncQueue<Error | undefined>();
    ctx.onOpen = (conn) => conn.origin !== 'http://evil.example';
    ctx.onClose = (_conn, info) => closed.push(info.error);
    attach(server, { paths: { '/ws': ctx } });
    const port = await listen(t, server);
    await assert.rejects(
      openWs(t, `ws://127.0.0.1:${port}/ws`, undefined, { origin: 'http://evil.example' }),
      /status 403/,
    );
    const error = await closed.next();
    assert.ok(error instanceof HandshakeError && error.status === 403);
    await openWs(t, `ws://127.0.0.1:${port}/ws`, undefined, { origin: 'http://good.example' });
  });

  it('starts the session with frames the client pipelined after its request (the head bytes)', async (t) => {
    const server = createHttpServer(httpHandler);
    const ctx = context(t);
    const got = new AsyncQueue<string>();
    ctx.onMessage = (_conn, msg) => got.push(msg.text);
    attach(server, { paths: { '/': ctx } });
    const port = await listen(t, server);
    const pipelined = Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'early one' }, true),
      encodeFrame({ opcode: OP.TEXT, payload: 'early two' }, true),
    ]);
    const { peer } = await rawClient(port, { pipelined });
    t.after(() => peer.destroy());
    assert.equal(await got.next(), 'early one');
    assert.equal(await got.next(), 'early two');
    peer.destroy();
  });

  it("'ignore' leaves unknown paths to another upgrade listener (a ws server with noServer)", async (t) => {
    const server = createHttpServer(httpHandler);
    const { echo } = endpoints(t);
    attach(server, { paths: { '/echo': echo }, unknownPath: 'ignore' });
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    t.after(() => wss.close());
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      if (req.url !== '/legacy') return;
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`legacy ${String(data)}`)));
    });
    const port = await listen(t, server);
    const legacy = await openWs(t, `ws://127.0.0.1:${port}/legacy`);
    legacy.ws.send('x');
    assert.equal((await legacy.messages.next()).data.toString(), 'legacy x');
    const ours = await openWs(t, `ws://127.0.0.1:${port}/echo`);
    ours.ws.send('y');
    assert.equal((await ours.messages.next()).data.toString(), 'y');
  });

  it('routes with a function, and a listener used by hand with handleUpgrade and accept()', async (t) => {
    const server = createHttpServer(httpHandler);
    const ctx = context(t);
    const rooms = Listener.detached(ctx);
    const manual = Listener.detached(ctx);
    const router = new UpgradeRouter({ route: (_req, path) => (path.startsWith('/rooms/') ? rooms : null) });
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      if (req.url === '/manual') manual.handleUpgrade(req, socket, head);
      else router.handleUpgrade(req, socket, head);
    });
    const port = await listen(t, server);
    const client = context(t);
    const inRoom = await Conn.open(client, `ws://127.0.0.1:${port}/rooms/42`, { timeoutMs: 5000 });
    const served = await rooms.accept({ timeoutMs: 5000 });
    assert.equal(served.requestedUrl, '/rooms/42');
    served.sendText('welcome');
    assert.equal((await inRoom.nextMsg({ timeoutMs: 5000 })).text, 'welcome');

    const byHand = await Conn.open(client, `ws://127.0.0.1:${port}/manual`, { timeoutMs: 5000 });
    const other = await manual.accept({ timeoutMs: 5000 });
    await other.waitUntilReady({ timeoutMs: 5000 });
    byHand.sendText('ping');
    assert.equal((await other.nextMsg({ timeoutMs: 5000 })).text, 'ping');
    await assert.rejects(openWs(t, `ws://127.0.0.1:${port}/elsewhere`), /status 404/);
  });

  it('a closed endpoint answers 503; detach() stops routing and close() closes the listeners it made', async (t) => {
    const server = createHttpServer(httpHandler);
    const ctx = context(t);
    const closedEndpoint = Listener.detached(ctx);
    const router = attach(server, { paths: { '/closed': closedEndpoint, '/made': ctx } });
    const made = router.endpoint('/made')!;
    const port = await listen(t, server);
    await closedEndpoint.close();
    await assert.rejects(openWs(t, `ws://127.0.0.1:${port}/closed`), /status 503/);
    await router.close();
    assert.equal(made.isOk, false, 'the listener made from a Context was closed');
    assert.equal(server.listenerCount('upgrade'), 0);
    // Without an 'upgrade' listener, Node answers such a request as plain HTTP.
    const plain = await rawHttp(
      port,
      'GET /hello HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n' +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    assert.equal(plain.response?.status, 200);
  });

  it('rejects bad endpoint paths and targets', () => {
    const router = new UpgradeRouter();
    assert.throws(() => router.add('chat', new Context()), TypeError);
    assert.throws(() => router.add('/a?b', new Context()), TypeError);
    assert.throws(() => router.add('/a', {} as unknown as Context), TypeError);
    assert.throws(() => new UpgradeRouter({ unknownPath: 'drop' as 'ignore' }), TypeError);
  });
});

describe('attach: an https.Server', () => {
  it('serves wss on one path and https on the rest; the connections report TLS', async (t) => {
    const server = createHttpsServer({ cert: tlsFile('server.crt'), key: tlsFile('server.key') }, httpHandler);
    const ctx = context(t);
    ctx.onMessage = (conn, msg) => void conn.sendText(`secure ${msg.text} ${conn.isTlsOn}`);
    attach(server, { paths: { '/secure': ctx } });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    t.after(() => {
      server.close();
      server.closeAllConnections();
    });
    const port = (server.address() as AddressInfo).port;
    const wss = await openWs(t, `wss://localhost:${port}/secure`, undefined, { ca: tlsFile('ca.crt') });
    wss.ws.send('hi');
    assert.equal((await wss.messages.next()).data.toString(), 'secure hi true');
    const page = await withTimeout(
      new Promise<string>((done, fail) => {
        httpsGet({ host: 'localhost', port, path: '/hello', ca: tlsFile('ca.crt'), agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => done(`${res.statusCode} ${body}`));
        }).on('error', fail);
      }),
      5000,
      'GET https://localhost/hello',
    );
    assert.equal(page, '200 hello');
  });
});
