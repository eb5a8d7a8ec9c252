/**
 * TLS interoperability with the `ws` package, both ways: a `ws` client over wss:// to our TLS listener (with and
 * without client certificates), and our client to a `ws` server running on Node's `https.createServer` (with and
 * without mutual TLS). Valid traffic: text, binary, a large message, close codes.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { Conn, Context, TlsError } from '../../src/index.js';
import { certs, listenTls } from '../helpers/tls.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { openWs, wrapWs, type WsPeer } from '../helpers/ws-peers.js';

const READY = { timeoutMs: 5000 };

async function wsEcho(peer: WsPeer, data: Buffer | string): Promise<void> {
  peer.ws.send(data);
  const echo = await peer.messages.next(5000);
  assert.equal(echo.isBinary, typeof data !== 'string');
  assert.deepEqual(echo.data, typeof data === 'string' ? Buffer.from(data) : data);
}

describe('ws client -> nopoll TLS listener', () => {
  it('echoes text, binary and 1 MiB over wss://, and closes cleanly', async (t) => {
    const srv = await listenTls(t);
    const peer = await openWs(srv.url, undefined, { ca: certs.ca });
    t.after(() => peer.ws.terminate());
    await wsEcho(peer, 'héllo from ws over TLS ✓');
    await wsEcho(peer, Buffer.from([0, 1, 2, 3, 255]));
    await wsEcho(peer, Buffer.alloc(1024 * 1024, 0x5a));
    const server = await srv.ready.next(3000);
    assert.equal(server.isTlsOn, true);
    peer.ws.close(4001, 'done');
    const closed = await withTimeout(peer.closed, 5000, 'ws close');
    // The listener answers with the same code (and no reason).
    assert.deepEqual([closed.code, closed.wasClean], [4001, true]);
    const info = await withTimeout(server.closed, 5000, 'server close');
    assert.deepEqual([info.code, info.reason], [4001, 'done']);
  });

  it('ws refuses our certificate without the CA (its default verification), and accepts it with the CA', async (t) => {
    const srv = await listenTls(t);
    await assert.rejects(openWs(srv.url), /self-signed|unable to verify|certificate/i);
    const peer = await openWs(srv.url, undefined, { ca: certs.ca });
    t.after(() => peer.ws.terminate());
    await wsEcho(peer, 'verified');
  });

  it('mutual TLS: a ws client with a client certificate passes; without one it never opens', async (t) => {
    const srv = await listenTls(t, { opts: { tls: { ca: certs.ca, verifyPeer: true } } });
    const peer = await openWs(srv.url, undefined, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    t.after(() => peer.ws.terminate());
    await wsEcho(peer, 'mutual');
    const server = await srv.ready.next(3000);
    assert.equal((server.socket as TLSSocket).getPeerCertificate().subject.CN, 'nopoll test client');

    await assert.rejects(openWs(srv.url, undefined, { ca: certs.ca }));
    const refused = await srv.closed.next(3000);
    assert.ok(refused.closeInfo?.error instanceof TlsError, String(refused.closeInfo?.error));
  });
});

/** A `ws` server on an https server (Node's TLS server), echoing. */
async function startWssServer(
  t: TestContext,
  tls: { requestCert?: boolean; rejectUnauthorized?: boolean; ca?: Buffer } = {},
): Promise<{ url: string; connections: AsyncQueue<{ peer: WsPeer; socket: TLSSocket }> }> {
  const https: HttpsServer = createHttpsServer({ cert: certs.serverCert, key: certs.serverKey, ...tls });
  const wss = new WebSocketServer({ server: https, perMessageDeflate: false });
  const connections = new AsyncQueue<{ peer: WsPeer; socket: TLSSocket }>();
  wss.on('connection', (ws, req) => {
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }));
    connections.push({ peer: wrapWs(ws), socket: req.socket as TLSSocket });
  });
  https.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        https.closeAllConnections();
        https.close(() => resolve());
      }),
  );
  return { url: `wss://127.0.0.1:${(https.address() as AddressInfo).port}/`, connections };
}

describe('nopoll client -> ws server on https', () => {
  it('connects with the CA, echoes text and binary, closes with a code and reason', async (t) => {
    const server = await startWssServer(t);
    const ctx = new Context();
    t.after(() => ctx.close());
    const conn = await Conn.open(ctx, server.url, { tls: { ca: certs.ca }, ...READY });
    assert.equal(conn.isTlsOn, true);
    conn.sendText('nopoll over TLS → ws');
    assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'nopoll over TLS → ws');
    const bytes = Buffer.alloc(300_000, 7);
    conn.sendBinary(bytes);
    const echo = await conn.nextMsg({ timeoutMs: 5000 });
    assert.equal(echo.isBinary, true);
    assert.deepEqual(echo.payload, bytes);
    const { peer } = await server.connections.next(3000);
    const info = await conn.close(4000, 'bye');
    assert.deepEqual([info.code, info.wasClean], [4000, true]);
    const seen = await withTimeout(peer.closed, 5000, 'ws server close');
    assert.deepEqual([seen.code, seen.reason], [4000, 'bye']);
  });

  it('mutual TLS against https: our client certificate is presented and verified; without it, TlsError', async (t) => {
    const server = await startWssServer(t, { requestCert: true, rejectUnauthorized: true, ca: certs.ca });
    const ctx = new Context();
    ctx.onError = () => undefined;
    t.after(() => ctx.close());
    const conn = await Conn.open(ctx, server.url, {
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      ...READY,
    });
    const { socket } = await server.connections.next(3000);
    assert.equal(socket.authorized, true);
    assert.equal(socket.getPeerCertificate().subject.CN, 'nopoll test client');
    conn.sendText('mutual');
    assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'mutual');
    await conn.close();

    const refused = Conn.connect(ctx, server.url, { tls: { ca: certs.ca } });
    await assert.rejects(refused.waitUntilReady(READY), TlsError);
  });
});
