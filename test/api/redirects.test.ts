/**
 * Redirects in the opening handshake (docs/client.md): not followed by default; with `followRedirects`, followed
 * up to `maxRedirects`; credentials (Authorization, Cookie, Proxy-Authorization, URL credentials) kept within the
 * origin and dropped when a redirect leaves it; a wss: to ws: downgrade refused unless `allowInsecureRedirect`.
 * The redirecting servers are Node HTTP(S) servers answering upgrades with 3xx; the final one hands the upgrade to
 * a nopoll listener (`handleUpgrade`).
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { HandshakeError, RedirectError } from '../../src/errors.js';
import { certs } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';

/** What a route answers: a redirect, or the WebSocket upgrade (echo). */
type Route = { status: number; location: string } | 'ws';

interface Redirector {
  port: number;
  origin: string;
  /** Every upgrade request seen: path and lower-cased headers. */
  seen: Array<{ path: string; headers: IncomingMessage['headers'] }>;
}

/** An HTTP (or, with `tls`, HTTPS) server on 127.0.0.1 whose upgrade requests are answered by `routes`. */
async function redirector(
  t: TestContext,
  routes: Record<string, Route> | (() => Record<string, Route>),
  tls = false,
): Promise<Redirector> {
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => void conn.sendText(msg.payload);
  const listener = Listener.detached(ctx);
  const seen: Redirector['seen'] = [];
  const server: Server = tls ? createHttpsServer({ cert: certs.serverCert, key: certs.serverKey }) : createHttpServer();
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = req.url ?? '/';
    seen.push({ path, headers: req.headers });
    const table = typeof routes === 'function' ? routes() : routes;
    const route = table[path.split('?')[0]!];
    if (route === 'ws') {
      listener.handleUpgrade(req, socket, head);
      return;
    }
    const answer = route ?? { status: 404, location: '' };
    socket.end(
      `HTTP/1.1 ${answer.status} Moved\r\n${answer.location ? `Location: ${answer.location}\r\n` : ''}Content-Length: 0\r\n\r\n`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await withTimeout(ctx.close(), 10_000, 'closing the redirector');
  });
  const { port } = server.address() as AddressInfo;
  return { port, origin: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`, seen };
}

function clientContext(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return ctx;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

async function echoes(conn: Conn): Promise<void> {
  conn.sendText('after the redirect');
  assert.equal((await conn.nextMsg({ timeoutMs: 5000 })).text, 'after the redirect');
}

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`;

describe('redirects', () => {
  it('are not followed by default: HandshakeError with the 3xx status and the Location', async (t) => {
    const server = await redirector(t, { '/': { status: 302, location: '/elsewhere' }, '/elsewhere': 'ws' });
    const error = await rejection(Conn.open(clientContext(t), `${server.origin}/`, { timeoutMs: 5000 }));
    assert.ok(error instanceof HandshakeError, String(error));
    assert.equal(error.status, 302);
    assert.match(error.message, /redirected \(302\) to \/elsewhere; set followRedirects/);
    assert.equal(server.seen.length, 1);
  });

  it('followRedirects: 301, 302, 303, 307, 308 each lead to the new location; the connection works there', async (t) => {
    for (const status of [301, 302, 303, 307, 308]) {
      const server = await redirector(t, { '/old': { status, location: '/new?x=1' }, '/new': 'ws' });
      const conn = await Conn.open(clientContext(t), `${server.origin}/old`, {
        followRedirects: true,
        timeoutMs: 5000,
      });
      assert.equal(conn.requestedUrl, '/new?x=1');
      await echoes(conn);
      await conn.close();
      assert.deepEqual(
        server.seen.map((s) => s.path),
        ['/old', '/new?x=1'],
      );
    }
  });

  it('within the origin, Authorization (header or URL credentials) and Cookie are kept', async (t) => {
    const server = await redirector(t, { '/a': { status: 307, location: '/b' }, '/b': 'ws' });
    const conn = await Conn.open(clientContext(t), `ws://ann:pw@127.0.0.1:${server.port}/a`, {
      followRedirects: true,
      cookie: 'session=1',
      extraHeaders: { 'X-Trace': 't1' },
      timeoutMs: 5000,
    });
    await conn.close();
    const [first, second] = server.seen;
    assert.equal(first!.headers.authorization, basic('ann:pw'));
    assert.equal(second!.headers.authorization, basic('ann:pw'));
    assert.equal(second!.headers.cookie, 'session=1');
    assert.equal(second!.headers['x-trace'], 't1');
  });

  it('leaving the origin drops Authorization, Cookie, Proxy-Authorization and URL credentials; other headers stay', async (t) => {
    const target = await redirector(t, { '/there': 'ws' });
    const start = await redirector(t, { '/here': { status: 302, location: `${target.origin}/there` } });
    const conn = await Conn.open(clientContext(t), `${start.origin}/here`, {
      followRedirects: true,
      cookie: 'session=1',
      extraHeaders: [
        ['Authorization', 'Bearer secret'],
        ['Proxy-Authorization', basic('p:q')],
        ['X-Trace', 't2'],
      ],
      timeoutMs: 5000,
    });
    await echoes(conn);
    await conn.close();
    assert.equal(start.seen[0]!.headers.authorization, 'Bearer secret');
    const there = target.seen[0]!.headers;
    assert.equal(there.authorization, undefined);
    assert.equal(there.cookie, undefined);
    assert.equal(there['proxy-authorization'], undefined);
    assert.equal(there['x-trace'], 't2');
    assert.equal(there.host, `127.0.0.1:${target.port}`);
    // URL credentials too.
    const again = await Conn.open(clientContext(t), `ws://ann:pw@127.0.0.1:${start.port}/here`, {
      followRedirects: true,
      timeoutMs: 5000,
    });
    await again.close();
    assert.equal(target.seen[1]!.headers.authorization, undefined);
  });

  it('more than maxRedirects → RedirectError (loops end)', async (t) => {
    const server = await redirector(t, { '/loop': { status: 302, location: '/loop' } });
    const error = await rejection(
      Conn.open(clientContext(t), `${server.origin}/loop`, { followRedirects: true, maxRedirects: 3, timeoutMs: 5000 }),
    );
    assert.ok(error instanceof RedirectError, String(error));
    assert.equal(error.code, 'NOPOLL_ERR_REDIRECT');
    assert.deepEqual([error.status, error.location, error.redirects], [302, '/loop', 3]);
    assert.equal(server.seen.length, 4);
    // The default is 10.
    const loop = await redirector(t, { '/loop': { status: 302, location: '/loop' } });
    const byDefault = await rejection(
      Conn.open(clientContext(t), `${loop.origin}/loop`, { followRedirects: true, timeoutMs: 5000 }),
    );
    assert.ok(byDefault instanceof RedirectError && byDefault.redirects === 10, String(byDefault));
    assert.equal(loop.seen.length, 11);
  });

  it('wss: to ws: is refused unless allowInsecureRedirect; allowed, it leaves the origin (credentials dropped)', async (t) => {
    const plain = await redirector(t, { '/plain': 'ws' });
    const secure = await redirector(t, { '/secure': { status: 301, location: `${plain.origin}/plain` } }, true);
    const ctx = clientContext(t);
    const options = { followRedirects: true, tls: { ca: certs.ca }, cookie: 'c=1', timeoutMs: 5000 };
    const refused = await rejection(Conn.open(ctx, `${secure.origin}/secure`, options));
    assert.ok(refused instanceof RedirectError, String(refused));
    assert.match(refused.message, /wss: to ws:.*allowInsecureRedirect/);
    assert.equal(plain.seen.length, 0);
    const conn = await Conn.open(ctx, `${secure.origin}/secure`, { ...options, allowInsecureRedirect: true });
    assert.equal(conn.isTlsOn, false);
    await echoes(conn);
    await conn.close();
    assert.equal(plain.seen[0]!.headers.cookie, undefined);
  });

  it('ws: to wss: is followed, with TLS verified for the new host', async (t) => {
    const secure = await redirector(t, { '/s': 'ws' }, true);
    const plain = await redirector(t, { '/p': { status: 308, location: `${secure.origin}/s` } });
    const conn = await Conn.open(clientContext(t), `${plain.origin}/p`, {
      followRedirects: true,
      tls: { ca: certs.ca },
      timeoutMs: 5000,
    });
    assert.equal(conn.isTlsOn, true);
    await echoes(conn);
    await conn.close();
  });

  it('a Location that is not a WebSocket URL, or a unix socket from a network server → RedirectError', async (t) => {
    const server = await redirector(t, {
      '/ftp': { status: 302, location: 'ftp://127.0.0.1/file' },
      '/unix': { status: 302, location: 'ws+unix:///run/daemon.sock:/' },
    });
    const ctx = clientContext(t);
    const ftp = await rejection(Conn.open(ctx, `${server.origin}/ftp`, { followRedirects: true, timeoutMs: 5000 }));
    assert.ok(ftp instanceof RedirectError && /unsupported URL scheme ftp:/.test(ftp.message), String(ftp));
    const unix = await rejection(Conn.open(ctx, `${server.origin}/unix`, { followRedirects: true, timeoutMs: 5000 }));
    assert.ok(unix instanceof RedirectError && /unix socket/.test(unix.message), String(unix));
  });

  it('300 and 304 are not redirects to follow: HandshakeError', async (t) => {
    const server = await redirector(t, {
      '/300': { status: 300, location: '/x' },
      '/304': { status: 304, location: '/x' },
      '/x': 'ws',
    });
    for (const path of ['/300', '/304']) {
      const error = await rejection(
        Conn.open(clientContext(t), `${server.origin}${path}`, { followRedirects: true, timeoutMs: 5000 }),
      );
      assert.ok(error instanceof HandshakeError, String(error));
      assert.equal(error.status, Number(path.slice(1)));
    }
  });

  it('maxRedirects must be a non-negative integer', (t) => {
    assert.throws(() => Conn.connect(clientContext(t), 'ws://127.0.0.1:9/', { maxRedirects: -1 }), RangeError);
    assert.throws(() => Conn.connect(clientContext(t), 'ws://127.0.0.1:9/', { maxRedirects: 1.5 }), RangeError);
  });
});
