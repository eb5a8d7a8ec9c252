/**
 * TLS through the public API, with real TLS sockets on loopback: certificates at the three levels (options, the
 * listener, the context store) from PEM or files, SNI selection from the store, client verification (chain and
 * host name by default, a CA, verification off, a pinned check), mutual TLS, the post-handshake check and the
 * context creator on both sides, versions, ALPN, IPv6, options checking, and port sharing with TLS.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import {
  Conn,
  ConnOpts,
  Context,
  HandshakeError,
  Listener,
  SslProtocol,
  TlsError,
  sharePort,
  type ConnOptsInit,
  type TlsContextInfo,
} from '../../src/index.js';
import { ipv6LoopbackAvailable } from '../helpers/net.js';
import { certs, tlsFile, clientCtx, listenTls, TRUST } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';

const READY = { timeoutMs: 5000 };

async function echo(conn: Conn, text: string): Promise<void> {
  assert.equal(conn.sendText(text), Buffer.byteLength(text));
  const msg = await conn.nextMsg({ timeoutMs: 3000 });
  assert.equal(msg.text, text);
}

function peerCN(conn: Conn): string {
  const socket = conn.socket as TLSSocket;
  return String(socket.getPeerCertificate().subject.CN);
}

/** Opens, echoes once, returns the CN of the server certificate, closes. */
async function serverNameSeen(ctx: Context, url: string, opts: ConnOptsInit): Promise<string> {
  const conn = await Conn.open(ctx, url, { ...opts, ...READY });
  await echo(conn, 'hello');
  const cn = peerCN(conn);
  await conn.close();
  return cn;
}

/** The error a failed connection attempt reports. */
async function failure(conn: Conn): Promise<Error> {
  return conn.waitUntilReady(READY).then(
    () => assert.fail('the connection must fail'),
    (error: unknown) => error as Error,
  );
}

describe('certificates at three levels', () => {
  it('the listener option certificate (in-memory PEM) serves wss:// echo; isTls and isTlsOn on both sides', async (t) => {
    const srv = await listenTls(t);
    assert.equal(srv.listener.isTls, true);
    assert.deepEqual(srv.listener.certificate?.cert, certs.serverCert);
    const ctx = clientCtx(t);
    const conn = await Conn.open(ctx, srv.url, { ...TRUST, ...READY });
    assert.equal(conn.isTlsOn, true);
    assert.equal(conn.hostHeader, `127.0.0.1:${srv.port}`);
    await echo(conn, 'héllo über TLS ✓');
    const bin = Buffer.from([0, 1, 2, 254, 255]);
    conn.sendBinary(bin);
    assert.deepEqual((await conn.nextMsg({ timeoutMs: 3000 })).payload, bin);
    const server = await srv.ready.next(3000);
    assert.equal(server.isTlsOn, true);
    assert.equal((server.socket as TLSSocket).encrypted, true);
    // The peer's address comes through the TLS socket.
    assert.deepEqual([server.host, server.port], ['127.0.0.1', conn.socket!.localPort]);
    const info = await conn.close(1000, 'bye');
    assert.equal(info.wasClean, true);
  });

  it('certificate files ({ file }) at every level, and precedence: options, then listener, then store', async (t) => {
    const ctx = clientCtx(t);
    const insecure: ConnOptsInit = { tls: { verifyPeer: false } };
    // Store only (its default entry).
    const serverCtx = new Context();
    serverCtx.setCertificate(null, { file: tlsFile('server.crt') }, { file: tlsFile('server.key') });
    const storeOnly = await listenTls(t, { certificate: undefined as never }, serverCtx);
    assert.equal(await serverNameSeen(ctx, storeOnly.url, insecure), 'localhost');
    // The listener's certificate wins over the store.
    const withListener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0, tls: true });
    withListener.setCertificate({ file: tlsFile('other.crt') }, { file: tlsFile('other.key') });
    assert.equal(await serverNameSeen(ctx, `wss://127.0.0.1:${withListener.port}/`, insecure), 'other.test');
    // Options win over the listener's certificate.
    const withOpts = await Listener.listen(serverCtx, {
      host: '127.0.0.1',
      port: 0,
      tls: true,
      certificate: { cert: certs.otherCert, key: certs.otherKey },
      opts: { tls: { cert: { file: tlsFile('server.crt') }, key: { file: tlsFile('server.key') } } },
    });
    assert.equal(await serverNameSeen(ctx, `wss://127.0.0.1:${withOpts.port}/`, insecure), 'localhost');
    // A certificate set later applies to later connections.
    withListener.setCertificate(certs.serverCert, certs.serverKey);
    assert.equal(await serverNameSeen(ctx, `wss://127.0.0.1:${withListener.port}/`, TRUST), 'localhost');
  });

  it('a TLS listener with no certificate anywhere fails each connection with TlsError and keeps listening', async (t) => {
    const serverCtx = new Context();
    serverCtx.onError = () => undefined;
    serverCtx.onMessage = (conn, msg) => {
      conn.sendText(msg.payload);
    };
    const closed: Conn[] = [];
    serverCtx.onClose = (conn) => closed.push(conn);
    const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0, tls: true });
    t.after(() => serverCtx.close());
    const ctx = clientCtx(t);
    const conn = Conn.connect(ctx, `wss://127.0.0.1:${listener.port}/`, TRUST);
    assert.ok((await failure(conn)) instanceof TlsError);
    assert.ok(closed[0]?.closeInfo?.error instanceof TlsError);
    assert.match(closed[0]!.closeInfo!.error!.message, /no certificate/);
    serverCtx.setCertificate(null, certs.serverCert, certs.serverKey);
    assert.equal(await serverNameSeen(ctx, `wss://127.0.0.1:${listener.port}/`, TRUST), 'localhost');
  });

  it('SNI picks a named store entry (exact or *. wildcard); other names and IP connections get the default', async (t) => {
    const serverCtx = new Context();
    serverCtx.setCertificate(null, certs.serverCert, certs.serverKey);
    serverCtx.setCertificate('other.test', certs.otherCert, certs.otherKey);
    const srv = await listenTls(t, { certificate: undefined as never }, serverCtx);
    const ctx = clientCtx(t);
    // Verified end to end: the name asked for is the name checked.
    assert.equal(await serverNameSeen(ctx, srv.url, { tls: { ca: certs.ca, serverName: 'other.test' } }), 'other.test');
    assert.equal(await serverNameSeen(ctx, srv.url, { tls: { ca: certs.ca, serverName: 'localhost' } }), 'localhost');
    assert.equal(await serverNameSeen(ctx, srv.url, TRUST), 'localhost', 'no SNI for an IP address');
    // A wildcard entry matches one label; the server's own view of the name is servername.
    serverCtx.setCertificate('*.wild.test', certs.otherCert, certs.otherKey);
    const insecureAs = (name: string): ConnOptsInit => ({ tls: { verifyPeer: false, serverName: name } });
    assert.equal(await serverNameSeen(ctx, srv.url, insecureAs('a.wild.test')), 'other.test');
    assert.equal(await serverNameSeen(ctx, srv.url, insecureAs('a.b.wild.test')), 'localhost');
    assert.equal(await serverNameSeen(ctx, srv.url, insecureAs('unknown.test')), 'localhost');
    const seen: Array<string | false> = [];
    serverCtx.postTlsCheck = (_conn, socket) => {
      seen.push((socket as TLSSocket & { servername: string | false }).servername);
    };
    await serverNameSeen(ctx, srv.url, insecureAs('other.test'));
    assert.deepEqual(seen, ['other.test']);
  });

  it('the listener options are checked before anything is bound', async (t) => {
    const ctx = new Context();
    t.after(() => ctx.close());
    await assert.rejects(
      Listener.listen(ctx, {
        port: 0,
        host: '127.0.0.1',
        certificate: { cert: certs.serverCert, key: certs.serverKey },
      }),
      TypeError,
      'a certificate needs tls: true',
    );
    await assert.rejects(
      Listener.listen(ctx, {
        port: 0,
        host: '127.0.0.1',
        tls: true,
        certificate: { cert: { file: tlsFile('nope.crt') }, key: certs.serverKey },
      }),
      TlsError,
    );
    await assert.rejects(
      Listener.listen(ctx, {
        port: 0,
        host: '127.0.0.1',
        tls: true,
        opts: { tls: { sslProtocol: SslProtocol.TLSV1 } },
      }),
      RangeError,
    );
    await assert.rejects(
      Listener.listen(ctx, { port: 0, host: '127.0.0.1', tls: true, opts: { tls: { cert: certs.serverCert } } }),
      TypeError,
    );
    await assert.rejects(
      Listener.listen(ctx, {
        port: 0,
        host: '127.0.0.1',
        tls: true,
        opts: { tls: { cert: 'server.crt', key: 'server.key' } },
      }),
      /\{ file/,
    );
    assert.equal(ctx.listeners.size, 0);
  });
});

describe('client verification', () => {
  it('verifies the chain by default: an unknown CA is refused with TlsError; ca trusts it; verifyPeer: false skips it', async (t) => {
    const srv = await listenTls(t);
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, srv.url));
    assert.ok(error instanceof TlsError, String(error));
    assert.match(error.message, /unable to verify the first certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.equal(((error.cause as { code?: string }) ?? {}).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.equal(await serverNameSeen(ctx, srv.url, TRUST), 'localhost');
    assert.equal(await serverNameSeen(ctx, srv.url, { tls: { ca: { file: tlsFile('ca.crt') } } }), 'localhost');
    assert.equal(await serverNameSeen(ctx, srv.url, new ConnOpts().sslPeerVerify(false).values), 'localhost');
    assert.equal(ctx.connCount, 0);
  });

  it('verifies the host name by default: a certificate for another name is refused (ERR_TLS_CERT_ALTNAME_INVALID)', async (t) => {
    const srv = await listenTls(t, { certificate: { cert: certs.otherCert, key: certs.otherKey } });
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, srv.url, TRUST));
    assert.ok(error instanceof TlsError, String(error));
    assert.equal((error.cause as { code?: string }).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    // The same certificate is fine for the name it carries.
    assert.equal(await serverNameSeen(ctx, srv.url, { tls: { ca: certs.ca, serverName: 'other.test' } }), 'other.test');
  });

  it('a pinned check of its own replaces the name check: the right fingerprint passes, another is refused', async (t) => {
    const srv = await listenTls(t, { certificate: { cert: certs.otherCert, key: certs.otherKey } });
    const ctx = clientCtx(t);
    const pin = new X509Certificate(certs.otherCert).fingerprint256;
    const pinned = (expected: string): ConnOptsInit => ({
      tls: {
        ca: certs.ca,
        checkServerIdentity: (_host, cert) =>
          cert.fingerprint256 === expected
            ? undefined
            : new Error(`certificate ${cert.fingerprint256} is not the pinned one`),
      },
    });
    // 127.0.0.1 is not in other.crt: the pin is the only identity check.
    assert.equal(await serverNameSeen(ctx, srv.url, pinned(pin)), 'other.test');
    const error = await failure(
      Conn.connect(ctx, srv.url, pinned(new X509Certificate(certs.serverCert).fingerprint256)),
    );
    assert.ok(error instanceof TlsError);
    assert.match(error.message, /is not the pinned one/);
    // The chain is still verified first: a pin does not make an unknown CA acceptable.
    const noCa = await failure(Conn.connect(ctx, srv.url, { tls: { checkServerIdentity: () => undefined } }));
    assert.ok(noCa instanceof TlsError);
  });
});

describe('mutual TLS (manual 3.1)', () => {
  const mutualOpts = { tls: { ca: certs.ca, verifyPeer: true } };

  it('a client certificate signed by the CA is verified; the listener sees who it is', async (t) => {
    const srv = await listenTls(t, { opts: mutualOpts });
    const ctx = clientCtx(t);
    const conn = await Conn.open(ctx, srv.url, {
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      ...READY,
    });
    await echo(conn, 'mutual');
    const server = await srv.ready.next(3000);
    const socket = server.socket as TLSSocket;
    assert.equal(socket.authorized, true);
    assert.equal(socket.getPeerCertificate().subject.CN, 'nopoll test client');
    await conn.close();
  });

  it('without a client certificate both sides get a TlsError; with an untrusted one the listener refuses it', async (t) => {
    const srv = await listenTls(t, { opts: mutualOpts });
    const ctx = clientCtx(t);
    const error = await failure(Conn.connect(ctx, srv.url, TRUST));
    assert.ok(error instanceof TlsError, String(error));
    const refused = await srv.closed.next(3000, 'the listener dropping the client');
    assert.ok(refused.closeInfo?.error instanceof TlsError);
    assert.match(refused.closeInfo.error.message, /did not return a certificate/);

    const untrusted = Conn.connect(ctx, srv.url, {
      tls: { ca: certs.ca, cert: certs.untrustedCert, key: certs.untrustedKey },
    });
    const untrustedError = await failure(untrusted);
    // TLS 1.3 completes the client's side before the server has judged its certificate: the client only sees the
    // connection end during the WebSocket handshake.
    assert.ok(untrustedError instanceof TlsError || untrustedError instanceof HandshakeError, String(untrustedError));
    const dropped = await srv.closed.next(3000, 'the listener dropping the untrusted client');
    assert.ok(dropped.closeInfo?.error instanceof TlsError);
    assert.match(dropped.closeInfo.error.message, /client certificate refused: DEPTH_ZERO_SELF_SIGNED_CERT/);

    // The listener keeps serving verified clients.
    const conn = await Conn.open(ctx, srv.url, {
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      ...READY,
    });
    await echo(conn, 'still serving');
  });

  it('without verifyPeer a listener neither asks for nor checks a client certificate', async (t) => {
    const srv = await listenTls(t);
    const ctx = clientCtx(t);
    const conn = await Conn.open(ctx, srv.url, {
      tls: { ca: certs.ca, cert: certs.untrustedCert, key: certs.untrustedKey },
      ...READY,
    });
    await echo(conn, 'no client check');
    const server = await srv.ready.next(3000);
    assert.equal((server.socket as TLSSocket).authorized, false);
  });
});

describe('post-handshake check (manual 3.2)', () => {
  it('runs on both sides with the Conn and the TLSSocket, after the handshake and before any WebSocket byte', async (t) => {
    const srv = await listenTls(t);
    const server: Array<{ role: string; protocol: string | null; opened: boolean; cipher: string }> = [];
    let opened = false;
    srv.ctx.onOpen = () => {
      opened = true;
    };
    srv.ctx.postTlsCheck = (conn, socket) => {
      server.push({ role: conn.role, protocol: socket.getProtocol(), opened, cipher: socket.getCipher().name });
      return true;
    };
    const ctx = clientCtx(t);
    const client: Array<{ role: string; cn: string; authorized: boolean; ready: boolean; socketIsConn: boolean }> = [];
    ctx.postTlsCheck = async (conn, socket) => {
      client.push({
        role: conn.role,
        cn: String(socket.getPeerCertificate().subject.CN),
        authorized: socket.authorized,
        ready: conn.isReady,
        socketIsConn: conn.socket === socket,
      });
      return true;
    };
    const conn = await Conn.open(ctx, srv.url, { ...TRUST, ...READY });
    await echo(conn, 'checked');
    assert.deepEqual(client, [
      { role: 'client', cn: 'localhost', authorized: true, ready: false, socketIsConn: false },
    ]);
    assert.equal(server.length, 1);
    assert.deepEqual([server[0]!.role, server[0]!.protocol, server[0]!.opened], ['listener', 'TLSv1.3', false]);
    assert.ok(server[0]!.cipher.length > 0);
    assert.equal((conn.socket as TLSSocket).encrypted, true, 'once open, conn.socket is the TLS socket');
  });

  for (const [how, verdict] of [
    ['returns false', () => false],
    [
      'throws',
      () => {
        throw new Error('no such client');
      },
    ],
    ['rejects', () => Promise.reject(new Error('revoked'))],
  ] as const) {
    it(`on the listener: a check that ${how} drops the connection before the request is read`, async (t) => {
      const srv = await listenTls(t);
      const errors: unknown[] = [];
      srv.ctx.onError = (error) => errors.push(error);
      let opened = 0;
      srv.ctx.onOpen = () => {
        opened++;
      };
      srv.ctx.postTlsCheck = verdict;
      const ctx = clientCtx(t);
      const error = await failure(Conn.connect(ctx, srv.url, TRUST));
      assert.ok(error instanceof HandshakeError || error instanceof TlsError, String(error));
      const dropped = await srv.closed.next(3000);
      assert.ok(dropped.closeInfo?.error instanceof TlsError);
      assert.match(dropped.closeInfo.error.message, /refused by the post-handshake check/);
      assert.equal(opened, 0, 'onOpen never ran: the request was never read');
      assert.equal(errors.length, how === 'returns false' ? 0 : 1, 'a throw or a rejection goes to onError');
      srv.ctx.postTlsCheck = null;
      assert.equal(await serverNameSeen(ctx, srv.url, TRUST), 'localhost');
    });

    it(`on the client: a check that ${how} fails with TlsError before the request is written`, async (t) => {
      // A bare TLS server that records every byte it receives.
      let received = 0;
      const tlsServer = createTlsServer({ cert: certs.serverCert, key: certs.serverKey }, (socket) => {
        socket.on('data', (chunk: Buffer) => (received += chunk.length));
      });
      tlsServer.on('tlsClientError', () => undefined);
      // The TCP connection as the server saw it: closed once the client dropped it.
      const tcpClosed = new Promise<void>((resolve) =>
        tlsServer.once('connection', (raw: Socket) => raw.once('close', () => resolve())),
      );
      await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
      t.after(() => new Promise<void>((resolve) => tlsServer.close(() => resolve())));
      const ctx = clientCtx(t);
      ctx.postTlsCheck = verdict;
      const port = (tlsServer.address() as AddressInfo).port;
      const error = await failure(Conn.connect(ctx, `wss://127.0.0.1:${port}/`, TRUST));
      assert.ok(error instanceof TlsError, String(error));
      assert.match(error.message, /refused by the post-handshake check/);
      await withTimeout(tcpClosed, 3000, 'the server seeing the connection end');
      assert.equal(received, 0, 'not one byte of the WebSocket handshake was sent');
    });
  }
});

describe('TLS context creator (manual 3.3)', () => {
  it('client: returned options are merged over the defaults; a SecureContext is used as is; null keeps the built-in', async (t) => {
    const srv = await listenTls(t);
    const ctx = clientCtx(t);
    const infos: TlsContextInfo[] = [];
    // The CA comes only from the creator: the defaults have none.
    ctx.tlsContextCreator = (conn, info) => {
      assert.equal(conn.role, 'client');
      infos.push(info);
      return { ca: certs.ca };
    };
    assert.equal(await serverNameSeen(ctx, srv.url, {}), 'localhost');
    assert.equal(infos[0]!.isClient, true);
    assert.equal(infos[0]!.listener, null);
    assert.equal(infos[0]!.defaults.minVersion, 'TLSv1.2');
    assert.equal(infos[0]!.defaults.ca, undefined);
    // Asynchronous, returning a SecureContext.
    ctx.tlsContextCreator = async () => createSecureContext({ ca: certs.ca, maxVersion: 'TLSv1.2' });
    const conn = await Conn.open(ctx, srv.url, READY);
    assert.equal((conn.socket as TLSSocket).getProtocol(), 'TLSv1.2');
    await conn.close();
    // null: the built-in context, from the options.
    ctx.tlsContextCreator = () => null;
    assert.equal(await serverNameSeen(ctx, srv.url, TRUST), 'localhost');
    // A throw, a rejection or options the version policy refuses: TlsError.
    for (const creator of [
      () => {
        throw new Error('no context today');
      },
      () => Promise.reject(new Error('vault unreachable')),
      () => ({ minVersion: 'TLSv1' as const }),
    ]) {
      ctx.tlsContextCreator = creator;
      const error = await failure(Conn.connect(ctx, srv.url, TRUST));
      assert.ok(error instanceof TlsError, String(error));
    }
  });

  it('server: called per connection with the listener; can supply the certificate; failures keep the listener serving', async (t) => {
    const serverCtx = new Context();
    const calls: Array<{ isClient: boolean; listener: Listener | null; hasCert: boolean }> = [];
    let mode: 'options' | 'context' | 'throw' = 'options';
    serverCtx.tlsContextCreator = (conn, info) => {
      assert.equal(conn.role, 'listener');
      calls.push({ isClient: info.isClient, listener: info.listener, hasCert: info.defaults.cert !== undefined });
      if (mode === 'throw') throw new Error('refused');
      if (mode === 'context') return createSecureContext({ cert: certs.otherCert, key: certs.otherKey });
      return { ...info.defaults, cert: certs.serverCert, key: certs.serverKey };
    };
    // No certificate at any level: the creator supplies it.
    const srv = await listenTls(t, { certificate: undefined as never }, serverCtx);
    const ctx = clientCtx(t);
    assert.equal(await serverNameSeen(ctx, srv.url, TRUST), 'localhost');
    assert.deepEqual(calls, [{ isClient: false, listener: srv.listener, hasCert: false }]);
    mode = 'context';
    assert.equal(await serverNameSeen(ctx, srv.url, { tls: { verifyPeer: false } }), 'other.test');
    mode = 'throw';
    assert.ok((await failure(Conn.connect(ctx, srv.url, TRUST))) instanceof Error);
    let dropped = await srv.closed.next(3000);
    while (dropped.closeInfo?.error === undefined) dropped = await srv.closed.next(3000, 'the refused connection');
    assert.ok(dropped.closeInfo.error instanceof TlsError, String(dropped.closeInfo.error));
    assert.match(dropped.closeInfo.error.message, /context creator failed: refused/);
    mode = 'options';
    assert.equal(await serverNameSeen(ctx, srv.url, TRUST), 'localhost');
    assert.equal(calls.length, 4);
  });
});

describe('versions, ALPN, options', () => {
  it('listener and client versions meet in the middle or fail with TlsError', async (t) => {
    const srv12 = await listenTls(t, { opts: { tls: { maxVersion: 'TLSv1.2' } } });
    const srv13 = await listenTls(t, { opts: { tls: { minVersion: 'TLSv1.3' } } });
    const ctx = clientCtx(t);
    const version = async (url: string, opts: ConnOptsInit): Promise<string | null> => {
      const conn = await Conn.open(ctx, url, { ...opts, ...READY });
      const v = (conn.socket as TLSSocket).getProtocol();
      await conn.close();
      return v;
    };
    assert.equal(await version(srv12.url, TRUST), 'TLSv1.2');
    assert.equal(await version(srv13.url, TRUST), 'TLSv1.3');
    const error = await failure(Conn.connect(ctx, srv13.url, { tls: { ca: certs.ca, maxVersion: 'TLSv1.2' } }));
    assert.ok(error instanceof TlsError);
    assert.match(error.message, /version|protocol/i);
  });

  it('ALPN is offered and agreed only when asked for (left open for a later HTTP/2 transport)', async (t) => {
    const srv = await listenTls(t, { opts: { tls: { alpnProtocols: ['h2', 'http/1.1'] } } });
    const ctx = clientCtx(t);
    const conn = await Conn.open(ctx, srv.url, { tls: { ca: certs.ca, alpnProtocols: ['http/1.1'] }, ...READY });
    assert.equal((conn.socket as TLSSocket).alpnProtocol, 'http/1.1');
    await echo(conn, 'alpn');
    await conn.close();
    const plain = await listenTls(t);
    const none = await Conn.open(ctx, plain.url, { ...TRUST, ...READY });
    assert.equal((none.socket as TLSSocket).alpnProtocol, false);
    await none.close();
  });

  it('client options are checked synchronously; nothing is registered when they are unusable', (t) => {
    const ctx = clientCtx(t);
    const url = 'wss://127.0.0.1:9/';
    assert.throws(() => Conn.connect(ctx, url, { tls: { cert: certs.clientCert } }), TypeError);
    assert.throws(() => Conn.connect(ctx, url, { tls: { ca: 'ca.crt' } }), /\{ file/);
    assert.throws(() => Conn.connect(ctx, url, { tls: { ca: { file: tlsFile('missing.crt') } } }), TlsError);
    assert.throws(
      () => Conn.connect(ctx, url, { tls: { cert: certs.clientCert, key: certs.otherKey } }),
      TlsError,
      'a key that does not match',
    );
    assert.throws(() => Conn.connect(ctx, url, { tls: { alpnProtocols: [''] } }), TypeError);
    assert.throws(() => Conn.connect(ctx, 'ftp://127.0.0.1/'), TypeError);
    assert.equal(ctx.connCount, 0);
  });

  it('ConnOpts setters: setSslCerts, sslPeerVerify, setSslProtocol build the tls options', () => {
    const opts = new ConnOpts()
      .setSslCerts(certs.clientCert, certs.clientKey, null, certs.ca)
      .sslPeerVerify(false)
      .setSslProtocol(SslProtocol.TLSV1_2);
    assert.deepEqual(opts.values.tls, {
      cert: certs.clientCert,
      key: certs.clientKey,
      ca: certs.ca,
      verifyPeer: false,
      sslProtocol: SslProtocol.TLSV1_2,
    });
    // All four are replaced, as in noPoll: null (or nothing) clears one.
    opts.setSslCerts(null, null, null, certs.ca);
    assert.deepEqual(opts.values.tls, { ca: certs.ca, verifyPeer: false, sslProtocol: SslProtocol.TLSV1_2 });
    opts.setSslCerts(null, null);
    assert.deepEqual(opts.values.tls, { verifyPeer: false, sslProtocol: SslProtocol.TLSV1_2 });
    assert.throws(() => opts.setSslProtocol(SslProtocol.SSLV3), /SSL 3\.0/);
    assert.throws(() => opts.setSslProtocol(99 as SslProtocol), RangeError);
  });

  it('a ConnectTarget with tls: true, default port 443 in the URL and the Host header', async (t) => {
    const srv = await listenTls(t);
    const ctx = clientCtx(t);
    const conn = await Conn.open(ctx, { host: '127.0.0.1', port: srv.port, tls: true }, { ...TRUST, ...READY });
    assert.equal(conn.isTlsOn, true);
    await echo(conn, 'target');
    await conn.close();
    const defaulted = Conn.connect(ctx, 'wss://127.0.0.1/', TRUST);
    assert.equal(defaulted.port, 443);
    assert.equal(defaulted.hostHeader, '127.0.0.1', 'no port in Host for the default wss port');
    defaulted.shutdown();
  });

  it('wss:// over IPv6 ([::1]): the certificate names ::1', async (t) => {
    if (!(await ipv6LoopbackAvailable())) {
      t.skip('::1 is not available on this machine');
      return;
    }
    const srv = await listenTls(t, { host: '::1', ipv6: true });
    const ctx = clientCtx(t);
    const conn = await Conn.open(ctx, srv.url, { ...TRUST, ...READY });
    assert.equal(conn.socket?.remoteAddress, '::1');
    await echo(conn, 'IPv6');
    await conn.close();
  });

  it('a client over a socket it connected itself (nopoll_conn_tls_new_with_socket)', async (t) => {
    const srv = await listenTls(t);
    const ctx = clientCtx(t);
    const { connect } = await import('node:net');
    const socket = connect({ host: '127.0.0.1', port: srv.port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const conn = await Conn.open(ctx, { host: '127.0.0.1', port: srv.port, tls: true, socket }, { ...TRUST, ...READY });
    assert.equal((conn.socket as TLSSocket).encrypted, true);
    await echo(conn, 'own socket');
    await conn.close();
  });
});

describe('port sharing with TLS (manual 2.2)', () => {
  it('acceptTlsSocket on a detached listener, with the sniffed bytes handed over', async (t) => {
    const serverCtx = new Context();
    serverCtx.onMessage = (conn, msg) => {
      conn.sendText(`shared: ${msg.text}`);
    };
    const detached = Listener.detached(serverCtx, { tls: { cert: certs.serverCert, key: certs.serverKey } });
    assert.equal(detached.isTls, false);
    const server = createNetServer((socket: Socket) => {
      socket.once('data', (head: Buffer) => {
        if (head[0] === 0x16) detached.acceptTlsSocket(socket, head);
        else socket.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      await serverCtx.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const ctx = clientCtx(t);
    const conn = await Conn.open(ctx, `wss://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      ...TRUST,
      ...READY,
    });
    conn.sendText('hi');
    assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'shared: hi');
    await conn.close();
  });

  it('sharePort sends TLS connections to the listener through the TLS accept hook', async (t) => {
    const serverCtx = new Context();
    serverCtx.onMessage = (conn, msg) => {
      conn.sendText(`${conn.isTlsOn ? 'wss' : 'ws'}: ${msg.text}`);
    };
    const listener = Listener.detached(serverCtx, { tls: { cert: certs.serverCert, key: certs.serverKey } });
    const server = createNetServer();
    const shared = sharePort(server, { listener });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      shared.close();
      await serverCtx.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as AddressInfo).port;
    const ctx = clientCtx(t);
    for (const url of [`wss://127.0.0.1:${port}/`, `ws://127.0.0.1:${port}/`]) {
      const conn = await Conn.open(ctx, url, { ...TRUST, ...READY });
      conn.sendText('hi');
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, `${url.slice(0, url.indexOf(':'))}: hi`);
      await conn.close();
    }
  });
});
