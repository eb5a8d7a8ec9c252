/**
 * Bad input around TLS: a plain client on a TLS port, a TLS client on a plain port, garbage, an expired or
 * wrong-host certificate, a client without a certificate on a mutual-TLS port, handshakes that stall or stop
 * half-way. Each ends with a typed error on the side that can see it, within a bounded time (short handshake
 * timeouts here), and the listener keeps serving the next client.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  Conn,
  ConnectionClosedError,
  Context,
  HandshakeError,
  TimeoutError,
  TlsError,
  type ConnOptsInit,
} from '../../src/index.js';
import { certs, type TlsEchoListener, clientCtx, listenTls, TRUST } from '../helpers/tls.js';
import { startEchoListener } from '../helpers/ws-peers.js';
import { withTimeout } from '../helpers/ws-async.js';

const READY = { timeoutMs: 5000 };

async function failure(conn: Conn): Promise<Error> {
  return conn.waitUntilReady(READY).then(
    () => assert.fail('the connection must fail'),
    (error: unknown) => error as Error,
  );
}

/** The next connection the listener lost with an error (connections that closed cleanly are skipped). */
async function nextFailed(srv: TlsEchoListener): Promise<Error> {
  for (;;) {
    const conn = await srv.closed.next(5000, 'a connection failing on the listener');
    if (conn.closeInfo?.error) return conn.closeInfo.error;
  }
}

/**
 * A listener context whose handshakes time out after 200 ms. The timeout is read per connection, so
 * {@link stillServes} restores the default for the good client it sends afterwards (a slow machine must not
 * fail it).
 */
function shortTimeouts(): Context {
  return new Context({ handshakeTimeoutMs: 200 });
}

/** Proves the listener still serves: a verified client echoes. */
async function stillServes(ctx: Context, srv: TlsEchoListener, opts: ConnOptsInit = TRUST): Promise<void> {
  srv.ctx.handshakeTimeoutMs = 10_000;
  const conn = await Conn.open(ctx, srv.url, { ...opts, ...READY });
  conn.sendText('still serving');
  assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'still serving');
  await conn.close();
}

/** A raw TCP connection to `port`, destroyed after the test. */
async function tcp(t: TestContext, port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  // Read (and drop) whatever comes back, so the end of the connection is seen.
  socket.resume();
  t.after(() => socket.destroy());
  await withTimeout(new Promise<void>((resolve) => socket.once('connect', () => resolve())), 3000, 'tcp connect');
  return socket;
}

function closedBy(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('the wrong protocol on a port', () => {
  it('a plain ws:// client on a TLS port: HandshakeError on the client, TlsError on the listener', async (t) => {
    const srv = await listenTls(t);
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, `ws://127.0.0.1:${srv.port}/`));
    assert.ok(error instanceof HandshakeError || error instanceof ConnectionClosedError, String(error));
    const seen = await nextFailed(srv);
    assert.ok(seen instanceof TlsError, String(seen));
    assert.match(seen.message, /http request|wrong version|unknown protocol/i);
    await stillServes(ctx, srv);
  });

  it('a wss:// client on a plain port: TlsError on the client, HandshakeError 400 on the listener', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const closed: Conn[] = [];
    srv.ctx.onClose = (conn) => closed.push(conn);
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, `wss://127.0.0.1:${srv.port}/`, TRUST));
    assert.ok(error instanceof TlsError, String(error));
    assert.match(error.message, /wrong version number|packet length|unknown protocol|record/i);
    await withTimeout(
      (async () => {
        while (closed.length === 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      3000,
      'the listener dropping the TLS client',
    );
    assert.ok(closed[0]!.closeInfo?.error instanceof HandshakeError);
    assert.equal((closed[0]!.closeInfo!.error as HandshakeError).status, 400);
    const conn = await Conn.open(ctx, srv.url, READY);
    conn.sendText('plain still works');
    assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'plain still works');
    await conn.close();
  });

  it('garbage bytes on a TLS port: the listener fails it with TlsError and closes the socket', async (t) => {
    const srv = await listenTls(t);
    const socket = await tcp(t, srv.port);
    socket.write(Buffer.from('\x16\x03\x01\x00\x05hello, this is not a ClientHello at all'.repeat(3), 'latin1'));
    const seen = await nextFailed(srv);
    assert.ok(seen instanceof TlsError, String(seen));
    await withTimeout(closedBy(socket), 3000, 'the listener closing the socket');
    await stillServes(clientCtx(t), srv);
  });
});

describe('certificates the client refuses', () => {
  it('an expired server certificate: TlsError (CERT_HAS_EXPIRED) on the client', async (t) => {
    const srv = await listenTls(t, { certificate: { cert: certs.expiredCert, key: certs.expiredKey } });
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, srv.url, TRUST));
    assert.ok(error instanceof TlsError, String(error));
    assert.equal((error.cause as { code?: string }).code, 'CERT_HAS_EXPIRED');
    // Turning verification off accepts it (the listener itself never minded).
    await stillServes(ctx, srv, { tls: { verifyPeer: false } });
  });

  it('a certificate for another host: TlsError (ERR_TLS_CERT_ALTNAME_INVALID) on the client', async (t) => {
    const srv = await listenTls(t, { certificate: { cert: certs.otherCert, key: certs.otherKey } });
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, srv.url, TRUST));
    assert.ok(error instanceof TlsError, String(error));
    assert.equal((error.cause as { code?: string }).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    await stillServes(ctx, srv, { tls: { ca: certs.ca, serverName: 'other.test' } });
  });

  it('a self-signed certificate no one trusts: TlsError on the client', async (t) => {
    const srv = await listenTls(t, { certificate: { cert: certs.untrustedCert, key: certs.untrustedKey } });
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, srv.url, TRUST));
    assert.ok(error instanceof TlsError, String(error));
    assert.equal((error.cause as { code?: string }).code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });
});

describe('mutual TLS refusals', () => {
  it('a client without a certificate on a mutual-TLS port: TlsError on both sides; verified clients still pass', async (t) => {
    const srv = await listenTls(t, { opts: { tls: { ca: certs.ca, verifyPeer: true } } });
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, srv.url, TRUST));
    assert.ok(error instanceof TlsError, String(error));
    const seen = await nextFailed(srv);
    assert.ok(seen instanceof TlsError, String(seen));
    await stillServes(ctx, srv, { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
  });

  it('a client certificate from another CA: the listener refuses it with TlsError', async (t) => {
    const srv = await listenTls(t, { opts: { tls: { ca: certs.ca, verifyPeer: true } } });
    const ctx = clientCtx(t);
    await failure(
      Conn.connect(ctx, srv.url, { tls: { ca: certs.ca, cert: certs.untrustedCert, key: certs.untrustedKey } }),
    );
    const seen = await nextFailed(srv);
    assert.ok(seen instanceof TlsError, String(seen));
    assert.match(seen.message, /client certificate refused/);
    // The same over TLS 1.2, where the refusal comes after the client's side of the handshake too.
    await failure(
      Conn.connect(ctx, srv.url, {
        tls: { ca: certs.ca, cert: certs.untrustedCert, key: certs.untrustedKey, maxVersion: 'TLSv1.2' },
      }),
    );
    assert.ok((await nextFailed(srv)) instanceof TlsError);
    await stillServes(ctx, srv, { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
  });
});

describe('stalled and broken handshakes', () => {
  it('a client that connects and sends nothing: TimeoutError (phase tls) on the listener, socket closed', async (t) => {
    const srv = await listenTls(t, {}, shortTimeouts());
    const socket = await tcp(t, srv.port);
    const seen = await nextFailed(srv);
    assert.ok(seen instanceof TimeoutError, String(seen));
    assert.equal(seen.phase, 'tls');
    await withTimeout(closedBy(socket), 3000, 'the listener closing the stalled socket');
    await stillServes(clientCtx(t), srv);
  });

  it('a client that stops half-way through its ClientHello: TimeoutError (phase tls) on the listener', async (t) => {
    const srv = await listenTls(t, {}, shortTimeouts());
    const socket = await tcp(t, srv.port);
    // A handshake record header announcing 512 bytes, and only 3 of them.
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]));
    const seen = await nextFailed(srv);
    assert.ok(seen instanceof TimeoutError && seen.phase === 'tls', String(seen));
    await withTimeout(closedBy(socket), 3000, 'the listener closing the stalled socket');
  });

  it('a client that leaves during the TLS handshake: TlsError on the listener', async (t) => {
    const srv = await listenTls(t);
    const raw = await tcp(t, srv.port);
    // A real ClientHello, then the TCP connection goes away before the handshake can finish.
    const hello = new Promise<Buffer>((resolve) => {
      const capture = createNetServer((s) =>
        s.once('data', (chunk: Buffer) => {
          resolve(chunk);
          s.destroy();
        }),
      );
      capture.listen(0, '127.0.0.1', () => {
        const probe = tlsConnect({
          host: '127.0.0.1',
          port: (capture.address() as AddressInfo).port,
          rejectUnauthorized: false,
        });
        probe.on('error', () => undefined);
        probe.on('close', () => capture.close());
      });
    });
    raw.end(await withTimeout(hello, 3000, 'capturing a ClientHello'));
    const seen = await nextFailed(srv);
    assert.ok(seen instanceof TlsError, String(seen));
    await stillServes(clientCtx(t), srv);
  });

  it('a TLS client that never sends its WebSocket request: TimeoutError (phase handshake) on the listener', async (t) => {
    const srv = await listenTls(t, {}, shortTimeouts());
    const socket = tlsConnect({ host: '127.0.0.1', port: srv.port, ca: certs.ca });
    socket.on('error', () => undefined);
    t.after(() => socket.destroy());
    await withTimeout(
      new Promise<void>((resolve) => socket.once('secureConnect', () => resolve())),
      3000,
      'TLS connect',
    );
    const seen = await nextFailed(srv);
    assert.ok(seen instanceof TimeoutError, String(seen));
    assert.equal(seen.phase, 'handshake');
  });

  it('a server that accepts TCP and never answers the ClientHello: TimeoutError (phase tls) on the client', async (t) => {
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const ctx = clientCtx(t);
    const conn = Conn.connect(ctx, `wss://127.0.0.1:${(silent.address() as AddressInfo).port}/`, {
      ...TRUST,
      connectTimeoutMs: 200,
    });
    const error = await failure(conn);
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal(error.phase, 'tls');
    assert.equal(conn.isOk, false);
    assert.equal(ctx.connCount, 0);
  });

  it('a post-handshake check or a context creator that never answers: TimeoutError (phase tls), both sides', async (t) => {
    const srv = await listenTls(t, {}, shortTimeouts());
    const ctx = clientCtx(t);
    const never = (): Promise<boolean> => new Promise<boolean>(() => undefined);
    srv.ctx.postTlsCheck = never;
    await failure(Conn.connect(ctx, srv.url, TRUST));
    const check = await nextFailed(srv);
    assert.ok(check instanceof TimeoutError && check.phase === 'tls', String(check));
    srv.ctx.postTlsCheck = null;
    srv.ctx.tlsContextCreator = () => new Promise<null>(() => undefined);
    await failure(Conn.connect(ctx, srv.url, TRUST));
    const creator = await nextFailed(srv);
    assert.ok(creator instanceof TimeoutError && creator.phase === 'tls', String(creator));
    srv.ctx.tlsContextCreator = null;
    await stillServes(ctx, srv);
    // The client's own check counts against its connect timeout.
    ctx.postTlsCheck = never;
    const error = await failure(Conn.connect(ctx, srv.url, { ...TRUST, connectTimeoutMs: 200 }));
    assert.ok(error instanceof TimeoutError && error.phase === 'tls', String(error));
  });

  it('a server that closes during the TLS handshake: TlsError on the client', async (t) => {
    const rude = createNetServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => rude.close(() => resolve())));
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, `wss://127.0.0.1:${(rude.address() as AddressInfo).port}/`, TRUST));
    assert.ok(error instanceof TlsError, String(error));
  });
});
