/**
 * `nopoll/ws`'s `WebSocket`: `ws` 8's class of the same name (doc/ws.md), as a thin layer over a nopoll {@link Conn}.
 * Framing, limits, UTF-8 checks, compression, the closing handshake and the heartbeat are nopoll's; this class
 * turns them into `ws`'s events, methods and properties. Clients run their opening handshake in `client.ts`;
 * servers hand their connections over through `attachServerSocket`.
 * @packageDocumentation
 */
import type { ClientRequestArgs } from 'node:http';
import type { Conn, CloseInfo } from '../api/conn.js';
import type { Msg } from '../api/msg.js';
import { isValidCloseCode } from '../protocol/close.js';
import { startClient, type ClientAttempt } from './client.js';
import { binaryData, closeReason, SendQueue, toBytes, type BinaryType } from './data.js';
import { WebSocketEmitter } from './emitter.js';
import { isReported, notOpenError, wsFailure } from './errors.js';
import { recordClean } from './events.js';
import type { ClientOptions, RawData, SendCallback, SendOptions, SocketSettings } from './options.js';
import type { WebSocketServer } from './server.js';
import type { createWebSocketStream } from './stream.js';
import { CLOSED, CLOSING, CONNECTING, defineReadyStates, OPEN, type ReadyState } from '../api/ready-state.js';

export type { BinaryType } from './data.js';
export type { SendCallback, SendOptions } from './options.js';

const TEXT = 1;
const BINARY = 2;
const EMPTY = Buffer.alloc(0);

let attach: (ws: WebSocket, conn: Conn, settings: SocketSettings) => void;

/** A WebSocket: a client (`new WebSocket(url)`) or a server's connection (from `'connection'`). */
export class WebSocket extends WebSocketEmitter {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: typeof CONNECTING;
  declare readonly OPEN: typeof OPEN;
  declare readonly CLOSING: typeof CLOSING;
  declare readonly CLOSED: typeof CLOSED;
  /** The class itself, as `require('ws').WebSocket`. */
  declare static WebSocket: typeof WebSocket;
  /** The server class, as `require('ws').WebSocketServer`. */
  declare static WebSocketServer: typeof WebSocketServer;
  /** The server class under its `ws` 7 name, as `require('ws').Server`. */
  declare static Server: typeof WebSocketServer;
  /** As `require('ws').createWebSocketStream`. */
  declare static createWebSocketStream: typeof createWebSocketStream;

  #conn: Conn | null = null;
  #state: ReadyState = CONNECTING;
  #binaryType: BinaryType = 'nodebuffer';
  #paused = false;
  #url: string | undefined = undefined;
  #afterClose = 0; // bytes passed to send/ping/pong once closing: counted in bufferedAmount, never sent
  #fragmentKind = 0; // TEXT or BINARY while a message sent with fin: false is open
  #sendQueue: SendQueue | null = null; // sends waiting behind a Blob being read
  #deferred: Array<() => void> | null = null; // events waiting for their turn (allowSynchronousEvents: false)
  #sync = true;
  #attempt: ClientAttempt | null = null;

  static {
    attach = (ws, conn, settings) => ws.#attach(conn, settings);
  }

  /**
   * A client connecting to `address` (`ws:`, `wss:`, `http:`, `https:` or `ws+unix:`), offering `protocols`.
   * `null` makes a server-side socket (servers do that). Throws `SyntaxError` for an unusable URL or subprotocol
   * and `RangeError` for an unsupported `protocolVersion`; later failures are `'error'` and `'close'` events.
   */
  constructor(address: null);
  constructor(address: string | URL, options?: ClientOptions | ClientRequestArgs);
  constructor(address: string | URL, protocols?: string | string[], options?: ClientOptions | ClientRequestArgs);
  constructor(
    address: string | URL | null,
    protocols?: string | readonly string[] | ClientOptions | ClientRequestArgs,
    options?: ClientOptions | ClientRequestArgs,
  ) {
    super();
    if (address === null) return;
    let opts = options;
    let list: unknown = protocols;
    if (protocols !== undefined && !Array.isArray(protocols) && typeof protocols === 'object' && protocols !== null) {
      opts = protocols as ClientOptions;
      list = undefined;
    }
    list ??= (opts as { protocols?: unknown } | undefined)?.protocols ?? [];
    const names = Array.isArray(list) ? (list as unknown[]) : [list];
    this.#attempt = startClient(
      {
        ws: this,
        setUrl: (url) => (this.#url = url),
        opened: (conn, settings) => this.#attach(conn, settings),
        failed: (error) => this.#failed(error),
        closing: () => (this.#state = CLOSING),
      },
      address,
      names,
      (opts ?? {}) as ClientOptions,
    );
  }

  // ---- properties ----

  /** `'nodebuffer'` (default), `'arraybuffer'`, `'fragments'` or `'blob'`; other values are ignored. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(type: BinaryType) {
    if (type === 'nodebuffer' || type === 'arraybuffer' || type === 'fragments' || type === 'blob')
      this.#binaryType = type;
  }

  /** Bytes queued and not yet handed to the operating system (frame headers included), plus those sent once closing. */
  get bufferedAmount(): number {
    return (this.#conn?.pendingWriteBytes ?? 0) + (this.#sendQueue?.bytes ?? 0) + this.#afterClose;
  }

  /** The extensions agreed: `'permessage-deflate'` or `''`. */
  get extensions(): string {
    return this.#conn?.perMessageDeflate ? 'permessage-deflate' : '';
  }

  /** Whether `pause()` is in effect. */
  get isPaused(): boolean {
    return this.#paused;
  }

  /** The subprotocol agreed, `''` when none. */
  get protocol(): string {
    return this.#conn?.acceptedProtocol ?? '';
  }

  /** `CONNECTING`, `OPEN`, `CLOSING` or `CLOSED`. */
  get readyState(): ReadyState {
    if (this.#state === OPEN && this.#conn !== null && this.#conn.state !== 'open') return CLOSING;
    return this.#state;
  }

  /** The URL connected to (clients; undefined on a server's sockets, as in `ws`). */
  get url(): string {
    return this.#url as string;
  }

  /** nopoll extension: the underlying connection (null before the handshake completed), with all of nopoll's API. */
  get conn(): Conn | null {
    return this.#conn;
  }

  // ---- sending ----

  /**
   * Sends a message (text for a string, binary otherwise, unless `options.binary` says), or a fragment of one with
   * `fin: false`. Throws while `CONNECTING`; once closing, `cb` gets an error. Text must be valid UTF-8 (else
   * `TypeError`, where `ws` would send it). `cb` runs once the data was written out.
   */
  send(data: unknown, cb?: SendCallback): void;
  send(data: unknown, options: SendOptions, cb?: SendCallback): void;
  send(data: unknown, options?: SendOptions | SendCallback, cb?: SendCallback): void {
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    // The common case first (a whole message of a Buffer or a string on an open socket), with no more checks than
    // the connection makes anyway.
    const conn = this.#conn;
    if (
      conn !== null &&
      this.#state === OPEN &&
      this.#sendQueue === null &&
      this.#fragmentKind === 0 &&
      options?.fin !== false &&
      conn.state === 'open'
    ) {
      let sent: number | undefined;
      if (Buffer.isBuffer(data))
        sent = options?.binary === false ? conn.sendText(data, options) : conn.sendBinary(data, options);
      else if (typeof data === 'string')
        sent = options?.binary === true ? conn.sendBinary(Buffer.from(data), options) : conn.sendText(data, options);
      if (sent !== undefined) {
        if (cb !== undefined) this.#whenWritten(sent, cb);
        return;
      }
    }
    const state = this.readyState;
    if (state === CONNECTING) throw notOpenError(CONNECTING);
    if (typeof data === 'number') data = data.toString();
    if (state !== OPEN) return this.#sentAfterClose(data, cb);
    if (this.#sendQueue !== null || data instanceof Blob) {
      const opts = options;
      return this.#queue().push(data, (bytes) => this.#send(bytes, opts, cb));
    }
    this.#send(data, options, cb);
  }

  #send(data: unknown, options: SendOptions | undefined, cb: SendCallback | undefined): void {
    const conn = this.#conn!;
    if (conn.state !== 'open') return this.#sentAfterClose(data, cb);
    const fin = options?.fin !== false;
    // Later fragments continue the open message whatever their type, as ws sends them (opcode 0).
    const kind =
      this.#fragmentKind !== 0 ? this.#fragmentKind : (options?.binary ?? typeof data !== 'string') ? BINARY : TEXT;
    const payload = data == null ? EMPTY : kind === TEXT && typeof data === 'string' ? data : toBytes(data);
    let sent: number;
    if (!fin || this.#fragmentKind !== 0) {
      sent = conn.sendFragment(payload, {
        binary: kind === BINARY,
        fin,
        ...(options?.compress !== undefined ? { compress: options.compress } : {}),
      });
      this.#fragmentKind = fin ? 0 : kind;
    } else if (kind === TEXT) {
      sent = conn.sendText(payload, options);
    } else {
      sent = conn.sendBinary(payload as Uint8Array, options);
    }
    if (cb !== undefined) this.#whenWritten(sent, cb);
  }

  /**
   * Sends a ping (at most 125 bytes: `RangeError` otherwise). `mask` is ignored. Throws while `CONNECTING`.
   */
  ping(data?: unknown, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.#control('ping', data, mask, cb);
  }

  /** Sends a pong, as {@link ping}. nopoll already answers every ping by itself. */
  pong(data?: unknown, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.#control('pong', data, mask, cb);
  }

  #control(
    kind: 'ping' | 'pong',
    data: unknown,
    mask: boolean | SendCallback | undefined,
    cb: SendCallback | undefined,
  ): void {
    const state = this.readyState;
    if (state === CONNECTING) throw notOpenError(CONNECTING);
    if (typeof data === 'function') {
      cb = data as SendCallback;
      data = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
    }
    if (typeof data === 'number') data = data.toString();
    if (state !== OPEN) return this.#sentAfterClose(data, cb);
    const send = (bytes: unknown): void => {
      const conn = this.#conn!;
      const payload = bytes == null || bytes === '' ? EMPTY : typeof bytes === 'string' ? bytes : toBytes(bytes);
      let sent: boolean;
      try {
        sent = kind === 'ping' ? conn.ping(payload) : conn.pong(payload);
      } catch (error) {
        if (error instanceof RangeError) throw new RangeError('The data size must not be greater than 125 bytes');
        throw error;
      }
      if (cb !== undefined) this.#whenWritten(sent ? 0 : -1, cb);
    };
    if (data instanceof Blob && data.size > 125)
      throw new RangeError('The data size must not be greater than 125 bytes');
    if (this.#sendQueue !== null || data instanceof Blob) this.#queue().push(data, send);
    else send(data);
  }

  #queue(): SendQueue {
    return (this.#sendQueue ??= new SendQueue(
      () => (this.#sendQueue = null),
      (error) => this.#emitError(error),
    ));
  }

  // `cb` once what was just sent reached the kernel (or failed to).
  #whenWritten(sent: number, cb: SendCallback): void {
    const conn = this.#conn!;
    if (sent < 0) {
      process.nextTick(cb, notOpenError(this.readyState));
      return;
    }
    conn.flushWrites().then(
      // As Node's write callbacks, and so ws's: null on success (typed as ws's types type it).
      () => cb(null as unknown as undefined),
      (error: Error) => cb(error),
    );
  }

  #sentAfterClose(data: unknown, cb: SendCallback | undefined): void {
    if (data)
      this.#afterClose +=
        data instanceof Blob ? data.size : typeof data === 'string' ? Buffer.byteLength(data) : toBytes(data).length;
    if (cb !== undefined) process.nextTick(cb, notOpenError(this.readyState));
  }

  // ---- closing ----

  /**
   * Starts the closing handshake: `code` (none by default: the peer sees 1005) must be one a close frame may carry
   * (`TypeError`), `reason` at most 123 bytes (`RangeError`) of UTF-8. While `CONNECTING`, abandons the attempt.
   */
  close(code?: number, reason?: string | Buffer): void {
    const state = this.readyState;
    if (state === CLOSED) return;
    if (state === CONNECTING) return this.#attempt?.abort('WebSocket was closed before the connection was established');
    if (state === CLOSING) return;
    let text = '';
    if (code !== undefined) {
      // ws writes the code with writeUInt16BE, which drops a fraction; the code that goes out must be valid.
      if (typeof code !== 'number' || !isValidCloseCode(Math.trunc(code)))
        throw new TypeError('First argument must be a valid error code number');
      code = Math.trunc(code);
      if (reason !== undefined && reason.length > 0) text = closeReason(reason);
    }
    const go = (): void => {
      this.#state = CLOSING;
      void this.#conn!.close(code ?? null, text);
    };
    if (this.#sendQueue !== null) this.#sendQueue.push(null, go);
    else go();
  }

  /** Drops the connection at once, without a closing handshake (the peer sees 1006). */
  terminate(): void {
    const state = this.readyState;
    if (state === CLOSED) return;
    if (state === CONNECTING) return this.#attempt?.abort('WebSocket was closed before the connection was established');
    this.#state = CLOSING;
    this.#conn?.shutdown();
  }

  /** Stops reading from the peer (events already read may still come). No-op while `CONNECTING` or `CLOSED`. */
  pause(): void {
    const state = this.readyState;
    if (state === CONNECTING || state === CLOSED) return;
    this.#paused = true;
    this.#conn?.socket?.pause();
  }

  /** Reads again after {@link pause}. */
  resume(): void {
    const state = this.readyState;
    if (state === CONNECTING || state === CLOSED) return;
    this.#paused = false;
    if (this.#deferred === null) this.#conn?.socket?.resume();
  }

  // ---- the connection's events ----

  #attach(conn: Conn, settings: SocketSettings): void {
    this.#conn = conn;
    this.#state = OPEN;
    this.#attempt = null;
    this.#sync = settings.allowSynchronousEvents;
    conn.onMessage = (_conn, msg) => this.#message(msg);
    conn.onPing = (_conn, data) => this.#event('ping', data);
    conn.onPong = (_conn, data) => this.#event('pong', data);
    conn.onClose = (_conn, info) => this.#closed(info);
    this.emit('open');
  }

  #message(msg: Msg): void {
    if (this.#paused) this.#conn!.socket?.pause(); // an inflated message resumed reading: the user's pause stands
    const isBinary = msg.isBinary;
    let data: RawData | Blob = msg.payload;
    if (isBinary && this.#binaryType !== 'nodebuffer') data = binaryData(msg.payload, this.#binaryType);
    if (this.#sync && this.#deferred === null) this.emit('message', data, isBinary);
    else this.#defer(() => this.emit('message', data, isBinary));
  }

  #event(name: 'ping' | 'pong', data: Buffer): void {
    if (this.#sync && this.#deferred === null) this.emit(name, data);
    else this.#defer(() => this.emit(name, data));
  }

  // allowSynchronousEvents: false: one event per turn of the event loop; reading waits meanwhile.
  #defer(event: () => void): void {
    const queue = (this.#deferred ??= []);
    queue.push(event);
    if (queue.length > 1) return;
    this.#conn?.socket?.pause();
    const next = (): void => {
      queue.shift()!();
      if (queue.length > 0) {
        setImmediate(next);
        return;
      }
      this.#deferred = null;
      if (!this.#paused && this.#state !== CLOSED) this.#conn?.socket?.resume();
    };
    setImmediate(next);
  }

  #closed(info: CloseInfo): void {
    const finish = (): void => {
      if (info.error !== undefined && isReported(info.error)) this.#emitError(wsFailure(info.error));
      this.#state = CLOSED;
      recordClean(this, info.wasClean);
      this.emit('close', info.code, info.reason === '' ? EMPTY : Buffer.from(info.reason));
    };
    if (this.#deferred !== null) this.#defer(finish);
    else finish();
  }

  #failed(error: Error): void {
    this.#state = CLOSING;
    this.#emitError(error);
    this.#state = CLOSED;
    recordClean(this, false);
    this.emit('close', 1006, EMPTY);
  }

  // An 'error' nobody listens to would throw and end the process (EventEmitter's rule, and ws's behaviour): a peer
  // must not be able to do that, so it is only logged then.
  #emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.#conn?.ctx.log('warning', `nopoll/ws: unhandled error: ${error.message}`);
  }
}

defineReadyStates(WebSocket.prototype);

/** @internal A server's connection, handed to the socket it gives the application. */
export function attachServerSocket(ws: WebSocket, conn: Conn, settings: SocketSettings): void {
  attach(ws, conn, settings);
}
