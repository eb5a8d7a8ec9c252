/**
 * TLS test helpers: the committed test certificates (test/fixtures/tls, made by its generate.sh), a nopoll TLS echo
 * listener, and a raw TLS WebSocket client that does its own upgrade (to shape the bytes inside TLS records).
 * Loopback only; everything they open is closed by the returned handles.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { ListenOptions } from '../../src/api/listener-bind.js';
import type { Conn } from '../../src/api/conn.js';
import type { Msg } from '../../src/api/msg.js';
import { AsyncQueue, withTimeout } from './ws-async.js';

// build/test/helpers/tls.js -> the repository root.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where the test certificates are. */
export const TLS_DIR = join(ROOT, 'test', 'fixtures', 'tls');

/** Path of a fixture file (`ca.crt`, `server.key`, ...). */
export function tlsFile(name: string): string {
  return join(TLS_DIR, name);
}

/** Contents of a fixture file. */
export function tlsPem(name: string): Buffer {
  return readFileSync(tlsFile(name));
}

/** Every fixture, loaded once. */
export const certs = {
  ca: tlsPem('ca.crt'),
  serverCert: tlsPem('server.crt'),
  serverKey: tlsPem('server.key'),
  clientCert: tlsPem('client.crt'),
  clientKey: tlsPem('client.key'),
  otherCert: tlsPem('other.crt'),
  otherKey: tlsPem('other.key'),
  expiredCert: tlsPem('expired.crt'),
  expiredKey: tlsPem('expired.key'),
  untrustedCert: tlsPem('untrusted.crt'),
  untrustedKey: tlsPem('untrusted.key'),
};

/** A nopoll TLS listener on 127.0.0.1 (by default with server.crt) that echoes and records. */
export interface TlsEchoListener {
  ctx: Context;
  listener: Listener;
  port: number;
  url: string;
  received: AsyncQueue<{ conn: Conn; msg: Msg }>;
  ready: AsyncQueue<Conn>;
  /** Every connection that ended, with its close info (failed TLS accepts included). */
  closed: AsyncQueue<Conn>;
  close(): Promise<void>;
}

/** Starts a TLS echo listener. `options` overrides the listen options (certificate, opts, host...). */
export async function startTlsEchoListener(
  options: Partial<ListenOptions> = {},
  ctx = new Context(),
): Promise<TlsEchoListener> {
  const received = new AsyncQueue<{ conn: Conn; msg: Msg }>();
  const ready = new AsyncQueue<Conn>();
  const closed = new AsyncQueue<Conn>();
  ctx.onReady = (conn) => {
    ready.push(conn);
  };
  ctx.onClose = (conn) => closed.push(conn);
  ctx.onMessage = (conn, msg) => {
    received.push({ conn, msg });
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  // Handler errors are expected in some tests; keep them off the console.
  ctx.onError ??= () => undefined;
  const listener = await Listener.listen(ctx, {
    host: '127.0.0.1',
    port: 0,
    tls: true,
    certificate: { cert: certs.serverCert, key: certs.serverKey },
    ...options,
  });
  const host = listener.host.includes(':') ? `[${listener.host}]` : listener.host;
  return {
    ctx,
    listener,
    port: listener.port,
    url: `wss://${host}:${listener.port}/`,
    received,
    ready,
    closed,
    close: () => withTimeout(ctx.close(), 10_000, 'closing the TLS echo listener'),
  };
}

/** A raw TLS client after its WebSocket upgrade: the socket and the bytes that followed the 101 head. */
export interface RawTlsClient {
  socket: TLSSocket;
  head: string;
  rest: Buffer;
}

/** Connects with TLS (trusting the test CA), sends an upgrade request by hand and reads the response head. */
export async function rawTlsUpgrade(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<RawTlsClient> {
  const socket = tlsConnect({ host, port, ca: certs.ca });
  socket.on('error', () => undefined);
  try {
    await withTimeout(
      new Promise<void>((res, rej) => {
        socket.once('secureConnect', () => res());
        socket.once('error', rej);
      }),
      timeoutMs,
      'raw TLS connect',
    );
    const key = randomBytes(16).toString('base64');
    socket.write(
      `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const { head, rest } = await withTimeout(
      new Promise<{ head: string; rest: Buffer }>((res, rej) => {
        let buffer = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          buffer = Buffer.concat([buffer, chunk]);
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          socket.off('data', onData);
          socket.pause();
          res({ head: buffer.subarray(0, end).toString('latin1'), rest: buffer.subarray(end + 4) });
        };
        socket.on('data', onData);
        socket.once('close', () => rej(new Error('closed before the response head')));
      }),
      timeoutMs,
      'raw TLS upgrade response',
    );
    return { socket, head, rest };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Client options trusting the test CA. */
export const TRUST: ConnOptsInit = { tls: { ca: certs.ca } };

/** A client context whose connections are dropped after the test (handler errors are expected and ignored). */
export function clientCtx(t: TestContext): Context {
  const ctx = new Context();
  ctx.onError = () => undefined;
  t.after(() => {
    for (const conn of [...ctx.conns]) conn.shutdown();
  });
  return ctx;
}

/** {@link startTlsEchoListener}, closed after the test. */
export async function listenTls(
  t: TestContext,
  ...args: Parameters<typeof startTlsEchoListener>
): Promise<TlsEchoListener> {
  const srv = await startTlsEchoListener(...args);
  t.after(() => srv.close());
  return srv;
}
