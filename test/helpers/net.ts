/**
 * Raw-socket helpers for tests that must see or shape the bytes on the wire: a frame encoder written
 * independently of the library, a frame reader, a raw WebSocket client that does its own upgrade, and a raw
 * WebSocket server. Loopback only; every socket and timer they create is released by `destroy()`/`close()`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** RFC 6455 §1.3. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for `key`, computed here (not with the library) so tests check the library against it. */
export function expectedAccept(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

/** A frame as read off the wire, payload already unmasked. */
export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** What to put in a frame built by {@link encodeFrame}. */
export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** Default true. */
  fin?: boolean;
  /** Masking key (4 bytes); null or absent sends the frame unmasked. */
  mask?: Buffer | null;
  /** Announce this length in the 64-bit form instead of the real payload length (for oversized-frame tests). */
  announcedLength?: bigint;
}

/** Builds one frame (RFC 6455 §5.2). The payload is copied, never masked in place. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload =
    typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : (spec.payload ?? Buffer.alloc(0));
  const mask = spec.mask ?? null;
  const fin = spec.fin ?? true;
  let lengthBytes: Buffer;
  let len7: number;
  if (spec.announcedLength !== undefined) {
    len7 = 127;
    lengthBytes = Buffer.alloc(8);
    lengthBytes.writeBigUInt64BE(spec.announcedLength);
  } else if (payload.length < 126) {
    len7 = payload.length;
    lengthBytes = Buffer.alloc(0);
  } else if (payload.length < 0x10000) {
    len7 = 126;
    lengthBytes = Buffer.alloc(2);
    lengthBytes.writeUInt16BE(payload.length);
  } else {
    len7 = 127;
    lengthBytes = Buffer.alloc(8);
    lengthBytes.writeBigUInt64BE(BigInt(payload.length));
  }
  const head = Buffer.from([(fin ? 0x80 : 0) | (spec.opcode & 0x0f), (mask ? 0x80 : 0) | len7]);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, lengthBytes, mask ?? Buffer.alloc(0), body]);
}

/** A masked client frame with a fresh random key. */
export function clientFrame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  return encodeFrame({ opcode, payload, fin, mask: randomBytes(4) });
}

/** A close frame body: code plus optional reason. */
export function closeBody(code: number, reason = ''): Buffer {
  const out = Buffer.alloc(2 + Buffer.byteLength(reason));
  out.writeUInt16BE(code);
  out.write(reason, 2);
  return out;
}

/** Resolves after `ms`, or rejects with `label` when `promise` does not settle in time. The timer is always cleared. */
export function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type FrameWaiter = { resolve: (frame: Frame) => void; reject: (error: Error) => void };

/**
 * Parses every frame arriving on a socket (masked or not) into a queue. `next()` takes the oldest one.
 * `onFrame`, when set, sees each frame first (the raw server uses it to answer close frames).
 */
export class FrameReader {
  readonly socket: Socket;
  onFrame: ((frame: Frame) => void) | null = null;
  #buffer: Buffer = Buffer.alloc(0);
  readonly #queue: Frame[] = [];
  readonly #waiters: FrameWaiter[] = [];
  #ended = false;
  readonly #endWaiters: Array<() => void> = [];
  #error: Error | null = null;

  constructor(socket: Socket, initial: Buffer = Buffer.alloc(0)) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#push(chunk));
    socket.on('end', () => this.#end());
    socket.on('close', () => this.#end());
    if (initial.length > 0) this.#push(initial);
  }

  /** True once the peer ended its side or the socket closed. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Frames received and not taken yet. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Bytes of an incomplete frame held back. */
  get partialBytes(): number {
    return this.#buffer.length;
  }

  /** The next frame; rejects if the socket ends first, or after `timeoutMs`. */
  next(timeoutMs = 3000): Promise<Frame> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.reject(new Error('the socket ended before another frame arrived'));
    return new Promise<Frame>((resolve, reject) => {
      const waiter: FrameWaiter = {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves when the peer ended its side (FIN) or the socket closed; rejects after `timeoutMs`. */
  whenEnded(timeoutMs = 3000): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return within(new Promise<void>((resolve) => this.#endWaiters.push(resolve)), timeoutMs, 'socket end');
  }

  #push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const frame = this.#parseOne();
      if (frame === null) return;
      this.onFrame?.(frame);
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(frame);
      else this.#queue.push(frame);
    }
  }

  #parseOne(): Frame | null {
    const buf = this.#buffer;
    if (buf.length < 2) return null;
    const b0 = buf[0]!;
    const b1 = buf[1]!;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let at = 2;
    if (length === 126) {
      if (buf.length < 4) return null;
      length = buf.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      if (buf.length < 10) return null;
      const big = buf.readBigUInt64BE(2);
      if (big > 64n * 1024n * 1024n) {
        this.#error = new Error(`peer announced a ${big}-byte frame`);
        return null;
      }
      length = Number(big);
      at = 10;
    }
    const maskAt = at;
    if (masked) at += 4;
    if (buf.length < at + length) return null;
    const payload = Buffer.from(buf.subarray(at, at + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ buf[maskAt + (i & 3)]!;
    this.#buffer = buf.subarray(at + length);
    return { fin: (b0 & 0x80) !== 0, rsv: b0 & 0x70, opcode: b0 & 0x0f, masked, payload };
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0))
      waiter.reject(new Error('the socket ended before another frame arrived'));
    for (const resolve of this.#endWaiters.splice(0)) resolve();
  }
}

/** Reads an HTTP head (up to the empty line) from a socket; the bytes after it are returned as `rest`. */
export function readHead(socket: Socket, timeoutMs = 3000): Promise<{ head: string; rest: Buffer }> {
  return within(
    new Promise((resolve, reject) => {
      let buffer = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        buffer = Buffer.concat([buffer, chunk]);
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        cleanup();
        resolve({ head: buffer.subarray(0, end).toString('latin1'), rest: buffer.subarray(end + 4) });
      };
      const onClose = (): void => {
        cleanup();
        reject(new Error('the socket closed before a complete HTTP head arrived'));
      };
      const cleanup = (): void => {
        socket.off('data', onData);
        socket.off('close', onClose);
      };
      socket.on('data', onData);
      socket.on('close', onClose);
    }),
    timeoutMs,
    'HTTP head',
  );
}

/** A header value from a raw HTTP head, or null. */
export function headerValue(head: string, name: string): string | null {
  const wanted = name.toLowerCase();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted) return line.slice(colon + 1).trim();
  }
  return null;
}

/** Connects a plain TCP socket to a loopback address. */
export function connectRaw(port: number, host = '127.0.0.1'): Promise<Socket> {
  return within(
    new Promise<Socket>((resolve, reject) => {
      const socket = connect({ port, host });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        resolve(socket);
      });
      socket.once('error', reject);
    }),
    3000,
    'TCP connect',
  );
}

/** A raw WebSocket client: its own upgrade request, frames read with a {@link FrameReader}. */
export interface RawClient {
  socket: Socket;
  reader: FrameReader;
  /** The server's response head. */
  response: string;
  /** Writes `data` in pieces cut at `cuts`, waiting `pauseMs` between pieces. */
  writeInPieces(data: Buffer, cuts: readonly number[], pauseMs: number): Promise<void>;
  /** Destroys the socket. */
  destroy(): void;
}

/** Connects and upgrades (RFC 6455 §4.1) without the library; checks the 101 and its accept key. */
export async function rawUpgrade(port: number, host = '127.0.0.1', path = '/'): Promise<RawClient> {
  const socket = await connectRaw(port, host);
  try {
    const key = randomBytes(16).toString('base64');
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host.includes(':') ? `[${host}]` : host}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const { head, rest } = await readHead(socket);
    if (!head.startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${head.split('\r\n')[0]}`);
    if (headerValue(head, 'sec-websocket-accept') !== expectedAccept(key))
      throw new Error('wrong Sec-WebSocket-Accept');
    const reader = new FrameReader(socket, rest);
    return {
      socket,
      reader,
      response: head,
      writeInPieces: (data, cuts, pauseMs) => writeInPieces(socket, data, cuts, pauseMs),
      destroy: () => socket.destroy(),
    };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Writes `data` cut at the offsets `cuts` (ascending), pausing `pauseMs` between the pieces. */
export async function writeInPieces(
  socket: Socket,
  data: Buffer,
  cuts: readonly number[],
  pauseMs: number,
): Promise<void> {
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    if (from > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    socket.write(data.subarray(from, cut));
    from = cut;
  }
}

/** A connection accepted by {@link RawWsServer}. */
export interface RawServerConn {
  socket: Socket;
  /** The client's request head. */
  request: string;
  /** Its Sec-WebSocket-Key. */
  key: string;
  /** Frames the client sends, unmasked. */
  reader: FrameReader;
}

/** Options of {@link RawWsServer.start}. */
export interface RawWsServerOptions {
  /** Sec-WebSocket-Accept to answer for a key; default the correct value. */
  acceptFor?: (key: string) => string;
  /** Answer a client's close frame with a close frame and end TCP (default true). */
  echoClose?: boolean;
}

/** A minimal WebSocket server written without the library, to look at what a client puts on the wire. */
export class RawWsServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #accepted: RawServerConn[] = [];
  readonly #waiters: Array<(conn: RawServerConn) => void> = [];

  private constructor(server: Server, options: RawWsServerOptions) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.#sockets.delete(socket));
      readHead(socket).then(
        ({ head, rest }) => {
          const key = headerValue(head, 'sec-websocket-key') ?? '';
          const accept = options.acceptFor ? options.acceptFor(key) : expectedAccept(key);
          socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
          );
          const reader = new FrameReader(socket, rest);
          if (options.echoClose ?? true) {
            reader.onFrame = (frame) => {
              if (frame.opcode !== 0x8 || socket.destroyed) return;
              socket.end(encodeFrame({ opcode: 0x8, payload: frame.payload.subarray(0, 2) }));
            };
          }
          const conn: RawServerConn = { socket, request: head, key, reader };
          const waiter = this.#waiters.shift();
          if (waiter) waiter(conn);
          else this.#accepted.push(conn);
        },
        () => socket.destroy(),
      );
    });
  }

  /** Listens on 127.0.0.1, ephemeral port. */
  static start(options: RawWsServerOptions = {}): Promise<RawWsServer> {
    const server = createServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(new RawWsServer(server, options)));
    });
  }

  /** The port bound. */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** The next upgraded connection. */
  nextConn(timeoutMs = 3000): Promise<RawServerConn> {
    const queued = this.#accepted.shift();
    if (queued) return Promise.resolve(queued);
    return within(new Promise<RawServerConn>((resolve) => this.#waiters.push(resolve)), timeoutMs, 'raw server accept');
  }

  /** Destroys every socket and stops listening. */
  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Whether this machine can listen on and connect to ::1. */
export function ipv6LoopbackAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => {
      const socket = connect({ host: '::1', port: (server.address() as AddressInfo).port });
      const done = (ok: boolean): void => {
        socket.destroy();
        server.close(() => resolve(ok));
      };
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
  });
}
