/**
 * Our client against our server over HTTP/2 (RFC 8441), in cleartext (prior knowledge) and over TLS (ALPN h2):
 * everything that works over HTTP/1.1 (messages, fragments, ping, the closing handshake, permessage-deflate,
 * streaming receive, the write limit, the idle timeout, the heartbeat), several WebSockets sharing one HTTP/2
 * connection, and ending one of them leaving the others alone.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Conn, Context, TimeoutError, type ConnOptsInit } from '../../src/index.js';
import { startH2Echo, type H2Echo } from '../helpers/h2.js';
import { TRUST } from '../helpers/tls.js';
import { delay, withTimeout } from '../helpers/ws-async.js';

function clientContext(t: TestContext): Context {
  const ctx = new Context();
  ctx.onError = () => undefined;
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return ctx;
}

async function open(
  t: TestContext,
  srv: H2Echo,
  tls: boolean,
  opts: ConnOptsInit = {},
  ctx = clientContext(t),
): Promise<Conn> {
  return Conn.open(ctx, srv.url, { ...(tls ? TRUST : {}), http2: true, timeoutMs: 5000, ...opts });
}

for (const tls of [false, true]) {
  const over = tls ? 'over TLS (ALPN h2)' : 'in cleartext (prior knowledge)';

  describe(`nopoll client ↔ nopoll listener over HTTP/2 ${over}`, () => {
    it('opens over HTTP/2 on both sides and echoes text, binary, empty and 4 MiB messages', async (t) => {
      const srv = await startH2Echo(t, { tls });
      const conn = await open(t, srv, tls);
      const server = await srv.ready.next(3000, 'the server side');
      for (const c of [conn, server]) {
        assert.equal(c.httpVersion, '2');
        assert.equal(c.socket, null, 'no socket of its own');
        assert.equal(typeof (c.stream as unknown as { session?: unknown })?.session, 'object', 'an Http2Stream');
        assert.equal(c.isTlsOn, tls);
      }
      // Both sides raised their windows past the 64 KiB default (per stream in SETTINGS, per connection by
      // WINDOW_UPDATE), so throughput is not capped at 64 KiB per round trip.
      type Session = { remoteSettings: { initialWindowSize?: number }; state: { localWindowSize?: number } };
      const serverSession = (server.stream as unknown as { session: Session }).session;
      const clientSession = (conn.stream as unknown as { session: Session }).session;
      assert.equal(serverSession.remoteSettings.initialWindowSize, 1024 * 1024, "the client's stream window");
      assert.equal(clientSession.remoteSettings.initialWindowSize, 1024 * 1024, "the server's stream window");
      assert.ok((clientSession.state.localWindowSize ?? 0) > 8 * 1024 * 1024, "the client's connection window");
      assert.ok((serverSession.state.localWindowSize ?? 0) > 8 * 1024 * 1024, "the server's connection window");
      assert.equal(server.requestedUrl, '/');
      assert.equal(server.hostHeader, `127.0.0.1:${srv.port}`);
      conn.sendText('héllo ✓');
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'héllo ✓');
      conn.sendBinary(Buffer.from([0, 1, 2, 255]));
      assert.deepEqual((await conn.nextMsg({ timeoutMs: 3000 })).payload, Buffer.from([0, 1, 2, 255]));
      conn.sendText('');
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).size, 0);
      // Past the 64 KiB default windows many times over: the windows are raised and flow control keeps up.
      const big = randomBytes(4 * 1024 * 1024);
      conn.sendBinary(big);
      assert.ok((await conn.nextMsg({ timeoutMs: 15_000 })).payload.equals(big));
      assert.deepEqual(await conn.close(1000, 'bye'), { code: 1000, reason: '', wasClean: true });
      const ended = await withTimeout(server.closed, 3000, 'the server side closing');
      assert.deepEqual([ended.code, ended.reason, ended.wasClean], [1000, 'bye', true]);
    });

    it('carries fragments, pings and pongs, and a close started by the server', async (t) => {
      const srv = await startH2Echo(t, { tls });
      const conn = await open(t, srv, tls);
      const server = await srv.ready.next(3000, 'the server side');
      conn.sendTextFragment('frag');
      conn.sendFragment('men', { fin: false });
      conn.sendFragment('ted', { fin: true });
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'fragmented');
      const pongs: string[] = [];
      conn.onPong = (_c, payload) => pongs.push(payload.toString());
      const pings: string[] = [];
      conn.onPing = (_c, payload) => pings.push(payload.toString());
      assert.equal(conn.ping('p1'), true);
      assert.equal(server.ping('p2'), true);
      await withTimeout(
        (async () => {
          while (pongs.length < 1 || pings.length < 1) await delay(10);
        })(),
        3000,
        'ping and pong',
      );
      assert.deepEqual([pongs, pings], [['p1'], ['p2']]);
      const serverClose = server.close(4001, 'server says bye');
      const info = await withTimeout(conn.closed, 3000, 'the client side closing');
      assert.deepEqual(info, { code: 4001, reason: 'server says bye', wasClean: true });
      assert.equal((await serverClose).wasClean, true);
    });

    it('several WebSockets share one HTTP/2 connection; ending one leaves the others working', async (t) => {
      const srv = await startH2Echo(t, { tls });
      const ctx = clientContext(t);
      const conns = await Promise.all([0, 1, 2, 3].map(() => open(t, srv, tls, {}, ctx)));
      const session = (conns[0]!.stream as unknown as { session: unknown }).session;
      for (const c of conns)
        assert.equal((c.stream as unknown as { session: unknown }).session, session, 'one HTTP/2 connection');
      await conns[1]!.close(1000);
      conns[2]!.shutdown(); // an abrupt end (RST_STREAM) of one stream is that stream's business only
      await conns[2]!.closed;
      for (const c of [conns[0]!, conns[3]!]) {
        c.sendText('still here');
        assert.equal((await c.nextMsg({ timeoutMs: 3000 })).text, 'still here');
      }
      // A WebSocket opened now joins the same connection.
      const late = await open(t, srv, tls, {}, ctx);
      assert.equal((late.stream as unknown as { session: unknown }).session, session);
      for (const c of [conns[0]!, conns[3]!, late]) await c.close();
    });

    it("opens another HTTP/2 connection when one is at the server's stream limit", async (t) => {
      const srv = await startH2Echo(t, { tls, listen: { http2: { maxConcurrentStreams: 3 } } });
      const ctx = clientContext(t);
      const conns = await Promise.all(Array.from({ length: 7 }, () => open(t, srv, tls, {}, ctx)));
      const sessions = new Set(conns.map((c) => (c.stream as unknown as { session: unknown }).session));
      assert.equal(sessions.size, 3, '7 WebSockets at 3 per connection');
      for (const c of conns) {
        c.sendText('ok');
        assert.equal((await c.nextMsg({ timeoutMs: 3000 })).text, 'ok');
      }
      await Promise.all(conns.map((c) => c.close()));
    });

    it('a connection closed while it waits for its HTTP/2 connection ends at once, without a stream', async (t) => {
      const srv = await startH2Echo(t, { tls });
      const ctx = clientContext(t);
      const early = Conn.connect(ctx, srv.url, { ...(tls ? TRUST : {}), http2: true });
      const info = await withTimeout(early.close(), 2000, 'the early close');
      assert.equal(info.code, 1006);
      assert.equal(early.stream, null);
      // The connection it started is still good for the next one.
      const next = await open(t, srv, tls, {}, ctx);
      next.sendText('fine');
      assert.equal((await next.nextMsg({ timeoutMs: 3000 })).text, 'fine');
      assert.equal(srv.ctx.conns.size, 1, 'only the second WebSocket reached the server');
      await next.close();
    });

    it('negotiates permessage-deflate and sends compressed messages both ways', async (t) => {
      const srv = await startH2Echo(t, { tls, opts: { perMessageDeflate: true } });
      const conn = await open(t, srv, tls, { perMessageDeflate: { threshold: 0 } });
      assert.notEqual(conn.perMessageDeflate, null);
      assert.match(conn.extensions, /^permessage-deflate/);
      const text = 'compress me '.repeat(2000);
      conn.sendText(text);
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, text);
      await conn.close();
    });

    it('streams a message as it arrives (onMessageStream)', async (t) => {
      const srv = await startH2Echo(t, { tls });
      const conn = await open(t, srv, tls);
      const parts: Buffer[] = [];
      const done = new Promise<void>((resolve) => {
        conn.onMessageStream = (_c, stream) => {
          stream.on('data', (chunk: Buffer) => parts.push(chunk));
          stream.on('end', () => resolve());
        };
      });
      const body = randomBytes(512 * 1024);
      conn.sendBinary(body);
      await withTimeout(done, 10_000, 'the streamed message');
      assert.ok(Buffer.concat(parts).equals(body));
      await conn.close();
    });

    it('applies the write limit when the peer stops reading (HTTP/2 flow control pushes back)', async (t) => {
      const srv = await startH2Echo(t, { tls, opts: { maxPendingWriteBytes: 256 * 1024, writeLimitPolicy: 'refuse' } });
      const conn = await open(t, srv, tls);
      const server = await srv.ready.next(3000, 'the server side');
      conn.pause(); // the client reads nothing: its stream and connection windows fill up
      const chunk = Buffer.alloc(64 * 1024, 7);
      let accepted = 0;
      let refused = false;
      for (let i = 0; i < 2000 && !refused; i++) {
        const n = server.sendBinary(chunk);
        if (n === 0) refused = true;
        else accepted += n;
        if (i % 16 === 15) await delay(5);
      }
      assert.ok(refused, 'a send was refused by the write limit');
      // What got through is bounded by the windows (1 MiB stream) plus the limit, not by what we tried to send.
      assert.ok(accepted < 8 * 1024 * 1024, `accepted ${accepted} bytes`);
      assert.ok(server.pendingWriteBytes > 0);
      conn.resume();
      await withTimeout(server.flushWrites(), 10_000, 'the writes draining once the client reads');
      await conn.close();
    });

    it('closes an idle WebSocket with 1001 and keeps a heartbeat going', async (t) => {
      const srv = await startH2Echo(t, { tls, opts: { idleTimeoutMs: 300 } });
      const conn = await open(t, srv, tls);
      const info = await withTimeout(conn.closed, 3000, 'the idle close');
      assert.deepEqual([info.code, info.reason, info.wasClean], [1001, 'idle timeout', true]);

      const beat = await startH2Echo(t, { tls, opts: { pingIntervalMs: 100, pongTimeoutMs: 1000 } });
      const alive = await open(t, beat, tls);
      let pings = 0;
      alive.onPing = () => pings++;
      await delay(450);
      assert.ok(pings >= 2, `the heartbeat pinged ${pings} times`);
      assert.equal(alive.isReady, true, 'answered pings keep it open');
      await alive.close();
    });

    it('fails the handshake in time when the server never answers the extended CONNECT', async (t) => {
      const ctx = new Context();
      ctx.onOpen = () => new Promise<boolean>(() => undefined); // never decides
      const srv = await startH2Echo(t, { tls, ctx });
      const client = clientContext(t);
      const started = Date.now();
      const failed = await Conn.open(client, srv.url, {
        ...(tls ? TRUST : {}),
        http2: true,
        connectTimeoutMs: 400,
        timeoutMs: 5000,
      }).then(
        () => assert.fail('must time out'),
        (error: unknown) => error,
      );
      assert.ok(failed instanceof TimeoutError, String(failed));
      assert.ok(Date.now() - started < 3000);
    });
  });
}
