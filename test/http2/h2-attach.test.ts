/**
 * WebSocket endpoints on a user's `http2.createSecureServer({ allowHTTP1: true })`, beside its ordinary requests:
 * with the compatibility API (a `'request'` handler, where Node answers CONNECT with 405 and END_STREAM unless a
 * `'connect'` listener exists, nodejs/node#36977) and with the `'stream'` API; HTTP/1.1 clients on the same port
 * through `'upgrade'`; routing by path; detach.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket from 'ws';
import { attach, Conn, Context, Listener, type UpgradeRouter } from '../../src/index.js';
import { nodeH2Session, rawConnect, readBody } from '../helpers/h2.js';
import { FrameReader, clientFrame } from '../helpers/net.js';
import { certs, TRUST } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';

interface Site {
  server: Http2SecureServer;
  router: UpgradeRouter;
  ctx: Context;
  port: number;
}

async function site(t: TestContext, api: 'request' | 'stream'): Promise<Site> {
  const server = createSecureServer({ cert: certs.serverCert, key: certs.serverKey, allowHTTP1: true });
  if (api === 'request') {
    server.on('request', (req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`page ${req.url} over HTTP/${req.httpVersion}`);
    });
  } else {
    server.on('stream', (stream, headers) => {
      if (headers[':method'] === 'CONNECT') return; // the WebSocket endpoints take theirs
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(`page ${String(headers[':path'])} over HTTP/2.0`);
    });
  }
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => {
    conn.sendText(`${conn.requestedUrl} ${conn.httpVersion}: ${msg.text}`);
  };
  const router = attach(server, { paths: { '/chat': Listener.detached(ctx, { protocols: ['chat'] }) } });
  // Every TCP connection is dropped at the end, whatever the test left open (server.close() waits for them).
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await router.close();
    await withTimeout(ctx.close(), 5000, 'closing the endpoint context');
    for (const socket of sockets) socket.destroy();
    await withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), 5000, 'closing the server');
  });
  return { server, router, ctx, port: (server.address() as AddressInfo).port };
}

async function status(
  session: ReturnType<typeof nodeH2Session> extends Promise<infer S> ? S : never,
  headers: Record<string, string>,
): Promise<[number, string]> {
  const req = session.request(headers, { endStream: headers[':method'] !== 'CONNECT' });
  req.on('error', () => undefined);
  const st = await withTimeout(
    new Promise<number>((resolve) => req.once('response', (h) => resolve(Number(h[':status'])))),
    3000,
    'an answer',
  );
  return [st, await readBody(req)];
}

for (const api of ['request', 'stream'] as const) {
  describe(`attach() on http2.createSecureServer using its '${api}' API`, () => {
    it('serves WebSockets over HTTP/2 and HTTP/1.1 beside the ordinary requests of the same server', async (t) => {
      const s = await site(t, api);
      const ctx = new Context();
      t.after(() => withTimeout(ctx.close(), 5000, 'closing the clients'));
      const url = `wss://127.0.0.1:${s.port}/chat`;
      const h2 = await Conn.open(ctx, url, { ...TRUST, http2: true, protocols: ['chat'], timeoutMs: 5000 });
      assert.equal(h2.httpVersion, '2');
      assert.equal(h2.acceptedProtocol, 'chat');
      h2.sendText('hi');
      assert.equal((await h2.nextMsg({ timeoutMs: 3000 })).text, '/chat 2: hi');
      // The WebSocket stays open: the compatibility layer did not end it with a 405.
      await new Promise((resolve) => setTimeout(resolve, 100));
      h2.sendText('still open');
      assert.equal((await h2.nextMsg({ timeoutMs: 3000 })).text, '/chat 2: still open');

      // The server's own requests, over HTTP/2 and HTTP/1.1.
      const session = await nodeH2Session(t, `https://127.0.0.1:${s.port}`);
      assert.deepEqual(await status(session, { ':path': '/index.html' }), [200, 'page /index.html over HTTP/2.0']);
      // (A server on the 'stream' API alone has no handler for HTTP/1.1 requests: Node gives those to 'request'.)
      if (api === 'request') assert.equal(await fetchH1(s.port, '/about'), 'page /about over HTTP/1.1');

      // HTTP/1.1 WebSocket clients arrive through 'upgrade' on the same port.
      const ws = new WebSocket(url, ['chat'], { ca: certs.ca });
      t.after(() => ws.terminate());
      await withTimeout(
        new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)),
        5000,
        'ws open',
      );
      const reply = withTimeout(
        new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d)))),
        3000,
        'ws echo',
      );
      ws.send('from ws');
      assert.equal(await reply, '/chat 1.1: from ws');
      await h2.close();
    });

    it('answers what is not its own: unknown path 404, another protocol 501, a classic CONNECT 405', async (t) => {
      const s = await site(t, api);
      const session = await nodeH2Session(t, `https://127.0.0.1:${s.port}`);
      const unknown = await rawConnect(session, '/nowhere');
      assert.equal(unknown.status, 404);
      if (api === 'request') {
        // Without a 'stream' handler of its own, the user's server relies on the compatibility layer for these.
        assert.equal(
          (
            await status(session, {
              ':method': 'CONNECT',
              ':protocol': 'connect-udp',
              ':path': '/x',
              ':scheme': 'https',
            })
          )[0],
          501,
        );
        assert.equal((await status(session, { ':method': 'CONNECT', ':authority': 'example.com:443' }))[0], 405);
      }
      // A WebSocket through Node's client by hand, on the same connection.
      const ok = await rawConnect(session, '/chat', { 'sec-websocket-protocol': 'chat' });
      assert.equal(ok.status, 200);
      const reader = new FrameReader(ok.stream as unknown as Socket);
      ok.stream.write(clientFrame(0x1, 'raw'));
      assert.equal((await reader.next()).payload.toString(), '/chat 2: raw');
    });
  });
}

describe('attach() and detach()', () => {
  it('advertises extended CONNECT once attached, and stops routing streams once detached', async (t) => {
    const s = await site(t, 'request');
    const before = await nodeH2Session(t, `https://127.0.0.1:${s.port}`);
    assert.equal(before.remoteSettings.enableConnectProtocol, true);
    s.router.detach(s.server);
    assert.equal(s.server.listenerCount('connect'), 0);
    const after = await nodeH2Session(t, `https://127.0.0.1:${s.port}`);
    const { status: st } = await rawConnect(after, '/chat');
    assert.equal(st, 405, "with nothing attached, Node's own answer to CONNECT");
  });
});

// An HTTP/1.1 GET over TLS (no ALPN h2), returning the body.
async function fetchH1(port: number, path: string): Promise<string> {
  const { request } = await import('node:https');
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, ca: certs.ca, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    }),
    3000,
    'an HTTP/1.1 request',
  );
}
