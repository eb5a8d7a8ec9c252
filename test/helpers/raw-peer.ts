/**
 * A WebSocket peer written by hand over `node:net`, for putting crafted bytes on the wire: it does its own HTTP
 * upgrade (as a client against a listener, or as a server answering a client), encodes frames exactly as asked
 * (any RSV bits, opcode, mask or announced length) and decodes whatever comes back, recording who ended TCP first.
 * Independent of the library on purpose: nothing here imports from src/.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { AsyncQueue, withTimeout } from './ws-async.js';

/** RFC 6455 §1.3 GUID. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** `Sec-WebSocket-Accept` for a key, computed independently of the library. */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** Opcodes, spelled out here so the helper depends on nothing under test. */
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** A frame to put on the wire. */
export interface FrameSpec {
  opcode: number;
  /** FIN bit (default true). */
  fin?: boolean;
  /** RSV bits as they sit in the first byte: 0x40 (RSV1), 0x20 (RSV2), 0x10 (RSV3), or a combination. */
  rsv?: number;
  payload?: Buffer | string;
  /** Mask the frame (default: the peer's role, true for a client). */
  mask?: boolean;
  /** Length to announce in the header when it differs from the payload's (to send a header alone). */
  announce?: number;
}

/** A decoded frame, payload unmasked. */
export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Encodes a frame; `defaultMask` applies when the spec does not say. */
export function encodeFrame(spec: FrameSpec, defaultMask: boolean): Buffer {
  const payload =
    typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : (spec.payload ?? Buffer.alloc(0));
  const length = spec.announce ?? payload.length;
  const masked = spec.mask ?? defaultMask;
  const ext = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const header = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  header[0] = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) & 0x70) | (spec.opcode & 0x0f);
  header[1] = (masked ? 0x80 : 0) | (ext === 0 ? length : ext === 2 ? 126 : 127);
  if (ext === 2) header.writeUInt16BE(length, 2);
  if (ext === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!masked) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  key.copy(header, 2 + ext);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([header, body]);
}

/** A close frame body: a code (2 bytes) and an optional reason (string or raw bytes). */
export function closeBody(code: number, reason: string | Buffer = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason]);
}

/** Code and reason of a close frame's payload; code null for an empty body. */
export function parseClose(payload: Buffer): { code: number | null; reason: string } {
  if (payload.length < 2) return { code: null, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

/** Decodes every complete frame at the start of `buf`; returns them and the bytes left over. */
function decodeFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let pos = 0;
  for (;;) {
    if (buf.length - pos < 2) break;
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    let length = b1 & 0x7f;
    let at = pos + 2;
    if (length === 126) {
      if (buf.length - at < 2) break;
      length = buf.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (buf.length - at < 8) break;
      length = Number(buf.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? buf.subarray(at, at + 4) : null;
    if (masked) at += 4;
    if (buf.length - at < length) break;
    const payload = Buffer.from(buf.subarray(at, at + length));
    if (key !== null) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: b0 & 0x70, opcode: b0 & 0x0f, masked, payload });
    pos = at + length;
  }
  return { frames, rest: buf.subarray(pos) };
}

/** One end of a raw WebSocket connection after the opening handshake. */
export class RawPeer {
  readonly socket: Socket;
  /** Whether frames we send are masked by default (true for a client). */
  readonly masks: boolean;
  /** Frames received and not yet taken. */
  readonly frames = new AsyncQueue<Frame>();
  /** Resolves when the other side ended TCP (its FIN arrived) or the socket closed. */
  readonly ended: Promise<void>;
  /** Resolves when the socket is fully closed. */
  readonly closed: Promise<void>;
  /** True when the other side's FIN arrived before we ended or destroyed our side. */
  peerEndedFirst = false;
  /** True once the other side's FIN arrived. */
  peerEnded = false;
  #weEnded = false;
  #buf: Buffer = Buffer.alloc(0);

  constructor(socket: Socket, masks: boolean, initial: Buffer) {
    this.socket = socket;
    this.masks = masks;
    let markEnded!: () => void;
    this.ended = new Promise((resolve) => (markEnded = resolve));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.once('end', () => {
      this.peerEnded = true;
      if (!this.#weEnded) this.peerEndedFirst = true;
      markEnded();
    });
    socket.once('close', () => markEnded());
    if (initial.length > 0) this.#onData(initial);
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const { frames, rest } = decodeFrames(this.#buf);
    this.#buf = rest;
    for (const frame of frames) this.frames.push(frame);
  }

  /** Sends one frame (masked according to the role unless the spec says). */
  send(spec: FrameSpec): void {
    this.socket.write(encodeFrame(spec, this.masks));
  }

  /** Sends several frames in one write. */
  sendAll(specs: FrameSpec[]): void {
    this.socket.write(Buffer.concat(specs.map((s) => encodeFrame(s, this.masks))));
  }

  /** Writes raw bytes. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next frame received, waiting at most `timeoutMs`. */
  nextFrame(timeoutMs = 3000): Promise<Frame> {
    return this.frames.next(timeoutMs, 'waiting for a frame');
  }

  /** Waits for the other side to end TCP, at most `timeoutMs`. */
  waitEnded(timeoutMs = 3000): Promise<void> {
    return withTimeout(this.ended, timeoutMs, 'waiting for the peer to end TCP');
  }

  /** Waits for the socket to close fully, at most `timeoutMs`. */
  waitClosed(timeoutMs = 3000): Promise<void> {
    return withTimeout(this.closed, timeoutMs, 'waiting for the socket to close');
  }

  /** Ends our side of TCP (FIN). */
  end(): void {
    this.#weEnded = true;
    this.socket.end();
  }

  /** Drops the socket. */
  destroy(): void {
    this.#weEnded = true;
    this.socket.destroy();
  }
}

/** Reads from `socket` until an HTTP head (`\r\n\r\n`) arrived; returns the head text and the bytes after it. */
export function readHead(socket: Socket, timeoutMs = 3000): Promise<{ head: string; rest: Buffer }> {
  const reading = new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const at = buf.indexOf('\r\n\r\n');
      if (at < 0) return;
      cleanup();
      // Stop the flow until the caller attaches its own reader, so no byte after the head is lost.
      socket.pause();
      resolve({ head: buf.subarray(0, at).toString('latin1'), rest: buf.subarray(at + 4) });
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`socket closed before a complete HTTP head (got ${JSON.stringify(buf.toString('latin1'))})`));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
  return withTimeout(reading, timeoutMs, 'reading an HTTP head');
}

/** A parsed HTTP head: the first line split, headers with lower-cased names (repeated ones joined by ", "). */
export interface ParsedHead {
  startLine: string;
  status: number;
  headers: Map<string, string>;
}

/** Parses an HTTP head's text. `status` is the response status (NaN for a request line). */
export function parseHead(head: string): ParsedHead {
  const [startLine = '', ...lines] = head.split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)!}, ${value}` : value);
  }
  return { startLine, status: Number(startLine.split(' ')[1]), headers };
}

/** Opens a TCP connection to 127.0.0.1:`port` (half-open allowed, so who closes first can be observed). */
export function tcpConnect(port: number, host = '127.0.0.1', timeoutMs = 3000): Promise<Socket> {
  const socket = connect({ host, port, allowHalfOpen: true });
  socket.setNoDelay(true);
  const connecting = new Promise<Socket>((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
  return withTimeout(connecting, timeoutMs, 'TCP connect').catch((error: unknown) => {
    socket.destroy();
    throw error;
  });
}

/** Options of a raw client upgrade. */
export interface RawUpgradeOptions {
  host?: string;
  path?: string;
  protocols?: string[];
  /** Extra header lines, e.g. `Origin: http://x`. */
  extraHeaders?: string[];
  /** Bytes written in the same write as the request head (frames pipelined before the answer). */
  pipelined?: Buffer;
}

/** A raw client that completed the upgrade, with the server's response head. */
export interface RawClient {
  peer: RawPeer;
  response: ParsedHead;
}

/** Connects to a listener on `port`, performs the upgrade, checks 101 and the accept key, returns the peer. */
export async function rawClient(port: number, options: RawUpgradeOptions = {}): Promise<RawClient> {
  const host = options.host ?? '127.0.0.1';
  const socket = await tcpConnect(port, host);
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${options.path ?? '/'} HTTP/1.1`,
    `Host: ${host}:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...(options.protocols && options.protocols.length > 0
      ? [`Sec-WebSocket-Protocol: ${options.protocols.join(', ')}`]
      : []),
    ...(options.extraHeaders ?? []),
  ];
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  socket.write(options.pipelined ? Buffer.concat([head, options.pipelined]) : head);
  try {
    const { head, rest } = await readHead(socket);
    const response = parseHead(head);
    if (response.status !== 101) throw new Error(`upgrade refused: ${response.startLine}`);
    if (response.headers.get('sec-websocket-accept') !== acceptFor(key)) throw new Error('wrong Sec-WebSocket-Accept');
    const peer = new RawPeer(socket, true, rest);
    socket.resume();
    return { peer, response };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** What a raw HTTP exchange returned. */
export interface RawHttpResult {
  /** Parsed response head, or null when the server closed without a complete head. */
  response: ParsedHead | null;
  /** Bytes after the head (the body), as text. */
  body: string;
  /** Everything received. */
  raw: string;
  /** Milliseconds from connecting until the server's FIN (or the socket's close). */
  closedAfterMs: number;
}

/**
 * Sends `request` bytes to 127.0.0.1:`port` and reads until the server ends the connection (bounded by
 * `timeoutMs`; the socket is always destroyed afterwards). Our side stays open after writing.
 */
export async function rawHttp(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawHttpResult> {
  const socket = await tcpConnect(port);
  const started = Date.now();
  const chunks: Buffer[] = [];
  const done = new Promise<number>((resolve) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.once('end', () => resolve(Date.now() - started));
    socket.once('close', () => resolve(Date.now() - started));
  });
  socket.write(request);
  try {
    const closedAfterMs = await withTimeout(done, timeoutMs, 'waiting for the server to close the connection');
    const raw = Buffer.concat(chunks).toString('latin1');
    const at = raw.indexOf('\r\n\r\n');
    return {
      response: at < 0 ? null : parseHead(raw.slice(0, at)),
      body: at < 0 ? '' : raw.slice(at + 4),
      raw,
      closedAfterMs,
    };
  } finally {
    socket.destroy();
  }
}

/** A connection a {@link RawServer} accepted, with the request head read. */
export interface RawIncoming {
  socket: Socket;
  request: ParsedHead;
  /** Bytes after the request head. */
  rest: Buffer;
}

/** A TCP server on 127.0.0.1 that answers WebSocket upgrades by hand. */
export class RawServer {
  readonly server: Server;
  readonly port: number;
  readonly #incoming = new AsyncQueue<RawIncoming>();
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server, port: number) {
    this.server = server;
    this.port = port;
  }

  /** Starts listening on an ephemeral port. */
  static async start(): Promise<RawServer> {
    let deliver: (socket: Socket) => void = () => undefined;
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => deliver(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const raw = new RawServer(server, (server.address() as AddressInfo).port);
    deliver = (socket) => raw.#onConnection(socket);
    return raw;
  }

  #onConnection(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.#sockets.delete(socket));
    readHead(socket).then(
      ({ head, rest }) => this.#incoming.push({ socket, request: parseHead(head), rest }),
      () => socket.destroy(),
    );
  }

  /** The next connection whose request head arrived. */
  next(timeoutMs = 5000): Promise<RawIncoming> {
    return this.#incoming.next(timeoutMs, 'waiting for a client connection');
  }

  /**
   * Answers `incoming` with a correct 101 (plus `extraHeaders`, and `pipelined` bytes in the same write) and
   * returns the peer (frames unmasked).
   */
  static accept(incoming: RawIncoming, extraHeaders: string[] = [], pipelined?: Buffer): RawPeer {
    const key = incoming.request.headers.get('sec-websocket-key') ?? '';
    const lines = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${acceptFor(key)}`,
      ...extraHeaders,
    ];
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    incoming.socket.write(pipelined ? Buffer.concat([head, pipelined]) : head);
    const peer = new RawPeer(incoming.socket, false, incoming.rest);
    incoming.socket.resume();
    return peer;
  }

  /** Destroys every connection and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
