/**
 * HTTP/1.1 and HTTP/2 on one port: `ws` and our HTTP/1.1 client on a listener that also serves HTTP/2 (cleartext
 * and TLS), beside HTTP/2 WebSockets; and the client's choice: `http2: 'auto'` falling back to HTTP/1.1 where
 * WebSockets over HTTP/2 are not offered (an HTTP/1.1-only listener, an HTTP/2 server without
 * SETTINGS_ENABLE_CONNECT_PROTOCOL), `http2: true` failing there with a HandshakeError.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  createSecureServer,
  createServer as createH2cServer,
  type Http2SecureServer,
  type Http2Server,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { Conn, Context, HandshakeError, Listener } from '../../src/index.js';
import { startH2Echo } from '../helpers/h2.js';
import { certs, TRUST } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';

function clientContext(t: TestContext): Context {
  const ctx = new Context();
  ctx.onError = () => undefined;
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return ctx;
}

async function wsEcho(url: string, text: string): Promise<string> {
  const ws = new WebSocket(url, { ca: certs.ca });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      5000,
      'ws open',
    );
    const reply = withTimeout(
      new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data)))),
      5000,
      'ws echo',
    );
    ws.send(text);
    return await reply;
  } finally {
    ws.close();
  }
}

for (const tls of [false, true]) {
  describe(`one port, both protocols ${tls ? 'over TLS' : 'in cleartext'}`, () => {
    it('serves ws and our HTTP/1.1 client beside HTTP/2 WebSockets', async (t) => {
      const srv = await startH2Echo(t, { tls });
      assert.equal(srv.listener.isHttp2, true);
      const ctx = clientContext(t);
      const h2 = await Conn.open(ctx, srv.url, { ...(tls ? TRUST : {}), http2: true, timeoutMs: 5000 });
      const h1 = await Conn.open(ctx, srv.url, { ...(tls ? TRUST : {}), timeoutMs: 5000 });
      assert.equal(h2.httpVersion, '2');
      assert.equal(h1.httpVersion, '1.1');
      assert.notEqual(h1.socket, null);
      assert.equal(await wsEcho(srv.url, 'from ws'), 'from ws');
      for (const conn of [h2, h1]) {
        conn.sendText(`from ${conn.httpVersion}`);
        assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, `from ${conn.httpVersion}`);
      }
      const versions = [];
      for (let i = 0; i < 3; i++) versions.push((await srv.ready.next(3000, 'server sides')).httpVersion);
      assert.deepEqual(versions.sort(), ['1.1', '1.1', '2']);
      await Promise.all([h2.close(), h1.close()]);
    });

    it("'auto' uses HTTP/2 where offered", async (t) => {
      const srv = await startH2Echo(t, { tls });
      const conn = await Conn.open(clientContext(t), srv.url, {
        ...(tls ? TRUST : {}),
        http2: 'auto',
        timeoutMs: 5000,
      });
      assert.equal(conn.httpVersion, '2');
      await conn.close();
    });

    it("'auto' falls back to HTTP/1.1 on an HTTP/1.1-only listener; true fails there", async (t) => {
      const ctx = new Context();
      ctx.onMessage = (conn, msg) => {
        conn.sendText(msg.payload);
      };
      t.after(() => withTimeout(ctx.close(), 5000, 'closing the HTTP/1.1 listener'));
      const listener = await Listener.listen(ctx, {
        host: '127.0.0.1',
        port: 0,
        ...(tls ? { tls: true, certificate: { cert: certs.serverCert, key: certs.serverKey } } : {}),
      });
      const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${listener.port}/`;
      const client = clientContext(t);
      const conn = await Conn.open(client, url, { ...(tls ? TRUST : {}), http2: 'auto', timeoutMs: 5000 });
      assert.equal(conn.httpVersion, '1.1');
      conn.sendText('fell back');
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'fell back');
      // Remembered: the next one goes straight to HTTP/1.1.
      const again = await Conn.open(client, url, { ...(tls ? TRUST : {}), http2: 'auto', timeoutMs: 5000 });
      assert.equal(again.httpVersion, '1.1');
      const forced = await Conn.open(clientContext(t), url, {
        ...(tls ? TRUST : {}),
        http2: true,
        timeoutMs: 5000,
      }).then(
        () => assert.fail('HTTP/2 is not there'),
        (error: unknown) => error,
      );
      assert.ok(forced instanceof HandshakeError, String(forced));
      assert.match((forced as Error).message, /no WebSockets over HTTP\/2/);
    });
  });
}

describe('an HTTP/2 server that does not enable extended CONNECT', () => {
  for (const tls of [false, true]) {
    it(`${tls ? 'over TLS' : 'in cleartext'}: 'auto' falls back to HTTP/1.1, true fails with the reason`, async (t) => {
      // A Node HTTP/2 server without enableConnectProtocol; over TLS its HTTP/1.1 upgrades go to a nopoll endpoint.
      const ctx = new Context();
      ctx.onMessage = (conn, msg) => {
        conn.sendText(msg.payload);
      };
      const endpoint = Listener.detached(ctx);
      const server: Http2Server | Http2SecureServer = tls
        ? createSecureServer({ cert: certs.serverCert, key: certs.serverKey, allowHTTP1: true })
        : createH2cServer();
      server.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(async () => {
        await withTimeout(ctx.close(), 5000, 'closing the endpoint');
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
      const port = (server.address() as AddressInfo).port;
      const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/`;
      const forced = await Conn.open(clientContext(t), url, {
        ...(tls ? TRUST : {}),
        http2: true,
        timeoutMs: 5000,
      }).then(
        () => assert.fail('the server does not allow extended CONNECT'),
        (error: unknown) => error,
      );
      assert.ok(forced instanceof HandshakeError, String(forced));
      assert.match((forced as Error).message, /SETTINGS_ENABLE_CONNECT_PROTOCOL/);
      if (!tls) return; // a cleartext HTTP/2-only server has no HTTP/1.1 to fall back to
      const conn = await Conn.open(clientContext(t), url, { ...TRUST, http2: 'auto', timeoutMs: 5000 });
      assert.equal(conn.httpVersion, '1.1');
      conn.sendText('over the fallback');
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'over the fallback');
      await conn.close();
    });
  }
});

describe('TLS hooks on a listener that serves HTTP/2', () => {
  it('runs onAccept and postTlsCheck once per WebSocket, after the TLS handshake, on both protocols', async (t) => {
    const ctx = new Context();
    const accepted: string[] = [];
    const checked: Array<{ version: string; alpn: string | false | null }> = [];
    ctx.onAccept = (conn) => {
      accepted.push(conn.httpVersion);
    };
    ctx.postTlsCheck = (conn, socket) => {
      checked.push({ version: conn.httpVersion, alpn: socket.alpnProtocol ?? null });
      // Before the request is looked at (as over HTTP/1.1): the fourth WebSocket is refused.
      return checked.length !== 4;
    };
    const srv = await startH2Echo(t, { tls: true, ctx });
    const client = clientContext(t);
    const a = await Conn.open(client, srv.url, { ...TRUST, http2: true, timeoutMs: 5000 });
    const b = await Conn.open(client, srv.url, { ...TRUST, http2: true, timeoutMs: 5000 });
    const c = await Conn.open(client, srv.url, { ...TRUST, timeoutMs: 5000 });
    assert.deepEqual(accepted.sort(), ['1.1', '2', '2']);
    assert.deepEqual(checked.map((x) => `${x.version} ${String(x.alpn)}`).sort(), ['1.1 false', '2 h2', '2 h2']);
    // A refusal by the check ends that WebSocket only.
    const refused = await Conn.open(client, srv.url, { ...TRUST, http2: true, timeoutMs: 5000 }).then(
      () => assert.fail('refused by postTlsCheck'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof HandshakeError, String(refused));
    for (const conn of [a, b, c]) {
      conn.sendText('after');
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'after');
    }
  });

  it('refuses TLS connections when a TLS context creator is set (it needs a connection, which HTTP/2 has not yet)', async (t) => {
    const ctx = new Context();
    const logged: string[] = [];
    ctx.setLogHandler((level, text) => {
      if (level === 'critical') logged.push(text);
    });
    ctx.tlsContextCreator = () => null;
    const srv = await startH2Echo(t, { tls: true, ctx });
    const failed = await Conn.open(clientContext(t), srv.url, { ...TRUST, http2: true, timeoutMs: 3000 }).then(
      () => assert.fail('must be refused'),
      (error: unknown) => error,
    );
    assert.ok(failed instanceof Error);
    assert.ok(
      logged.some((line) => /context creator cannot serve an HTTP\/2 listener/.test(line)),
      logged.join('\n'),
    );
  });
});
