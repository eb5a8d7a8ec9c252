/**
 * `nopoll/ws`'s client `WebSocket`, option by option, side by side with `ws`'s client: the same scenario (against
 * a real `ws` server, a plain HTTP server, or a raw server shaping the handshake) must give the same observations.
 * Where nopoll follows RFC 6455 and `ws` does not, the test says so and checks nopoll's behaviour.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { ClientRequest, createServer as createHttpServer, IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { WebSocket as NopollWebSocket } from '../../src/ws/index.js';
import { certs } from '../helpers/tls.js';
import { AsyncQueue, delay, withTimeout } from '../helpers/ws-async.js';
import { startWsServer, type WsServerHandle } from '../helpers/ws-peers.js';
import { closeBody, OP, parseClose, RawServer } from '../helpers/raw-peer.js';
import { LIBS, type Lib } from '../helpers/ws-programs.js';

/** What the tests use of either library's client. */
interface ClientLike extends EventEmitter {
  readyState: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly url: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: unknown, options?: object | ((err?: Error) => void), cb?: (err?: Error) => void): void;
  ping(data?: unknown, mask?: boolean, cb?: (err?: Error) => void): void;
  pong(data?: unknown): void;
  close(code?: number, reason?: string | Buffer): void;
  terminate(): void;
  addEventListener(
    type: string,
    listener: (event: {
      type: string;
      data?: unknown;
      code?: number;
      reason?: string;
      wasClean?: boolean;
      message?: string;
    }) => void,
    options?: { once?: boolean },
  ): void;
  onmessage: unknown;
  onclose: unknown;
}

function client(lib: Lib, url: string | URL, protocols?: string | string[] | object, options?: object): ClientLike {
  const Ctor = (lib === 'ws' ? WebSocket : NopollWebSocket) as unknown as new (
    url: string | URL,
    p?: unknown,
    o?: unknown,
  ) => ClientLike;
  return new Ctor(url, protocols, options);
}

/** A client whose events are recorded as strings; terminated after the test. */
function recorded(
  t: TestContext,
  lib: Lib,
  url: string | URL,
  protocols?: string | string[] | object,
  options?: object,
): { ws: ClientLike; log: string[]; closed: Promise<void>; opened: Promise<void> } {
  const ws = client(lib, url, protocols, options);
  const log: string[] = [];
  ws.on('open', () => log.push(`open ${ws.readyState}`));
  ws.on('error', (error: NodeJS.ErrnoException) => log.push(`error ${error.code ?? error.message} (${ws.readyState})`));
  const closed = new Promise<void>((resolve) =>
    ws.on('close', (code: number, reason: Buffer) => {
      log.push(`close ${code} "${reason.toString()}" (${ws.readyState})`);
      resolve();
    }),
  );
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error(`closed before opening: ${log.join('; ')}`)));
  });
  t.after(() => ws.terminate());
  // Rejections are awaited by the tests that care; the others must not make them unhandled.
  const waitOpen = withTimeout(opened, 5000, 'the open event');
  const waitClose = withTimeout(closed, 8000, 'the close event');
  waitOpen.catch(() => undefined);
  waitClose.catch(() => undefined);
  return { ws, log, closed: waitClose, opened: waitOpen };
}

async function same<T>(t: TestContext, check: (t: TestContext, lib: Lib) => Promise<T>): Promise<T> {
  const results: T[] = [];
  for (const lib of LIBS) results.push(await check(t, lib));
  assert.deepEqual(results[1], results[0], 'nopoll/ws observes what ws observes');
  return results[0]!;
}

async function wsServer(
  t: TestContext,
  options: Parameters<typeof startWsServer>[0] = {},
  echo = false,
): Promise<WsServerHandle> {
  const server = await startWsServer(options, echo);
  t.after(() => server.close());
  return server;
}

async function httpServer(
  t: TestContext,
  handler: Parameters<typeof createHttpServer>[1],
): Promise<{ server: HttpServer; port: number }> {
  const server = createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as AddressInfo).port };
}

describe('WebSocket client: construction and connection failures', () => {
  it("throws ws's errors for unusable URLs, subprotocols and versions", async (t) => {
    const result = await same(t, async (_t, lib) => {
      const out: string[] = [];
      for (const [url, protocols, options] of [
        ['not a url', undefined, undefined],
        ['ftp://127.0.0.1/', undefined, undefined],
        ['ws://127.0.0.1/#frag', undefined, undefined],
        ['ws://127.0.0.1/', ['a', 'a'], undefined],
        ['ws://127.0.0.1/', ['a b'], undefined],
        ['ws://127.0.0.1/', undefined, { protocolVersion: 9 }],
      ] as const) {
        try {
          client(lib, url, protocols, options).terminate();
          out.push('no error');
        } catch (error) {
          out.push(`${(error as Error).name}: ${(error as Error).message}`);
        }
      }
      return out;
    });
    assert.equal(result[0], 'SyntaxError: Invalid URL: not a url');
    assert.equal(result[5], 'RangeError: Unsupported protocol version: 9 (supported versions: 8, 13)');
  });

  it("a refused connection: 'error' with Node's error, then 'close' 1006", async (t) => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const log = await same(t, async (t, lib) => {
      const c = recorded(t, lib, `ws://127.0.0.1:${port}/`);
      await c.closed;
      return c.log;
    });
    assert.deepEqual(log, ['error ECONNREFUSED (2)', 'close 1006 "" (3)']);
  });

  it("'unexpected-response' gets Node's request and response; without a listener, 'error' says the status", async (t) => {
    const { port } = await httpServer(t, (_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer' });
      res.end('who are you?');
    });
    await same(t, async (t, lib) => {
      const c = recorded(t, lib, `ws://127.0.0.1:${port}/`);
      const seen = await withTimeout(
        new Promise<string>((resolve) =>
          c.ws.on('unexpected-response', (req: ClientRequest, res: IncomingMessage) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk.toString()));
            res.on('end', () =>
              resolve(
                `${req instanceof ClientRequest} ${res instanceof IncomingMessage} ${res.statusCode} ${res.headers['www-authenticate']} ${body}`,
              ),
            );
          }),
        ),
        5000,
        'unexpected-response',
      );
      c.ws.terminate();
      await c.closed;
      const plain = recorded(t, lib, `ws://127.0.0.1:${port}/`);
      await plain.closed;
      return [seen, ...c.log, ...plain.log];
    });
  });

  it('handshakeTimeout: a server that never answers', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    await same(t, async (t, lib) => {
      const c = recorded(t, lib, `ws://127.0.0.1:${raw.port}/`, { handshakeTimeout: 200 });
      await raw.next();
      await c.closed;
      return c.log;
    });
  });

  it('close() and terminate() while connecting: an error, then close 1006', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    await same(t, async (t, lib) => {
      const logs: string[] = [];
      for (const how of ['close', 'terminate'] as const) {
        const c = recorded(t, lib, `ws://127.0.0.1:${raw.port}/`);
        await raw.next();
        c.ws[how]();
        await c.closed;
        logs.push(...c.log);
      }
      return logs;
    });
  });
});

describe('WebSocket client: handshake options and events', () => {
  it('headers, origin, subprotocols and the upgrade response (the upgrade event)', async (t) => {
    const server = await wsServer(t, { handleProtocols: (protocols) => [...protocols].pop() ?? false });
    server.wss.on('headers', (headers) => headers.push('Set-Cookie: a=1'));
    const result = await same(t, async (t, lib) => {
      const c = recorded(t, lib, `${server.url}p?q=1`, ['one', 'two'], {
        headers: { 'X-Custom': 'yes' },
        origin: 'https://app.example',
      });
      const upgrade = new Promise<string>((resolve) =>
        c.ws.once('upgrade', (res: IncomingMessage) => resolve(String(res.headers['set-cookie']))),
      );
      await c.opened;
      const peer = await server.connections.next();
      const headers = (peer.ws as unknown as { _req?: unknown }) && (await upgrade);
      return [headers, c.ws.protocol, c.ws.url, c.ws.extensions, c.ws.readyState];
    });
    assert.deepEqual(result, ['a=1', 'two', `${server.url}p?q=1`, '', 1]);
  });

  it('the request a ws server sees: method, headers, Origin (Sec-WebSocket-Origin with protocolVersion 8)', async (t) => {
    const server = await wsServer(t);
    const requests = new AsyncQueue<IncomingMessage>();
    server.wss.on('headers', (_headers, req) => requests.push(req));
    await same(t, async (t, lib) => {
      const out: string[] = [];
      for (const protocolVersion of [13, 8]) {
        const finishRequest = (req: ClientRequest, websocket: unknown): void => {
          // Called from the constructor, with the socket being made.
          req.setHeader('X-Late', typeof (websocket as ClientLike).send);
          req.end();
        };
        const c = recorded(t, lib, server.url, {
          origin: 'https://o.example',
          protocolVersion,
          headers: { 'X-A': 'b' },
          finishRequest,
        });
        await c.opened;
        const req = await requests.next();
        out.push(
          `${req.method} ${req.headers['sec-websocket-version']} ${req.headers.origin} ${req.headers['sec-websocket-origin']} ${req.headers['x-a']} ${req.headers['sec-websocket-extensions']} late ${req.headers['x-late']}`,
        );
      }
      return out;
    });
  });

  it('followRedirects: the redirect event, the final URL, maxRedirects, and credentials dropped across hosts', async (t) => {
    const final = await wsServer(t);
    const auths = new AsyncQueue<string>();
    final.wss.on('headers', (_h, req) => auths.push(String(req.headers.authorization)));
    let hops = 0;
    const { port } = await httpServer(t, (req, res) => {
      if (req.url === '/same') {
        // Same host and port: credentials are kept, then a redirect to another port drops them.
        res.writeHead(302, { Location: `ws://127.0.0.1:${port}/cross?from=${String(req.headers.authorization)}` });
      } else if (req.url?.startsWith('/cross')) {
        res.writeHead(302, { Location: `${final.url}end` });
      } else {
        hops++;
        res.writeHead(302, { Location: '/same' });
      }
      res.end();
    });
    await same(t, async (t, lib) => {
      const redirects: string[] = [];
      const c = recorded(t, lib, `ws://127.0.0.1:${port}/start`, {
        followRedirects: true,
        headers: { Authorization: 'Basic eDp5' },
      });
      c.ws.on('redirect', (url: string, req: ClientRequest) =>
        redirects.push(`${new URL(url).pathname} ${req instanceof ClientRequest}`),
      );
      await c.opened;
      const auth = await auths.next();
      const limited = recorded(t, lib, `ws://127.0.0.1:${port}/start`, { followRedirects: true, maxRedirects: 1 });
      await limited.closed;
      const off = recorded(t, lib, `ws://127.0.0.1:${port}/start`);
      off.ws.on('error', () => undefined);
      await off.closed;
      return [...redirects, new URL(c.ws.url).pathname, auth, ...limited.log, ...off.log];
    });
    assert.ok(hops >= 6);
  });

  it('createConnection, TLS options (ca, rejectUnauthorized) and ws+unix: sockets', async (t) => {
    const https = createHttpsServer({ cert: certs.serverCert, key: certs.serverKey });
    const tlsWss = new WsServer({ server: https });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const ws of tlsWss.clients) ws.terminate();
      https.closeAllConnections();
      return new Promise<void>((resolve) => tlsWss.close(() => https.close(() => resolve())));
    });
    const tlsPort = (https.address() as AddressInfo).port;
    const path = join(mkdtempSync(join(tmpdir(), 'nopoll-ws-')), 'sock');
    const unix = createHttpServer();
    const unixWss = new WsServer({ server: unix });
    await new Promise<void>((resolve) => unix.listen(path, resolve));
    t.after(() => {
      for (const ws of unixWss.clients) ws.terminate();
      unix.closeAllConnections();
      return new Promise<void>((resolve) => unixWss.close(() => unix.close(() => resolve())));
    });
    const plain = await wsServer(t);
    await same(t, async (t, lib) => {
      const out: string[] = [];
      let made = 0;
      const custom = recorded(t, lib, plain.url, {
        createConnection: (options: { port: number; host: string }) => {
          made++;
          return netConnect(options.port, options.host);
        },
      });
      await custom.opened;
      out.push(`createConnection used ${made}`);
      const trusted = recorded(t, lib, `wss://localhost:${tlsPort}/`, { ca: certs.ca });
      await trusted.opened;
      const lax = recorded(t, lib, `wss://127.0.0.1:${tlsPort}/`, { rejectUnauthorized: false });
      await lax.opened;
      const strict = recorded(t, lib, `wss://localhost:${tlsPort}/`);
      await strict.closed;
      out.push(...strict.log);
      const ipc = recorded(t, lib, `ws+unix:${path}:/x?y=1`);
      await ipc.opened;
      out.push(`unix socket open`);
      return out;
    });
  });
});

describe('WebSocket client: messages, control frames, closing', () => {
  it('binaryType: nodebuffer, arraybuffer, fragments, blob; text stays a Buffer', async (t) => {
    const server = await wsServer(t);
    await same(t, async (t, lib) => {
      const c = recorded(t, lib, server.url);
      await c.opened;
      const peer = await server.connections.next();
      const out: string[] = [];
      for (const type of ['nodebuffer', 'arraybuffer', 'fragments', 'blob', 'nonsense']) {
        c.ws.binaryType = type;
        const got = new Promise<unknown>((resolve) => c.ws.once('message', (data: unknown) => resolve(data)));
        peer.ws.send(Buffer.from('abc'));
        const data = await withTimeout(got, 5000, 'a message');
        const describe = async (d: unknown): Promise<string> =>
          Buffer.isBuffer(d)
            ? `Buffer ${d}`
            : d instanceof ArrayBuffer
              ? `ArrayBuffer ${Buffer.from(d)}`
              : Array.isArray(d)
                ? `Array ${Buffer.concat(d as Buffer[])}`
                : d instanceof Blob
                  ? `Blob ${await d.text()}`
                  : typeof d;
        out.push(`${c.ws.binaryType}: ${await describe(data)}`);
      }
      const text = new Promise<unknown>((resolve) =>
        c.ws.once('message', (data: unknown, isBinary: boolean) => resolve(`${Buffer.isBuffer(data)} ${isBinary}`)),
      );
      peer.ws.send('text');
      out.push(String(await text));
      return out;
    });
  });

  it('send: while connecting it throws; binary and text types; fragments; callbacks; after close the callback gets an error', async (t) => {
    const server = await wsServer(t);
    await same(t, async (t, lib) => {
      const out: string[] = [];
      const c = recorded(t, lib, server.url);
      try {
        c.ws.send('too early');
      } catch (error) {
        out.push((error as Error).message);
      }
      await c.opened;
      const peer = await server.connections.next();
      const sent = new Promise<string>((resolve) =>
        c.ws.send(new Float64Array([1]), (err) => resolve(`cb ${String(err)}`)),
      );
      c.ws.send('text');
      c.ws.send(Buffer.from('as text'), { binary: false });
      c.ws.send('as binary', { binary: true });
      c.ws.send('one', { fin: false });
      c.ws.send(Buffer.from(' message'), { fin: true });
      c.ws.send(undefined);
      c.ws.send(new Blob(['blob ']));
      c.ws.send('after the blob');
      for (let i = 0; i < 8; i++) {
        const m = await peer.messages.next();
        out.push(`${m.isBinary ? 'binary' : 'text'} ${m.isBinary ? m.data.toString('hex') : m.data.toString()}`);
      }
      out.push(await sent);
      c.ws.close();
      const late = await new Promise<string>((resolve) => c.ws.send('late', (err) => resolve(String(err))));
      out.push(late, `bufferedAmount ${c.ws.bufferedAmount}`);
      await c.closed;
      return out;
    });
  });

  it('ping and pong: payloads, the 125-byte limit, events', async (t) => {
    const server = await wsServer(t);
    await same(t, async (t, lib) => {
      const out: string[] = [];
      const c = recorded(t, lib, server.url);
      await c.opened;
      const peer = await server.connections.next();
      const pong = new Promise<string>((resolve) => c.ws.once('pong', (data: Buffer) => resolve(`pong ${data}`)));
      c.ws.ping('hi');
      out.push(await withTimeout(pong, 5000, 'pong'));
      c.ws.pong(Buffer.from('unasked'));
      out.push(`server pong ${(await peer.pongs.next()).toString()}`);
      const ping = new Promise<string>((resolve) => c.ws.once('ping', (data: Buffer) => resolve(`ping ${data}`)));
      peer.ws.ping('from server');
      out.push(await withTimeout(ping, 5000, 'ping'));
      out.push(`auto pong ${(await peer.pongs.next()).toString()}`);
      try {
        c.ws.ping(Buffer.alloc(126));
      } catch (error) {
        out.push(`${(error as Error).name}: ${(error as Error).message}`);
      }
      return out;
    });
  });

  it('close: argument checks, codes and reasons as the server sees them; terminate is 1006', async (t) => {
    const server = await wsServer(t);
    await same(t, async (t, lib) => {
      const out: string[] = [];
      const c = recorded(t, lib, server.url);
      await c.opened;
      const peer = await server.connections.next();
      for (const [code, reason] of [
        [999, undefined],
        [1000, 'x'.repeat(124)],
        [1004, undefined],
        [1000.5, undefined],
      ] as const) {
        try {
          c.ws.close(code, reason);
          out.push('no error');
        } catch (error) {
          out.push(`${(error as Error).name}: ${(error as Error).message}`);
        }
      }
      c.ws.close(4321, Buffer.from('buffer reason'));
      const closed = await peer.closed;
      out.push(`server saw ${closed.code} ${closed.reason}`);
      await c.closed;
      const plain = recorded(t, lib, server.url);
      await plain.opened;
      const peer2 = await server.connections.next();
      plain.ws.close();
      out.push(`no code: server saw ${(await peer2.closed).code}`);
      const rude = recorded(t, lib, server.url);
      await rude.opened;
      const peer3 = await server.connections.next();
      rude.ws.terminate();
      out.push(`terminate: server saw ${(await peer3.closed).code}`);
      await rude.closed;
      return [...out, ...c.log, ...plain.log, ...rude.log];
    });
  });

  it('EventTarget style: on... attributes, addEventListener (once, no duplicates), event objects', async (t) => {
    const server = await wsServer(t, {}, true);
    await same(t, async (t, lib) => {
      const out: string[] = [];
      const c = recorded(t, lib, server.url);
      const listener = (event: { type: string; data?: unknown }): void => {
        out.push(`listener ${event.type} ${String(event.data)}`);
      };
      c.ws.addEventListener('message', listener);
      c.ws.addEventListener('message', listener);
      c.ws.addEventListener('message', (event) => out.push(`once ${String(event.data)}`), { once: true });
      c.ws.addEventListener('open', (event) => {
        out.push(`open ${event.type}`);
        c.ws.send('one');
      });
      c.ws.onmessage = (event: { data: unknown }) => out.push(`onmessage ${typeof event.data} ${String(event.data)}`);
      c.ws.onmessage = (event: { data: unknown }) => {
        out.push(`onmessage2 ${typeof event.data} ${String(event.data)}`);
        if (event.data === 'two') c.ws.close(4000, 'done');
        else c.ws.send('two');
      };
      c.ws.onclose = (event: { code: number; reason: string; wasClean: boolean }) =>
        out.push(`onclose ${event.code} ${event.reason} ${event.wasClean}`);
      await c.closed;
      return [...out, `onmessage is a function: ${typeof c.ws.onmessage}`];
    });
  });

  it("the server's answer is checked as ws checks it (nopoll accepts a 101 without a subprotocol, as RFC 6455 §4.1 allows)", async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const answers: Array<[string, string[], string[] | undefined, object | undefined]> = [
      ['a wrong accept key', ['Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA='], undefined, undefined],
      ['an unrequested subprotocol', ['Sec-WebSocket-Protocol: chat'], undefined, undefined],
      ['another subprotocol', ['Sec-WebSocket-Protocol: other'], ['chat'], undefined],
      [
        'an unrequested extension',
        ['Sec-WebSocket-Extensions: permessage-deflate'],
        undefined,
        { perMessageDeflate: false },
      ],
      [
        'a bad extension parameter',
        ['Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99'],
        undefined,
        undefined,
      ],
    ];
    const result = await same(t, async (t, lib) => {
      const out: string[] = [];
      for (const [what, headers, protocols, options] of answers) {
        const c = recorded(t, lib, `ws://127.0.0.1:${raw.port}/`, protocols ?? [], options ?? {});
        const incoming = await raw.next();
        const key = incoming.request.headers.get('sec-websocket-key') ?? '';
        const accept = headers.some((h) => h.startsWith('Sec-WebSocket-Accept'))
          ? ''
          : `Sec-WebSocket-Accept: ${(await import('../helpers/raw-peer.js')).acceptFor(key)}\r\n`;
        incoming.socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${accept}${headers.join('\r\n')}\r\n\r\n`,
        );
        await c.closed;
        out.push(`${what}: ${c.log.join('; ')}`);
      }
      return out;
    });
    assert.match(result[0]!, /Invalid Sec-WebSocket-Accept header/);
    // ws fails a 101 that picks no subprotocol when some were offered; nopoll, as browsers, goes on with none.
    const seen: Record<Lib, string> = { ws: '', 'nopoll/ws': '' };
    for (const lib of LIBS) {
      const c = recorded(t, lib, `ws://127.0.0.1:${raw.port}/`, ['chat']);
      RawServer.accept(await raw.next());
      await Promise.race([c.opened.catch(() => undefined), c.closed]);
      seen[lib] = c.log.join('; ');
    }
    assert.equal(seen.ws, 'error Server sent no subprotocol (2); close 1006 "" (3)');
    assert.equal(seen['nopoll/ws'], 'open 1');
  });

  it("bad frames from the server: ws's errors and close codes", async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    await same(t, async (t, lib) => {
      const out: string[] = [];
      for (const frame of [
        { opcode: OP.TEXT, payload: 'x', mask: true },
        { opcode: OP.TEXT, payload: Buffer.from([0xff]) },
        { opcode: OP.CLOSE, payload: closeBody(999) },
      ]) {
        const c = recorded(t, lib, `ws://127.0.0.1:${raw.port}/`);
        const peer = RawServer.accept(await raw.next());
        await c.opened;
        peer.send(frame);
        const answer = await peer.nextFrame(3000);
        peer.send({ opcode: OP.CLOSE, payload: answer.payload });
        peer.end();
        await c.closed;
        out.push(`${parseClose(answer.payload).code}: ${c.log.slice(1).join('; ')}`);
      }
      return out;
    });
  });
});

describe('WebSocket client: nopoll extras', () => {
  it('ws.conn is the nopoll Conn once open; the nopoll option chooses the context and connection options', async (t) => {
    const server = await wsServer(t);
    const ctx = new Context();
    t.after(() => ctx.close());
    const c = recorded(t, 'nopoll/ws', server.url, { nopoll: { context: ctx, opts: { pingIntervalMs: 50 } } });
    assert.equal((c.ws as unknown as NopollWebSocket).conn, null);
    await c.opened;
    const conn = (c.ws as unknown as NopollWebSocket).conn;
    assert.ok(conn instanceof Conn);
    assert.ok(ctx.conns.has(conn));
    const peer = await server.connections.next();
    await peer.pings.next(2000, 'a heartbeat ping from the client');
    await delay(10);
  });
});
