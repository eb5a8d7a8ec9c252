/**
 * `nopoll/ws`'s `WebSocketServer`, option by option and event by event, checked side by side with `ws`'s own
 * server (the same scenario on both must give the same observations) and driven by real `ws` clients. nopoll's
 * extras (`ws.conn`, `server.listener`, the `nopoll` option) and its safety rules (a throwing handler) are checked
 * on nopoll/ws alone.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { createServer as createHttpServer, IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import { Conn } from '../../src/api/conn.js';
import { Listener } from '../../src/api/listener.js';
import { WebSocket as NopollWebSocket, WebSocketServer as NopollServer } from '../../src/ws/index.js';
import { certs } from '../helpers/tls.js';
import { AsyncQueue, delay, withTimeout } from '../helpers/ws-async.js';
import { openWs, wrapWs, type WsPeer } from '../helpers/ws-peers.js';
import { OP, rawClient, rawHttp } from '../helpers/raw-peer.js';
import { LIBS, type Lib } from '../helpers/ws-programs.js';

/** What the tests use of either library's server and sockets. */
interface SocketLike extends EventEmitter {
  readyState: number;
  protocol: string;
  send(data: unknown, options?: object, cb?: (err?: Error) => void): void;
  ping(data?: unknown): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  readonly bufferedAmount: number;
}
interface ServerLike extends EventEmitter {
  clients?: Set<SocketLike>;
  address(): AddressInfo | string | null;
  close(cb?: (err?: Error) => void): void;
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (ws: SocketLike, req: IncomingMessage) => void,
  ): void;
}

function makeServer(lib: Lib, options: object, cb?: () => void): ServerLike {
  return (lib === 'ws'
    ? new WsServer(options, cb)
    : new NopollServer(options as ConstructorParameters<typeof NopollServer>[0], cb)) as unknown as ServerLike;
}

/** A server in port mode on 127.0.0.1, closed (clients terminated) after the test. */
async function listen(
  t: TestContext,
  lib: Lib,
  options: object = {},
): Promise<{
  wss: ServerLike;
  port: number;
  url: string;
  sockets: AsyncQueue<{ ws: SocketLike; req: IncomingMessage }>;
}> {
  const wss = makeServer(lib, { host: '127.0.0.1', port: 0, ...options });
  await withTimeout(new Promise((resolve) => wss.once('listening', resolve)), 5000, 'listening');
  const sockets = new AsyncQueue<{ ws: SocketLike; req: IncomingMessage }>();
  wss.on('connection', (ws: SocketLike, req: IncomingMessage) => {
    ws.on('error', () => undefined);
    sockets.push({ ws, req });
  });
  t.after(() => closeServer(wss));
  const port = (wss.address() as AddressInfo).port;
  return { wss, port, url: `ws://127.0.0.1:${port}/`, sockets };
}

function closeServer(wss: ServerLike): Promise<void> {
  for (const client of wss.clients ?? []) client.terminate();
  return withTimeout(new Promise<void>((resolve) => wss.close(() => resolve())), 5000, 'closing the server');
}

/** Runs `check` on ws, then on nopoll/ws, and asserts the results are equal (and returns them). */
async function same<T>(t: TestContext, check: (t: TestContext, lib: Lib) => Promise<T>): Promise<T> {
  const results: T[] = [];
  for (const lib of LIBS) results.push(await check(t, lib));
  assert.deepEqual(results[1], results[0], 'nopoll/ws observes what ws observes');
  return results[0]!;
}

function upgradeRequest(port: number, lines: string[]): string {
  return [`GET / HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...lines, '', ''].join('\r\n');
}
const GOOD = [
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version: 13',
];

describe('WebSocketServer: construction, address, close', () => {
  it('needs exactly one of port, server and noServer', async (t) => {
    await same(t, async (_t, lib) => {
      const errors: string[] = [];
      for (const options of [{}, { port: 0, noServer: true }, { noServer: true, server: createHttpServer() }]) {
        try {
          makeServer(lib, options);
          errors.push('no error');
        } catch (error) {
          errors.push(`${(error as Error).name}: ${(error as Error).message}`);
        }
      }
      assert.match(
        errors[0]!,
        /^TypeError: One and only one of the "port", "server", or "noServer" options must be specified$/,
      );
      return errors;
    });
  });

  it('port mode: plain HTTP requests get 426, address() is the bound address, the callback is called', async (t) => {
    await same(t, async (t, lib) => {
      let called = false;
      const wss = makeServer(lib, { host: '127.0.0.1', port: 0 }, () => (called = true));
      t.after(() => closeServer(wss));
      await withTimeout(new Promise((resolve) => wss.once('listening', resolve)), 5000, 'listening');
      const address = wss.address() as AddressInfo;
      const res = await rawHttp(address.port, `GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      return [
        called,
        address.address,
        address.family,
        res.response?.status,
        res.response?.headers.get('content-type'),
        res.body,
      ];
    });
  });

  it('noServer: address() throws; close(cb) twice: the second callback gets an error', async (t) => {
    const result = await same(t, async (_t, lib) => {
      const wss = makeServer(lib, { noServer: true });
      let thrown = '';
      try {
        wss.address();
      } catch (error) {
        thrown = (error as Error).message;
      }
      const first = await new Promise<string>((resolve) => wss.close((err) => resolve(String(err))));
      const second = await new Promise<string>((resolve) => wss.close((err) => resolve(String(err))));
      return [thrown, first, second];
    });
    assert.deepEqual(result, [
      'The server is operating in "noServer" mode',
      'undefined',
      'Error: The server is not running',
    ]);
  });

  it("server mode: 'close' waits for the clients; the application's server stays open; 'listening' and 'error' are forwarded", async (t) => {
    await same(t, async (t, lib) => {
      const http = createHttpServer();
      const wss = makeServer(lib, { server: http });
      const events: string[] = [];
      wss.on('listening', () => events.push('listening'));
      wss.on('error', (error: NodeJS.ErrnoException) => events.push(`error ${error.code}`));
      wss.on('connection', (ws: SocketLike) => ws.on('close', () => events.push('client closed')));
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      t.after(() => new Promise<void>((resolve) => http.close(() => resolve())));
      http.emit('error', Object.assign(new Error('boom'), { code: 'EBOOM' }));
      const port = (http.address() as AddressInfo).port;
      const peer = await openWs(`ws://127.0.0.1:${port}/`);
      const closed = new Promise<void>((resolve) => wss.close(() => resolve()));
      events.push('close called');
      await delay(20);
      peer.ws.close();
      await withTimeout(closed, 5000, "the server's close");
      events.push('server closed');
      events.push(`http still listening: ${http.listening}, its listeners gone: ${http.listenerCount('upgrade')}`);
      return events;
    });
  });
});

describe('WebSocketServer: upgrade handling', () => {
  it("refuses invalid upgrades with ws's reasons (nopoll answers an unsupported version with 426)", async (t) => {
    const cases: Array<[string, string]> = [
      ['method', upgradeRequest(0, GOOD).replace(/^GET/, 'POST')],
      ['upgrade', upgradeRequest(0, ['Upgrade: webbsocket', ...GOOD.slice(1)])],
      ['key', upgradeRequest(0, [...GOOD.slice(0, 2), 'Sec-WebSocket-Key: short', GOOD[3]!])],
      ['version', upgradeRequest(0, [...GOOD.slice(0, 3), 'Sec-WebSocket-Version: 12'])],
      ['protocol', upgradeRequest(0, [...GOOD, 'Sec-WebSocket-Protocol: a b'])],
    ];
    const seen: Record<Lib, string[]> = { ws: [], 'nopoll/ws': [] };
    for (const lib of LIBS) {
      const { port } = await listen(t, lib);
      for (const [, request] of cases) {
        const res = await rawHttp(port, request);
        seen[lib].push(`${res.response?.status} ${res.body.trim()}`);
      }
    }
    assert.deepEqual(seen.ws, [
      '405 Invalid HTTP method',
      '400 Invalid Upgrade header',
      '400 Missing or invalid Sec-WebSocket-Key header',
      '400 Missing or invalid Sec-WebSocket-Version header',
      '400 Invalid Sec-WebSocket-Protocol header',
    ]);
    assert.deepEqual(seen['nopoll/ws'], [
      ...seen.ws.slice(0, 3),
      '426 Missing or invalid Sec-WebSocket-Version header',
      seen.ws[4],
    ]);
  });

  it("'wsClientError' listeners get ws's error, the socket and the request, and answer themselves", async (t) => {
    await same(t, async (t, lib) => {
      const { wss, port } = await listen(t, lib);
      const seen: string[] = [];
      wss.on('wsClientError', (error: Error, socket: Duplex, req: IncomingMessage) => {
        seen.push(`${error.message} (${req.headers['sec-websocket-key']})`);
        socket.end("HTTP/1.1 418 I'm a Teapot\r\nConnection: close\r\n\r\n");
      });
      const res = await rawHttp(
        port,
        upgradeRequest(port, [...GOOD.slice(0, 2), 'Sec-WebSocket-Key: short', GOOD[3]!]),
      );
      return [...seen, `${res.response?.status}`];
    });
  });

  it('path: other paths get 400, the query string is ignored', async (t) => {
    await same(t, async (t, lib) => {
      const { port } = await listen(t, lib, { path: '/chat' });
      const other = await rawHttp(port, upgradeRequest(port, GOOD).replace('GET /', 'GET /other'));
      const peer = await openWs(`ws://127.0.0.1:${port}/chat?room=1`);
      peer.ws.terminate();
      return [other.response?.status, peer.ws.url.endsWith('/chat?room=1')];
    });
  });

  it('handleProtocols gets a Set and the request; by default the first protocol is chosen', async (t) => {
    await same(t, async (t, lib) => {
      const calls: string[] = [];
      const chooser = await listen(t, lib, {
        handleProtocols: (protocols: Set<string>, req: IncomingMessage) => {
          calls.push(`${protocols instanceof Set} ${[...protocols].join('|')} ${req instanceof IncomingMessage}`);
          return 'b';
        },
      });
      const chosen = await openWs(chooser.url, ['a', 'b']);
      const plain = await listen(t, lib);
      const first = await openWs(plain.url, ['x', 'y']);
      const none = await openWs(plain.url);
      for (const peer of [chosen, first, none]) peer.ws.terminate();
      return [...calls, chosen.ws.protocol, first.ws.protocol, none.ws.protocol];
    });
  });

  it("'headers' listeners see the 101 lines and can add headers", async (t) => {
    await same(t, async (t, lib) => {
      const { wss, url } = await listen(t, lib);
      const seen: string[] = [];
      wss.on('headers', (headers: string[], req: IncomingMessage) => {
        seen.push(headers.map((h) => h.replace(/Accept: .*/, 'Accept: *')).join(' | '), String(req.url));
        headers.push('Set-Cookie: session=abc');
      });
      const ws = new WebSocket(url);
      const cookie = await withTimeout(
        new Promise<string>((resolve) => ws.once('upgrade', (res) => resolve(String(res.headers['set-cookie'])))),
        5000,
        'upgrade',
      );
      ws.terminate();
      return [...seen, cookie];
    });
  });

  it('the connection request is the http.IncomingMessage, with headers and socket; verifyClient sees secure over TLS', async (t) => {
    await same(t, async (t, lib) => {
      const https = createHttpsServer({ cert: certs.serverCert, key: certs.serverKey });
      const infos: string[] = [];
      const wss = makeServer(lib, {
        server: https,
        verifyClient: (info: { secure: boolean; origin: string; req: IncomingMessage }) =>
          infos.push(`${info.secure} ${info.origin} ${info.req.url}`) > 0,
      });
      const requests = new AsyncQueue<IncomingMessage>();
      wss.on('connection', (_ws: SocketLike, req: IncomingMessage) => requests.push(req));
      await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
      t.after(() => closeServer(wss).then(() => new Promise<void>((resolve) => https.close(() => resolve()))));
      const port = (https.address() as AddressInfo).port;
      const peer = await openWs(`wss://localhost:${port}/in?q=1`, undefined, {
        ca: certs.ca,
        origin: 'https://app.example',
        headers: { 'X-Id': '7' },
      });
      const req = await requests.next();
      peer.ws.terminate();
      return [...infos, req instanceof IncomingMessage, req.url, req.headers['x-id'], req.socket.remoteAddress];
    });
  });

  it('noServer: handleUpgrade after close() answers 503; twice on one socket throws', async (t) => {
    await same(t, async (t, lib) => {
      const http = createHttpServer();
      const wss = makeServer(lib, { noServer: true });
      const results: string[] = [];
      let upgrades = 0;
      http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (upgrades++ === 0) {
          wss.handleUpgrade(req, socket, head, (ws) => {
            (ws as SocketLike).on('error', () => undefined);
            try {
              wss.handleUpgrade(req, socket, head, () => undefined);
            } catch (error) {
              results.push((error as Error).message);
            }
          });
        } else {
          wss.handleUpgrade(req, socket, head, () => results.push('accepted after close'));
        }
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      t.after(() => new Promise<void>((resolve) => http.close(() => resolve())));
      const port = (http.address() as AddressInfo).port;
      const peer = await openWs(`ws://127.0.0.1:${port}/`);
      peer.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      const res = await rawHttp(port, upgradeRequest(port, GOOD));
      results.push(`${res.response?.status} ${res.body.trim()}`);
      http.closeAllConnections();
      return results;
    });
  });

  it('clientTracking: false leaves clients undefined; the WebSocket option picks the class of the sockets', async (t) => {
    const result = await same(t, async (t, lib) => {
      const Base = lib === 'ws' ? WebSocket : NopollWebSocket;
      class Custom extends (Base as typeof WebSocket) {
        hello(): string {
          return 'custom';
        }
      }
      const { wss, url, sockets } = await listen(t, lib, { clientTracking: false, WebSocket: Custom });
      const peer = await openWs(url);
      const { ws } = await sockets.next();
      peer.ws.terminate();
      return [wss.clients === undefined, ws instanceof Custom && (ws as unknown as Custom).hello()];
    });
    assert.deepEqual(result, [true, 'custom']);
  });
});

describe('WebSocketServer: server-side sockets', () => {
  it('send (text, binary, fragments, compress), ping, close with a reason, terminate, as ws clients see them', async (t) => {
    await same(t, async (t, lib) => {
      const { url, sockets } = await listen(t, lib, { perMessageDeflate: true });
      const peer = await openWs(url);
      const { ws } = await sockets.next();
      const done: string[] = [];
      ws.send('text');
      ws.send(Buffer.from('as text'), { binary: false });
      ws.send(new Uint8Array([1, 2]), () => done.push('sent'));
      ws.send('a', { fin: false });
      ws.send(Buffer.from('b'), { fin: false });
      ws.send('c', { fin: true, compress: false });
      ws.send([7, 8, 9]);
      ws.send(12345);
      ws.ping('are you there');
      const got: string[] = [];
      for (let i = 0; i < 6; i++) {
        const m = await peer.messages.next();
        got.push(`${m.isBinary ? 'binary' : 'text'}:${m.isBinary ? m.data.toString('hex') : m.data.toString()}`);
      }
      got.push(`ping:${(await peer.pings.next()).toString()}`);
      ws.close(4001, 'going');
      const closed = await peer.closed;
      const second = await openWs(url);
      const s2 = await sockets.next();
      s2.ws.terminate();
      const gone = await second.closed;
      return [...got, ...done, `closed ${closed.code} ${closed.reason}`, `terminated ${gone.code}`];
    });
  });

  it('allowSynchronousEvents: false runs microtasks between messages (one message per turn of the event loop)', async (t) => {
    const result = await same(t, async (t, lib) => {
      const turns: string[] = [];
      for (const allowSynchronousEvents of [true, false]) {
        const { port, sockets } = await listen(t, lib, { allowSynchronousEvents });
        const { peer } = await rawClient(port);
        t.after(() => peer.destroy());
        const { ws } = await sockets.next();
        let microtaskPending = false;
        let back2back = 0;
        let count = 0;
        const all = new Promise<void>((resolve) =>
          ws.on('message', () => {
            if (microtaskPending) back2back++;
            microtaskPending = true;
            queueMicrotask(() => (microtaskPending = false));
            if (++count === 3) resolve();
          }),
        );
        // Three frames in one TCP write, so that they arrive together.
        peer.sendAll([
          { opcode: OP.TEXT, payload: '1' },
          { opcode: OP.TEXT, payload: '2' },
          { opcode: OP.TEXT, payload: '3' },
        ]);
        await withTimeout(all, 5000, 'three messages');
        turns.push(`${allowSynchronousEvents}: ${back2back} back to back`);
      }
      return turns;
    });
    assert.deepEqual(result, ['true: 2 back to back', 'false: 0 back to back']);
  });

  it('pause() stops the messages, resume() brings them; isPaused and bufferedAmount as in ws', async (t) => {
    await same(t, async (t, lib) => {
      const { url, sockets } = await listen(t, lib);
      const peer = await openWs(url);
      const { ws } = await sockets.next();
      const got: string[] = [];
      ws.on('message', (data: Buffer) => got.push(data.toString()));
      const paused = ws as SocketLike & { pause(): void; resume(): void; isPaused: boolean };
      paused.pause();
      peer.ws.send('while paused');
      await delay(100);
      const before = [...got];
      const flag = paused.isPaused;
      paused.resume();
      await withTimeout(
        (async () => {
          while (got.length === 0) await delay(5);
        })(),
        5000,
        'the message after resume',
      );
      peer.ws.terminate();
      return [before.length, flag, paused.isPaused, got[0], ws.bufferedAmount];
    });
  });
});

describe('WebSocketServer: where nopoll/ws differs from ws (docs/ws-migration.md)', () => {
  it('handleProtocols returning a protocol the client did not offer: 400 (RFC 6455 §4.2.2), where ws sends it', async (t) => {
    const seen: Record<Lib, string> = { ws: '', 'nopoll/ws': '' };
    for (const lib of LIBS) {
      const { url } = await listen(t, lib, { handleProtocols: () => 'unoffered' });
      const ws = new WebSocket(url, ['a']);
      seen[lib] = await withTimeout(
        new Promise<string>((resolve) => {
          ws.once('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`));
          ws.once('error', (error) => resolve(error.message));
          ws.once('open', () => resolve('open'));
        }),
        5000,
        'the handshake',
      );
      ws.terminate();
    }
    assert.deepEqual(seen, { ws: 'Server sent an invalid subprotocol', 'nopoll/ws': 'HTTP 400' });
  });

  it('a compression offer it cannot accept is declined (RFC 7692 §5.1) instead of refused; repeated subprotocols are merged', async (t) => {
    const seen: Record<Lib, string[]> = { ws: [], 'nopoll/ws': [] };
    for (const lib of LIBS) {
      const { port } = await listen(t, lib, { perMessageDeflate: true });
      for (const extra of [
        'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7',
        'Sec-WebSocket-Protocol: a, a',
      ]) {
        try {
          const { peer, response } = await rawClient(port, { extraHeaders: [extra] });
          peer.destroy();
          seen[lib].push(
            `101 ${response.headers.get('sec-websocket-extensions') ?? ''}${response.headers.get('sec-websocket-protocol') ?? ''}`.trim(),
          );
        } catch (error) {
          seen[lib].push(/HTTP\/1\.1 (\d+)/.exec((error as Error).message)?.[1] ?? (error as Error).message);
        }
      }
    }
    assert.deepEqual(seen.ws, ['400', '400']);
    assert.deepEqual(seen['nopoll/ws'], ['101', '101 a']);
  });

  it('a connection listener that throws closes that connection with 1011; the server goes on', async (t) => {
    const { wss, url } = await listen(t, 'nopoll/ws');
    const reported = new AsyncQueue<unknown>();
    (wss as unknown as NopollServer).context.onError = (error) => reported.push(error);
    let first = true;
    wss.prependListener('connection', () => {
      if (first) {
        first = false;
        throw new Error('connection bug');
      }
    });
    const peer = wrapWs(new WebSocket(url));
    assert.equal((await peer.closed).code, 1011);
    assert.equal(((await reported.next()) as Error).message, 'connection bug');
    const again = await openWs(url);
    again.ws.terminate();
  });
});

describe('WebSocketServer: nopoll extras and safety', () => {
  it('ws.conn is the nopoll Conn, server.listener and server.context are reachable, the nopoll option sets a heartbeat', async (t) => {
    const { wss, url, sockets } = await listen(t, 'nopoll/ws', { nopoll: { opts: { pingIntervalMs: 50 } } });
    const server = wss as unknown as NopollServer;
    const peer: WsPeer = await openWs(url);
    t.after(() => peer.ws.terminate());
    const { ws } = await sockets.next();
    const conn = (ws as unknown as NopollWebSocket).conn;
    assert.ok(conn instanceof Conn);
    assert.ok(server.listener instanceof Listener);
    assert.ok(server.context.conns.has(conn));
    // A quiet client is pinged by nopoll's heartbeat.
    await peer.pings.next(2000, 'a heartbeat ping');
  });

  it('a listener that throws closes its connection with 1011 and reaches context.onError; the process goes on', async (t) => {
    const { wss, url, sockets } = await listen(t, 'nopoll/ws');
    const reported = new AsyncQueue<unknown>();
    (wss as unknown as NopollServer).context.onError = (error) => reported.push(error);
    const peer = await openWs(url);
    const { ws } = await sockets.next();
    ws.on('message', () => {
      throw new Error('handler bug');
    });
    peer.ws.send('boom');
    assert.equal(((await reported.next()) as Error).message, 'handler bug');
    assert.equal((await peer.closed).code, 1011);
    const again = await openWs(url);
    again.ws.terminate();
  });

  it('connections made with a raw socket that closes at once leave nothing behind', async (t) => {
    const { wss, port } = await listen(t, 'nopoll/ws');
    const socket = tcpConnect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.resume();
    await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), 5000, 'connect');
    socket.end(upgradeRequest(port, GOOD));
    await withTimeout(new Promise((resolve) => socket.once('close', resolve)), 5000, 'the server closing the socket');
    await delay(50);
    assert.equal(wss.clients?.size, 0);
    assert.equal((wss as unknown as NopollServer).context.conns.size, 0);
  });

  it('a wrapWs peer of nopoll/ws sockets sees a clean closing handshake', async (t) => {
    const { url, sockets } = await listen(t, 'nopoll/ws');
    const peer = wrapWs(new WebSocket(url));
    const { ws } = await sockets.next();
    ws.close();
    const closed = await peer.closed;
    assert.deepEqual([closed.code, closed.wasClean], [1005, true]);
  });
});

// Keep the type of an http.Server import used (the server option takes one).
export type { HttpServer };
