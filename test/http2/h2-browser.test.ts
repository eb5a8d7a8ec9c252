/**
 * Chromium over HTTP/2: Debian's Chromium (driven by playwright-core, see test/helpers/browser.ts) loads a page over
 * HTTP/2 from a nopoll server (a TLS listener with `http2`, its `onRequest` serving the page; and a user's
 * `http2.createSecureServer` with `attach()`), and the page opens a WebSocket to the same origin, which the server
 * sees arrive as an extended CONNECT (`conn.httpVersion` '2', no socket of its own, the HTTP/2 connection that
 * carried the page). The browser does not know the test CA, so
 * its context ignores certificate errors; TLS and HTTP/2 are real.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSecureServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { attach, Context, Listener, type Conn } from '../../src/index.js';
import { hasChromium, runPageInChromium, testPage } from '../helpers/browser.js';
import { startH2Echo } from '../helpers/h2.js';
import { certs } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';

// The page: a WebSocket to the same origin, text, ArrayBuffer, 256 KiB, subprotocol, close 4000.
function page(path: string): string {
  return testPage(
    'nopoll over HTTP/2',
    `
    const { ws, next, closed } = await openSocket('wss://' + location.host + ${JSON.stringify(path)}, ['chat-v1']);
    result.protocol = ws.protocol;
    result.extensions = ws.extensions;
    await echoBasics(ws, next, result, 'héllo over h2 ✓');
    ws.close(4000, 'bye');
    result.close = await closed;`,
  );
}

function checkPage(result: Record<string, unknown>): void {
  assert.equal(result['error'], undefined, String(result['error']));
  assert.equal(result['protocol'], 'chat-v1');
  assert.equal(result['text'], 'héllo over h2 ✓');
  assert.equal(result['binaryOk'], true);
  assert.equal(result['bigOk'], true);
  assert.deepEqual(result['close'], { code: 4000, reason: '', wasClean: true });
}

// Records, when each WebSocket is ready, the HTTP/2 connection under it (a stream forgets it once closed).
function recordSessions(ctx: Context): Array<{ conn: Conn; session: unknown }> {
  const seen: Array<{ conn: Conn; session: unknown }> = [];
  ctx.onReady = (conn) => {
    seen.push({ conn, session: (conn.stream as unknown as { session?: unknown }).session });
  };
  return seen;
}

async function checkServerSide(
  seen: Array<{ conn: Conn; session: unknown }>,
  pageSessions: ReadonlySet<unknown>,
): Promise<Conn> {
  assert.equal(seen.length, 1, 'one WebSocket');
  const { conn, session } = seen[0]!;
  assert.equal(conn.httpVersion, '2', 'the WebSocket arrived as an extended CONNECT');
  assert.equal(conn.socket, null);
  assert.equal(conn.isTlsOn, true);
  assert.ok(pageSessions.has(session), 'over the HTTP/2 connection that carried the page');
  const info = await withTimeout(conn.closed, 5000, 'the browser WebSocket closing');
  assert.deepEqual([info.code, info.reason, info.wasClean], [4000, 'bye', true]);
  return conn;
}

function skipWithoutChromium(t: TestContext): boolean {
  if (hasChromium()) return false;
  t.skip('chromium not installed');
  return true;
}

test(
  'Chromium loads a page over HTTP/2 from a nopoll listener and its WebSocket travels over HTTP/2',
  { timeout: 90_000 },
  async (t) => {
    if (skipWithoutChromium(t)) return;
    const pageSessions = new Set<unknown>();
    const ctx = new Context();
    const seen = recordSessions(ctx);
    const srv = await startH2Echo(t, {
      tls: true,
      ctx,
      opts: { protocols: ['chat-v1'], perMessageDeflate: true },
      listen: {
        http2: {
          onRequest: (stream: ServerHttp2Stream, headers) => {
            pageSessions.add(stream.session);
            const found = headers[':path'] === '/';
            stream.respond({
              ':status': found ? 200 : 404,
              'content-type': 'text/html; charset=utf-8',
              'cache-control': 'no-store',
            });
            stream.end(found ? page('/ws') : 'not found');
          },
        },
      },
    });
    const result = (await runPageInChromium(t, `https://127.0.0.1:${srv.port}/`, '__result', {
      ignoreHTTPSErrors: true,
    })) as Record<string, unknown>;
    checkPage(result);
    assert.match(String(result['extensions']), /^permessage-deflate/, 'compression agreed over HTTP/2');
    const conn = await checkServerSide(seen, pageSessions);
    assert.equal(conn.requestedUrl, '/ws');
    assert.match(String(conn.origin), new RegExp(`^https://127\\.0\\.0\\.1:${srv.port}$`));
    assert.notEqual(conn.perMessageDeflate, null);
  },
);

test(
  "Chromium on a user's http2.createSecureServer with attach(): page and WebSocket over HTTP/2",
  { timeout: 90_000 },
  async (t) => {
    if (skipWithoutChromium(t)) return;
    const pageSessions = new Set<unknown>();
    const server = createSecureServer({ cert: certs.serverCert, key: certs.serverKey, allowHTTP1: true });
    server.on('request', (req, res) => {
      pageSessions.add(req.stream?.session);
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.statusCode = req.url === '/' ? 200 : 404;
      res.end(req.url === '/' ? page('/live') : 'not found');
    });
    const ctx = new Context();
    const seen = recordSessions(ctx);
    ctx.onMessage = (conn, msg) => {
      if (msg.isText) conn.sendText(msg.payload);
      else conn.sendBinary(msg.payload);
    };
    const router = attach(server, { paths: { '/live': Listener.detached(ctx, { protocols: ['chat-v1'] }) } });
    const sockets = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      await router.close();
      await withTimeout(ctx.close(), 5000, 'closing the endpoint');
      for (const socket of sockets) socket.destroy();
      await withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), 5000, 'closing the server');
    });
    const port = (server.address() as AddressInfo).port;
    const result = (await runPageInChromium(t, `https://127.0.0.1:${port}/`, '__result', {
      ignoreHTTPSErrors: true,
    })) as Record<string, unknown>;
    checkPage(result);
    await checkServerSide(seen, pageSessions);
  },
);
