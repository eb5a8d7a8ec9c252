/**
 * HTTP/2 test helpers (RFC 8441): a nopoll echo listener serving HTTP/2 beside HTTP/1.1 (cleartext or TLS), a Node
 * `http2` client doing extended CONNECT by hand, and a TCP relay that decodes the HTTP/2 frames crossing it (type,
 * flags, stream, error code), to see on the wire whether a stream ended with END_STREAM or RST_STREAM.
 * Loopback only; everything is closed after the test.
 */
import { connect as h2Connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { Context } from '../../src/api/context.js';
import { Listener, type ListenOptions } from '../../src/api/listener.js';
import type { Conn } from '../../src/api/conn.js';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import type { Msg } from '../../src/api/msg.js';
import { certs } from './tls.js';
import { AsyncQueue, withTimeout } from './ws-async.js';

/** A running echo listener with HTTP/2 on. */
export interface H2Echo {
  ctx: Context;
  listener: Listener;
  port: number;
  /** ws:// or wss:// URL of `/`. */
  url: string;
  /** http:// or https:// origin, for Node's http2 client. */
  origin: string;
  ready: AsyncQueue<Conn>;
  closed: AsyncQueue<Conn>;
  received: AsyncQueue<{ conn: Conn; msg: Msg }>;
}

/** Starts a nopoll echo listener with `http2` on 127.0.0.1 (TLS with the test certificate when `tls`). */
export async function startH2Echo(
  t: TestContext,
  options: { tls?: boolean; opts?: ConnOptsInit; listen?: Partial<ListenOptions>; ctx?: Context } = {},
): Promise<H2Echo> {
  const ctx = options.ctx ?? new Context();
  const ready = new AsyncQueue<Conn>();
  const closed = new AsyncQueue<Conn>();
  const received = new AsyncQueue<{ conn: Conn; msg: Msg }>();
  ctx.onReady ??= (conn) => {
    ready.push(conn);
  };
  ctx.onClose ??= (conn) => closed.push(conn);
  ctx.onMessage ??= (conn, msg) => {
    received.push({ conn, msg });
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  ctx.onError ??= () => undefined;
  const tls = options.tls === true;
  const listener = await Listener.listen(ctx, {
    host: '127.0.0.1',
    port: 0,
    http2: true,
    ...(tls ? { tls: true, certificate: { cert: certs.serverCert, key: certs.serverKey } } : {}),
    ...(options.opts !== undefined ? { opts: options.opts } : {}),
    ...options.listen,
  });
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the HTTP/2 echo listener'));
  return {
    ctx,
    listener,
    port: listener.port,
    url: `${tls ? 'wss' : 'ws'}://127.0.0.1:${listener.port}/`,
    origin: `${tls ? 'https' : 'http'}://127.0.0.1:${listener.port}`,
    ready,
    closed,
    received,
  };
}

/** A Node http2 client session (trusting the test CA), destroyed after the test. Resolves on the server's SETTINGS. */
export async function nodeH2Session(t: TestContext, origin: string): Promise<ClientHttp2Session> {
  const session = h2Connect(origin, { ca: certs.ca });
  session.on('error', () => undefined);
  t.after(() => {
    if (!session.destroyed) session.destroy();
  });
  await withTimeout(new Promise<void>((resolve) => session.once('remoteSettings', () => resolve())), 5000, 'the server SETTINGS');
  return session;
}

/** An extended CONNECT sent by hand, with its answer. */
export interface RawConnect {
  stream: ClientHttp2Stream;
  status: number;
  headers: IncomingHttpHeaders;
}

/**
 * Sends an extended CONNECT for a WebSocket on `session` (`:protocol websocket`, version 13, then `extra`, which
 * may override or, with undefined, remove a field) and waits for the answer's HEADERS.
 */
export async function rawConnect(session: ClientHttp2Session, path = '/', extra: Record<string, string | string[] | undefined> = {}): Promise<RawConnect> {
  const headers: OutgoingHttpHeaders = { ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, 'sec-websocket-version': '13' };
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  const stream = session.request(headers, { endStream: false });
  stream.on('error', () => undefined);
  const answer = await withTimeout(
    new Promise<IncomingHttpHeaders>((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('close', () => reject(new Error(`the stream closed before an answer (code ${stream.rstCode})`)));
    }),
    5000,
    'the extended CONNECT answer',
  );
  return { stream, status: Number(answer[':status']), headers: answer };
}

/** Reads what is left of a stream's body (a refusal's text). */
export function readBody(stream: ClientHttp2Stream, timeoutMs = 3000): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (text += chunk));
      stream.once('end', () => resolve(text));
      stream.once('close', () => resolve(text));
    }),
    timeoutMs,
    'the stream body',
  );
}

/** One HTTP/2 frame seen by the relay. */
export interface SeenFrame {
  /** `'c2s'` from the client, `'s2c'` from the server. */
  dir: 'c2s' | 's2c';
  type: number;
  flags: number;
  stream: number;
  length: number;
  /** RST_STREAM and GOAWAY: the error code. */
  code?: number;
}

/** HTTP/2 frame types (RFC 9113 §6) and flags used by the tests. */
export const H2 = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, GOAWAY: 0x7, END_STREAM: 0x1 } as const;

/**
 * A TCP relay to `127.0.0.1:targetPort` that decodes the cleartext HTTP/2 frames crossing it (after the client's
 * 24-byte preface). `frames` fills as they pass.
 */
export async function h2FrameRelay(t: TestContext, targetPort: number): Promise<{ port: number; frames: SeenFrame[] }> {
  const frames: SeenFrame[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = netConnect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    const watch = (from: Socket, to: Socket, dir: SeenFrame['dir'], skip: number): void => {
      let pending = Buffer.alloc(0);
      let toSkip = skip;
      from.on('data', (chunk: Buffer) => {
        to.write(chunk);
        pending = Buffer.concat([pending, chunk]);
        if (toSkip > 0) {
          const n = Math.min(toSkip, pending.length);
          pending = pending.subarray(n);
          toSkip -= n;
        }
        while (pending.length >= 9) {
          const length = pending.readUIntBE(0, 3);
          if (pending.length < 9 + length) break;
          const frame: SeenFrame = { dir, type: pending[3]!, flags: pending[4]!, stream: pending.readUInt32BE(5) & 0x7fffffff, length };
          if (frame.type === H2.RST_STREAM) frame.code = pending.readUInt32BE(9);
          if (frame.type === H2.GOAWAY) frame.code = pending.readUInt32BE(13);
          frames.push(frame);
          pending = pending.subarray(9 + length);
        }
      });
      from.on('end', () => to.end());
      from.on('close', () => to.destroy());
    };
    watch(client, upstream, 'c2s', 24);
    watch(upstream, client, 's2c', 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, frames };
}
