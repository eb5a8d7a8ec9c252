/**
 * HTTP/2 test helpers (RFC 8441): a nopoll echo listener serving HTTP/2 beside HTTP/1.1 (cleartext or TLS), a Node
 * `http2` client doing extended CONNECT by hand, and a TCP relay that decodes the HTTP/2 frames crossing it (type,
 * flags, stream, error code), to see on the wire whether a stream ended with END_STREAM or RST_STREAM.
 * Loopback only; everything is closed after the test.
 */
import {
  connect as h2Connect,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { ListenOptions } from '../../src/api/listener-bind.js';
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
  await withTimeout(
    new Promise<void>((resolve) => session.once('remoteSettings', () => resolve())),
    5000,
    'the server SETTINGS',
  );
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
export async function rawConnect(
  session: ClientHttp2Session,
  path = '/',
  extra: Record<string, string | string[] | undefined> = {},
): Promise<RawConnect> {
  const headers: OutgoingHttpHeaders = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':path': path,
    'sec-websocket-version': '13',
  };
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
          const frame: SeenFrame = {
            dir,
            type: pending[3]!,
            flags: pending[4]!,
            stream: pending.readUInt32BE(5) & 0x7fffffff,
            length,
          };
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

/**
 * A raw HTTP/2 client that ignores what the server asks of it (its stream limit, its patience), to play the
 * hostile peer: it sends the preface and an empty SETTINGS, acknowledges the server's SETTINGS, and writes HEADERS
 * frames whose header block is HPACK literals without indexing (RFC 7541 §6.2.2), no Huffman. Every frame the
 * server sends is decoded into `frames` (header blocks are not decoded: a HEADERS frame on a stream is the answer).
 */
export class RawH2 {
  readonly socket: Socket;
  readonly frames: SeenFrame[] = [];
  #pending = Buffer.alloc(0);
  #closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => undefined);
    socket.on('close', () => (this.#closed = true));
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
  }

  /** Connects to 127.0.0.1:port and sends the preface and SETTINGS (`sendPreface: false` sends nothing). */
  static async connect(t: TestContext, port: number, sendPreface = true): Promise<RawH2> {
    const socket = netConnect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      }),
      3000,
      'raw HTTP/2 connect',
    );
    const peer = new RawH2(socket);
    if (sendPreface)
      socket.write(
        Buffer.concat([
          Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
          frame(H2.SETTINGS, 0, 0, Buffer.alloc(0)),
        ]),
      );
    return peer;
  }

  /** True once the server closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends HEADERS (END_HEADERS, and END_STREAM when `endStream`) with `fields` on stream `id`. */
  headers(id: number, fields: ReadonlyArray<readonly [string, string]>, endStream = false): void {
    const block = Buffer.concat(
      fields.map(([name, value]) => Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)])),
    );
    this.socket.write(frame(H2.HEADERS, 0x4 | (endStream ? H2.END_STREAM : 0), id, block));
  }

  /** Sends a WebSocket extended CONNECT on stream `id` (`extra` fields appended). */
  connectWebSocket(id: number, extra: ReadonlyArray<readonly [string, string]> = []): void {
    this.headers(id, [
      [':method', 'CONNECT'],
      [':protocol', 'websocket'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'x'],
      ['sec-websocket-version', '13'],
      ...extra,
    ]);
  }

  /** Sends DATA on stream `id`. */
  data(id: number, payload: Buffer, endStream = false): void {
    this.socket.write(frame(H2.DATA, endStream ? H2.END_STREAM : 0, id, payload));
  }

  /** Sends RST_STREAM with `code` on stream `id`. */
  reset(id: number, code = 0x8): void {
    const body = Buffer.alloc(4);
    body.writeUInt32BE(code);
    this.socket.write(frame(H2.RST_STREAM, 0, id, body));
  }

  /** Waits until `test` holds for the frames received (or the connection closed, when `orClose`). */
  async until(test: (frames: SeenFrame[]) => boolean, timeoutMs: number, what: string, orClose = false): Promise<void> {
    await withTimeout(
      (async () => {
        while (!test(this.frames) && !(orClose && this.#closed))
          await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      timeoutMs,
      what,
    );
  }

  #receive(chunk: Buffer): void {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 9) {
      const length = this.#pending.readUIntBE(0, 3);
      if (this.#pending.length < 9 + length) break;
      const p = this.#pending;
      const seen: SeenFrame = { dir: 's2c', type: p[3]!, flags: p[4]!, stream: p.readUInt32BE(5) & 0x7fffffff, length };
      if (seen.type === H2.RST_STREAM) seen.code = p.readUInt32BE(9);
      if (seen.type === H2.GOAWAY) seen.code = p.readUInt32BE(13);
      this.frames.push(seen);
      // Acknowledge the server's SETTINGS, as any client must (else it may give up on us).
      if (seen.type === H2.SETTINGS && (seen.flags & 0x1) === 0 && !this.socket.destroyed)
        this.socket.write(frame(H2.SETTINGS, 0x1, 0, Buffer.alloc(0)));
      this.#pending = p.subarray(9 + length);
    }
  }
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

// An HPACK string literal without Huffman coding (RFC 7541 §5.2), its length a 7-bit-prefix integer (§5.1).
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  const length: number[] = [];
  if (bytes.length < 127) length.push(bytes.length);
  else {
    length.push(127);
    let rest = bytes.length - 127;
    while (rest >= 128) {
      length.push((rest & 0x7f) | 0x80);
      rest >>= 7;
    }
    length.push(rest);
  }
  return Buffer.concat([Buffer.from(length), bytes]);
}
