/**
 * noPoll's TLS regression tests (`test/nopoll-regression-client.c`, nopoll-api.md §4.2) against the regression
 * listener's TLS ports (§4.1), all on ephemeral loopback ports in this process: test_06, 06a, 07, 08, 13, 18, 19
 * (as TLS version tests), 21, the TLS halves of 22 and 23, and 48.
 *
 * Differences from noPoll, with the reason:
 * - The listener presents test/fixtures/tls/server.crt (CN localhost, SAN localhost, 127.0.0.1 and ::1, signed by
 *   the test CA) instead of noPoll's expired self-signed RSA-1024 certificate. Our client verifies the chain and
 *   the host name by default, so these tests give it the test CA (noPoll's clients turned verification off).
 * - test_19: SSLv23 and TLS_FLEXIBLE negotiate TLS 1.2 or 1.3; SSLv3, TLS 1.0 and TLS 1.1 are refused with a
 *   RangeError before anything is sent (noPoll tried them). noPoll's TLS 1.1 ports (1238, 2238) are pinned to
 *   TLS 1.2 here and its TLS 1.2 port (1240) to TLS 1.3.
 * - test_21: our client verifies the server by default, so "no options" fails on the unknown CA exactly as
 *   noPoll's did; with a client certificate but without the CA, it fails too (noPoll's opts turned verification
 *   off); with both, it works.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Conn, ConnOpts, Context, SslProtocol, TlsError, type CloseInfo, type ConnOptsInit } from '../../src/index.js';
import { startRegressionListener, type RegressionListener } from '../../src/cli/regression-listener.js';
import { clientFrame, FrameReader, ipv6LoopbackAvailable, within } from '../helpers/net.js';
import { certs, rawTlsUpgrade, tlsFile, TRUST } from '../helpers/tls.js';

const READY = { timeoutMs: 5000 };
const READ = { timeoutMs: 3000 };
/** What noPoll's clients pass: here the CA that signed the listener's certificate. */

let rl: RegressionListener;
let ipv6 = false;

before(async () => {
  rl = await startRegressionListener({
    port4: 0,
    port6: null,
    host4: '127.0.0.1',
    tls: {
      cert: { file: tlsFile('server.crt') },
      key: { file: tlsFile('server.key') },
      ca: { file: tlsFile('ca.crt') },
      ports: { 1235: 0, 2235: 0, 1238: 0, 2238: 0, 1239: 0, 1240: 0 },
    },
  });
  ipv6 = rl.tls![2235] !== null && rl.tls![2238] !== null && (await ipv6LoopbackAvailable());
});

after(async () => {
  await rl?.close();
});

function tlsPort(base: 1235 | 2235 | 1238 | 2238 | 1239 | 1240): number {
  const listener = rl.tls?.[base];
  assert.ok(listener, `the TLS listener for ${base} is running`);
  return listener.port;
}

function url(base: 1235 | 1238 | 1239 | 1240 = 1235): string {
  return `wss://127.0.0.1:${tlsPort(base)}/`;
}

/** A fresh context whose connections are all dropped when the test ends. */
function newCtx(t: TestContext): Context {
  const ctx = new Context();
  ctx.onError = () => undefined;
  t.after(() => {
    for (const conn of [...ctx.conns]) conn.shutdown();
  });
  return ctx;
}

async function echo(conn: Conn, text: string): Promise<void> {
  assert.equal(conn.sendText(text), Buffer.byteLength(text));
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.isText, true);
  assert.equal(msg.text, text);
}

function tlsSocket(conn: Conn): TLSSocket {
  assert.equal(conn.isTlsOn, true);
  const socket = conn.socket as TLSSocket;
  assert.equal(socket.encrypted, true);
  return socket;
}

test('noPoll test_06: a TLS client to 1235 becomes ready and isTlsOn is true on both sides', async (t) => {
  const ctx = newCtx(t);
  const conn = Conn.connect(ctx, url(), TRUST);
  assert.equal(conn.isTlsOn, true, 'TLS is on from the start');
  await conn.waitUntilReady(READY);
  assert.equal(conn.isReady, true);
  const socket = tlsSocket(conn);
  assert.equal(socket.authorized, true, 'the server certificate verified against the test CA');
  assert.equal(new X509Certificate(socket.getPeerCertificate().raw).subject.includes('CN=localhost'), true);
  const port = socket.localPort;
  const server = rl.ctx.forEachConn((c) => c.port === port);
  assert.ok(server);
  assert.equal(server.isTlsOn, true);
  assert.equal(server.listener, rl.tls![1235]);
  await conn.close();

  // noPoll's clients turned verification off instead: that works too, explicitly.
  const unverified = await Conn.open(ctx, url(), { tls: { verifyPeer: false }, ...READY });
  assert.equal(tlsSocket(unverified).authorized, false, 'the CA is unknown, and that was accepted');
  await unverified.close();
});

test('noPoll test_06a: the same over IPv6 to [::1] on 2235', async (t) => {
  if (!ipv6) {
    t.skip('::1 is not available on this machine');
    return;
  }
  const ctx = newCtx(t);
  const conn = await Conn.open(ctx, `wss://[::1]:${tlsPort(2235)}/`, { ...TRUST, ...READY });
  assert.equal(conn.isTlsOn, true);
  assert.equal(conn.socket?.remoteAddress, '::1');
  assert.equal(tlsSocket(conn).authorized, true, 'the certificate names ::1');
  assert.equal(conn.hostHeader, `[::1]:${tlsPort(2235)}`);
  await echo(conn, 'This is a test over IPv6 and TLS');
  await conn.close();
});

test('noPoll test_07: TLS echo on 1235, including a message sent before the handshake completed', async (t) => {
  const ctx = newCtx(t);
  const conn = Conn.connect(ctx, url(), TRUST);
  assert.equal(conn.sendText('This is a test'), 14, 'queued until the TLS and WebSocket handshakes are done');
  const first = await conn.nextMsg(READ);
  assert.equal(first.text, 'This is a test');
  await echo(conn, 'héllo over TLS ✓');
  const big = 'x'.repeat(200_000);
  await echo(conn, big);
  const info = await conn.close();
  assert.equal(info.wasClean, true);
});

test('noPoll test_08: a plain ws:// client to the TLS port 1235 never becomes ready; the port keeps serving', async (t) => {
  const ctx = newCtx(t);
  const plain = Conn.connect(ctx, `ws://127.0.0.1:${tlsPort(1235)}/`);
  const error = await plain.waitUntilReady(READY).then(
    () => assert.fail('a plain client must not become ready on a TLS port'),
    (e: unknown) => e as Error,
  );
  assert.equal(plain.isReady, false);
  assert.equal(plain.isOk, false);
  assert.match(error.name, /HandshakeError|ConnectError/);
  // The listener's side saw a TLS failure and dropped it; TLS clients still get through.
  const conn = await Conn.open(ctx, url(), { ...TRUST, ...READY });
  await echo(conn, 'still serving');
  await conn.close();
});

test('noPoll test_13: the context certificate store: named entries, the default entry, replacement', () => {
  const ctx = new Context();
  assert.equal(ctx.findCertificate('unknown.example'), null);
  assert.equal(ctx.findCertificate(null), null, 'empty store');
  assert.equal(ctx.setCertificate('a.example', certs.serverCert, certs.serverKey), true);
  assert.equal(ctx.setCertificate('b.example', certs.otherCert, certs.otherKey, certs.ca), true);
  assert.equal(ctx.setCertificate('c.example', { file: tlsFile('client.crt') }, { file: tlsFile('client.key') }), true);
  assert.deepEqual(ctx.findCertificate('a.example')?.cert, certs.serverCert);
  assert.deepEqual(ctx.findCertificate('b.example')?.key, certs.otherKey);
  assert.deepEqual(ctx.findCertificate('b.example')?.chain, certs.ca);
  assert.deepEqual(ctx.findCertificate('c.example')?.cert, certs.clientCert, 'read from the file');
  assert.equal(ctx.findCertificate('C.Example')?.serverName, 'c.example', 'names compare case-insensitively');
  assert.equal(ctx.findCertificate('unknown.example'), null);
  // Lookup by null: the first entry while there is no nameless one, then the nameless one.
  assert.equal(ctx.findCertificate(null)?.serverName, 'a.example');
  ctx.setCertificate(null, certs.otherCert, certs.otherKey);
  assert.equal(ctx.findCertificate(null)?.serverName, null);
  assert.deepEqual(ctx.findCertificate(null)?.cert, certs.otherCert);
  // Same name again: replaced (noPoll kept the first; a renewed certificate must be able to take over).
  ctx.setCertificate('a.example', certs.otherCert, certs.otherKey);
  assert.deepEqual(ctx.findCertificate('a.example')?.cert, certs.otherCert);
  assert.equal(ctx.removeCertificate('a.example'), true);
  assert.equal(ctx.findCertificate('a.example'), null);
  assert.equal(ctx.removeCertificate('a.example'), false);
  // Unusable input is refused at once.
  assert.throws(() => ctx.setCertificate('x', 'server.crt', 'server.key'), TypeError, 'a file name must be { file }');
  assert.throws(() => ctx.setCertificate('x', { file: tlsFile('missing.crt') }, certs.serverKey), TlsError);
});

test('noPoll test_18: a TLS client registered in its context; loopWait returns each time it is called', async (t) => {
  const ctx = newCtx(t);
  const conn = await Conn.open(ctx, url(), { ...TRUST, ...READY });
  assert.equal(ctx.connCount, 1);
  assert.equal(ctx.conns.has(conn), true);
  assert.equal(await ctx.loopWait(20), 'timeout');
  assert.equal(await ctx.loopWait(20), 'timeout');
  await echo(conn, 'after two loop waits');
  await conn.close();
  assert.equal(ctx.connCount, 0);
});

test('noPoll test_19: TLS versions: pinned ports, pinned clients, and the refused old protocols', async (t) => {
  const ctx = newCtx(t);
  const negotiated = async (target: string, opts: ConnOptsInit): Promise<string | null> => {
    const conn = await Conn.open(ctx, target, { ...opts, ...READY });
    await echo(conn, `echo over ${tlsSocket(conn).getProtocol()}`);
    const version = tlsSocket(conn).getProtocol();
    await conn.close();
    return version;
  };
  // The ports: 1238/2238 speak TLS 1.2 only, 1240 TLS 1.3 only, 1235 both (the best wins).
  assert.equal(await negotiated(url(1238), TRUST), 'TLSv1.2');
  assert.equal(await negotiated(url(1240), TRUST), 'TLSv1.3');
  assert.equal(await negotiated(url(1235), TRUST), 'TLSv1.3');
  if (ipv6) assert.equal(await negotiated(`wss://[::1]:${tlsPort(2238)}/`, TRUST), 'TLSv1.2');

  // noPoll's protocol values on the client.
  const pinned = (protocol: SslProtocol): ConnOptsInit => ({ tls: { ca: certs.ca, sslProtocol: protocol } });
  assert.equal(await negotiated(url(1235), pinned(SslProtocol.SSLV23)), 'TLSv1.3', 'SSLv23 means "negotiate"');
  assert.equal(await negotiated(url(1235), pinned(SslProtocol.TLS_FLEXIBLE)), 'TLSv1.3');
  assert.equal(await negotiated(url(1235), pinned(SslProtocol.TLSV1_2)), 'TLSv1.2');
  assert.equal(await negotiated(url(1238), pinned(SslProtocol.TLSV1_2)), 'TLSv1.2');
  assert.equal(await negotiated(url(1240), pinned(SslProtocol.TLSV1_3)), 'TLSv1.3');
  assert.equal(
    await negotiated(url(1235), { tls: { ca: certs.ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } }),
    'TLSv1.2',
  );
  assert.equal(
    await negotiated(
      url(1235),
      new ConnOpts().setSslCerts(null, null, null, certs.ca).setSslProtocol(SslProtocol.TLSV1_3).values,
    ),
    'TLSv1.3',
  );

  // No version in common: a TlsError, and the ports keep serving.
  for (const [target, protocol] of [
    [url(1238), SslProtocol.TLSV1_3],
    [url(1240), SslProtocol.TLSV1_2],
  ] as const) {
    const conn = Conn.connect(ctx, target, pinned(protocol));
    await assert.rejects(conn.waitUntilReady(READY), TlsError);
    assert.equal(conn.isOk, false);
  }

  // SSLv3, TLS 1.0 and TLS 1.1 are refused before anything is sent: nothing is registered.
  for (const protocol of [SslProtocol.SSLV3, SslProtocol.TLSV1, SslProtocol.TLSV1_1]) {
    assert.throws(() => Conn.connect(ctx, url(), pinned(protocol)), RangeError);
    assert.throws(() => new ConnOpts().setSslProtocol(protocol), RangeError);
  }
  assert.throws(() => Conn.connect(ctx, url(), { tls: { minVersion: 'TLSv1.1' as 'TLSv1.2' } }), /TLS 1\.1 is refused/);
  assert.throws(() => Conn.connect(ctx, url(), { tls: { maxVersion: 'TLSv1' as 'TLSv1.2' } }), /TLS 1\.0 is refused/);
  assert.throws(() => Conn.connect(ctx, url(), { tls: { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' } }), RangeError);
  assert.equal(ctx.connCount, 0);
  await echo(await Conn.open(ctx, url(1240), { ...TRUST, ...READY }), 'the pinned ports still serve');
});

test('noPoll test_21: mutual TLS on 1239: refused without the CA or without a client certificate, works with both', async (t) => {
  const ctx = newCtx(t);
  // No options at all: our client does not know the test CA, so it refuses the server (as noPoll's did).
  const bare = Conn.connect(ctx, url(1239));
  const bareError = await bare.waitUntilReady(READY).then(
    () => assert.fail('must fail'),
    (e: unknown) => e as Error,
  );
  assert.ok(bareError instanceof TlsError, String(bareError));
  // (The listener also sends the CA it trusts for client certificates, hence "self-signed ... in chain".)
  assert.match(bareError.message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN/);

  // The CA but no client certificate: the server demands one and refuses.
  const closes: Conn[] = [];
  rl.ctx.onClose = (conn) => closes.push(conn);
  t.after(() => (rl.ctx.onClose = null));
  const noCert = Conn.connect(ctx, url(1239), TRUST);
  const noCertError = await noCert.waitUntilReady(READY).then(
    () => assert.fail('must fail'),
    (e: unknown) => e as Error,
  );
  assert.ok(noCertError instanceof TlsError, `client side: ${String(noCertError)}`);
  assert.match(noCertError.message, /certificate required|handshake failure/i);
  const refused = await within(
    (async () => {
      while (!closes.some((c) => c.listener === rl.tls![1239])) await new Promise((r) => setTimeout(r, 5));
      return closes.find((c) => c.listener === rl.tls![1239])!;
    })(),
    3000,
    'the listener dropping the client without a certificate',
  );
  assert.ok(refused.closeInfo?.error instanceof TlsError, `server side: ${String(refused.closeInfo?.error)}`);

  // A client certificate, but no CA to check the server with: our client refuses the server.
  const noCa = Conn.connect(ctx, url(1239), new ConnOpts().setSslCerts(certs.clientCert, certs.clientKey));
  await assert.rejects(noCa.waitUntilReady(READY), TlsError);

  // Both, as noPoll's set_ssl_certs(client.pem, client.pem, NULL, root.pem): the echo works.
  const opts = new ConnOpts().setSslCerts({ file: tlsFile('client.crt') }, { file: tlsFile('client.key') }, null, {
    file: tlsFile('ca.crt'),
  });
  const conn = await Conn.open(ctx, url(1239), { ...opts.values, ...READY });
  await echo(conn, 'This is a test over mutual TLS');
  const port = tlsSocket(conn).localPort;
  const server = rl.ctx.forEachConn((c) => c.port === port);
  assert.ok(server);
  const serverSocket = server.socket as TLSSocket;
  assert.equal(serverSocket.authorized, true, 'the listener verified the client certificate');
  assert.equal(serverSocket.getPeerCertificate().subject.CN, 'nopoll test client');
  await conn.close();
});

test("noPoll test_22 (TLS): a socket destroyed behind the client's back fires on_close (1006) once", async (t) => {
  const ctx = newCtx(t);
  const conn = await Conn.open(ctx, url(), { ...TRUST, ...READY });
  const calls: CloseInfo[] = [];
  conn.onClose = (_c, info) => calls.push(info);
  conn.socket!.destroy();
  const info = await within(conn.closed, 3000, 'on_close');
  assert.equal(conn.getMsg(), null);
  assert.equal(conn.isOk, false);
  assert.deepEqual(
    calls.map((c) => c.code),
    [1006],
  );
  assert.equal(info.wasClean, false);
  assert.equal(ctx.connCount, 0);
  assert.equal(conn.sendText('too late'), -1);

  // During the TLS handshake: the same, exactly once.
  const early = Conn.connect(ctx, url(), TRUST);
  const earlyCalls: CloseInfo[] = [];
  early.onClose = (_c, i) => earlyCalls.push(i);
  early.socket!.destroy();
  await within(early.closed, 3000, 'on_close during the TLS handshake');
  await assert.rejects(early.waitUntilReady(READY));
  assert.deepEqual(
    earlyCalls.map((c) => c.code),
    [1006],
  );
  assert.equal(ctx.connCount, 0);
});

test("noPoll test_23 (TLS): the listener's close count changes after a TLS connection closes", async (t) => {
  const ctx = newCtx(t);
  async function closeCount(conn: Conn): Promise<number> {
    assert.equal(conn.sendText('get-connection-close-count'), 26);
    const msg = await conn.nextMsg(READ);
    assert.match(msg.text, /^\d+$/);
    return Number(msg.text);
  }
  const first = await Conn.open(ctx, url(), { ...TRUST, ...READY });
  const before = await closeCount(first);
  await first.close();
  const second = await Conn.open(ctx, url(), { ...TRUST, ...READY });
  let afterwards = await closeCount(second);
  for (let i = 0; i < 20 && afterwards === before; i++) {
    await new Promise((r) => setTimeout(r, 25));
    afterwards = await closeCount(second);
  }
  assert.ok(afterwards > before, `${afterwards} > ${before}`);
  await second.close();
});

test('noPoll test_48: two complete masked frames written in one TLS record are both echoed, in order', async (t) => {
  const raw = await rawTlsUpgrade(tlsPort(1235));
  t.after(() => raw.socket.destroy());
  assert.match(raw.head, /^HTTP\/1\.1 101 /);
  const reader = new FrameReader(raw.socket, raw.rest);
  raw.socket.resume();
  const packed = Buffer.concat([clientFrame(0x1, 'packed-frame-1'), clientFrame(0x1, 'packed-frame-2')]);
  // One write of less than a record's 16 KiB: one TLS record carrying both frames.
  raw.socket.write(packed);
  const first = await reader.next(3000);
  const second = await reader.next(3000);
  assert.deepEqual([first.opcode, first.payload.toString()], [0x1, 'packed-frame-1']);
  assert.deepEqual([second.opcode, second.payload.toString()], [0x1, 'packed-frame-2']);
  assert.equal(reader.pending, 0);
});
