/**
 * A WebSocket connection: noPoll's `noPollConn` for clients and accepted connections (listeners are
 * {@link Listener}). Sends never block: they return the payload bytes accepted, or -1 when the connection no
 * longer sends. Waits are Promises with timeouts and AbortSignals.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import {
  AbortError,
  ConnectionClosedError,
  HandshakeError,
  InvalidStateError,
  MessageTooBigError,
  NopollError,
  PolicyViolationError,
  ProtocolError,
  TimeoutError,
} from '../errors.js';
import { Opcode } from '../protocol/constants.js';
import type { HeaderList } from '../protocol/handshake/headers.js';
import { isValidUtf8, Utf8Validator } from '../protocol/utf8.js';
import { SocketDriver, type CloseInfo, type DriverEvents } from '../transport/socket-driver.js';
import type { DeflateAgreement } from '../protocol/extensions/deflate-params.js';
import type { DeflateSession } from './deflate-options.js';
import { connect as connectClientConn, type ConnectTarget } from './connect.js';
import { messageIterator } from './conn-iter.js';
import { ReadBuffer, type InputFlow, type ReadOptions } from './conn-read.js';
import { MessageStream, MessageWriter, type MessageWriterOptions } from './message-stream.js';
import type { ConnOptsLike, SessionSettings } from './conn-opts.js';
import type { Context } from './context.js';
import type { OnCloseHandler, OnMessageHandler, OnReadyHandler } from './handlers.js';
import type { Listener } from './listener.js';
import { Msg } from './msg.js';

export type { CloseInfo } from '../transport/socket-driver.js';

/** Which side a connection is: `client`, or `listener` for a connection a listener accepted (noPoll's roles). */
export type ConnRole = 'client' | 'listener';

/** Connection life cycle (RFC 6455 §4-§7). */
export type ConnState = 'connecting' | 'open' | 'closing' | 'closed';

/** Options of a wait. */
export interface WaitOptions {
  /** Give up after this many ms (TimeoutError). No timeout when absent or 0. */
  timeoutMs?: number;
  /** Give up when aborted (AbortError). */
  signal?: AbortSignal;
}

/** What the opening handshake established. Filled in by the client and server setup code. */
export interface HandshakeInfo {
  requestedUrl: string;
  hostHeader: string | null;
  origin: string | null;
  cookie: string | null;
  requestedProtocols: string[];
  xRealIp: string | null;
  /**
   * Every header of the handshake request (server) or response (client). Available in `onOpen` and `onReady`;
   * afterwards null unless the `keepHeaders` option is set, so idle connections do not carry them.
   */
  headers: HeaderList | null;
}

type PendingSend = { opcode: number; data: Buffer; fin: boolean };

/** Per-send options. */
export interface SendOptions {
  /**
   * With permessage-deflate negotiated: `true` compresses this message whatever its size, `false` sends it
   * uncompressed; by default messages of at least the threshold (1 KiB) are compressed. For a fragmented message
   * the first fragment decides for the whole message. Ignored without compression.
   */
  compress?: boolean;
}
type Waiter = { resolve: () => void; reject: (error: Error) => void };

/** Receives each incoming message as a stream (see `Conn.onMessageStream`). */
export type OnMessageStreamHandler = (conn: Conn, stream: MessageStream) => void;

/** Default `maxPendingWriteBytes`: 64 MiB. */
export const DEFAULT_MAX_PENDING_WRITE_BYTES = 64 * 1024 * 1024;

/** A WebSocket connection. Create clients with `Conn.connect` (see `connect.ts`); listeners create the others. */
export class Conn implements DriverEvents {
  /** Per-context id (`nopoll_conn_get_id`). */
  readonly id: number;
  /** The owning context (`nopoll_conn_ctx`). */
  readonly ctx: Context;
  /** `client` or `listener` (`nopoll_conn_role`). */
  readonly role: ConnRole;
  /** The listener that accepted this connection, if any (`nopoll_conn_get_listener`). */
  readonly listener: Listener | null;
  /** Client: the host connected to. Accepted: the peer's address (`nopoll_conn_host`). */
  host: string;
  /** Client: the port connected to. Accepted: the peer's port (`nopoll_conn_port`). */
  port: number;
  /** Handshake details (`nopoll_conn_get_requested_url`, `_get_origin`, `_get_cookie`, ...). */
  readonly handshake: HandshakeInfo;

  /** This connection's message handler; wins over the context's (`nopoll_conn_set_on_msg`). */
  onMessage: OnMessageHandler | null = null;
  /** This connection's ready handler; wins over the context's (`nopoll_conn_set_on_ready`). */
  onReady: OnReadyHandler | null = null;
  /** This connection's close handler (`nopoll_conn_set_on_close`). */
  onClose: OnCloseHandler | null = null;
  /** Called for each ping received (already answered with a pong). */
  onPing: ((conn: Conn, payload: Buffer) => void) | null = null;
  /** Called for each pong received. */
  onPong: ((conn: Conn, payload: Buffer) => void) | null = null;
  /** Free slot for the application (`nopoll_conn_set_hook` / `_get_hook`). */
  hook: unknown = undefined;

  #state: ConnState = 'connecting';
  #socket: Socket | null = null;
  #driver: SocketDriver | null = null;
  #deliverFrames = false;
  #acceptedProtocol: string | null = null;
  #pendingFragmentKind = 0;
  #closeInfo: CloseInfo | null = null;
  #inbox: Msg[] | null = null;
  #maxFrameSize: number;
  #tls = false;
  #earlyClose: (() => void) | null = null;
  #deflate: DeflateAgreement | null = null;
  // Write limit (maxPendingWriteBytes, writeLimitPolicy) and completePendingWrite's count of bytes flushed so far.
  #writeLimit = DEFAULT_MAX_PENDING_WRITE_BYTES;
  #writeRefuses = false;
  #flushedMark = 0;
  // Not Infinity: a field that ever holds a non-integer gets a boxed number per connection.
  #maxMessageSize = 0;
  // State that most connections never use (waiters, stream reading, sends queued before the handshake...): the
  // shared, frozen NO_RARE until the first write through #own(), so an idle connection carries none of it.
  #rare: ConnRare = NO_RARE;
  #streaming = false; // read() was used or onMessageStream was set: the session streams data messages

  #own(): ConnRare {
    return this.#rare !== NO_RARE ? this.#rare : (this.#rare = new ConnRare());
  }

  /** @internal Connections are made by `Conn.connect` and by listeners. */
  constructor(ctx: Context, role: ConnRole, listener: Listener | null, host: string, port: number, maxFrameSize: number) {
    this.ctx = ctx;
    this.role = role;
    this.listener = listener;
    this.host = host;
    this.port = port;
    this.#maxFrameSize = maxFrameSize;
    this.handshake = {
      requestedUrl: '/',
      hostHeader: null,
      origin: null,
      cookie: null,
      requestedProtocols: NO_PROTOCOLS,
      xRealIp: null,
      headers: null,
    };
    this.id = ctx.register(this);
  }

  /**
   * Starts a client connection to a `ws://` URL or a {@link ConnectTarget} and returns it at once
   * (`nopoll_conn_new` and its variants); `await conn.waitUntilReady()` for the handshake.
   */
  static connect(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike): Conn {
    return connectClientConn(ctx, target, opts);
  }

  /** Connects and waits for the handshake: `Conn.connect` + `waitUntilReady`. Rejects with why it failed. */
  static async open(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike & WaitOptions): Promise<Conn> {
    const conn = connectClientConn(ctx, target, opts);
    try {
      return await conn.waitUntilReady(opts as WaitOptions | undefined);
    } catch (error) {
      // The caller gets no connection, so none may linger (a timed-out attempt must not complete later).
      conn.shutdown();
      throw error;
    }
  }

  // ---- state ----

  /** Where the connection is in its life cycle. */
  get state(): ConnState {
    return this.#state;
  }
  /** True until the connection has ended (`nopoll_conn_is_ok`). */
  get isOk(): boolean {
    return this.#state !== 'closed';
  }
  /** True once the handshake completed and while messages can be sent (`nopoll_conn_is_ready`). */
  get isReady(): boolean {
    return this.#state === 'open';
  }
  /** Whether TLS is in use (`nopoll_conn_is_tls_on`). */
  get isTlsOn(): boolean {
    return this.#tls;
  }
  /** The underlying socket once connected (`nopoll_conn_socket`). */
  get socket(): Socket | null {
    return this.#socket;
  }
  /** The effective frame limit (`nopoll_conn_get_max_frame_size`). */
  get maxFrameSize(): number {
    return this.#maxFrameSize;
  }
  /** How the connection ended, once it has. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }
  /** Peer's close code: 1005 for a close frame without code, 1006 for none (`nopoll_conn_get_close_status`); 0 while open. */
  get closeStatus(): number {
    return this.#closeInfo?.code ?? 0;
  }
  /** Peer's close reason (`nopoll_conn_get_close_reason`); null when none. */
  get closeReason(): string | null {
    return this.#closeInfo?.reason || null;
  }

  // ---- handshake data ----

  /** The request target (`nopoll_conn_get_requested_url`). */
  get requestedUrl(): string {
    return this.handshake.requestedUrl;
  }
  /** The Origin header received (server) or sent (client) (`nopoll_conn_get_origin`). */
  get origin(): string | null {
    return this.handshake.origin;
  }
  /** The Host header received or sent (`nopoll_conn_get_host_header`). */
  get hostHeader(): string | null {
    return this.handshake.hostHeader;
  }
  /** The Cookie header received or sent (`nopoll_conn_get_cookie`). */
  get cookie(): string | null {
    return this.handshake.cookie;
  }
  /** The X-Real-IP header received (`nopoll_conn_get_x_real_ip_header`). */
  get xRealIp(): string | null {
    return this.handshake.xRealIp;
  }
  /** The subprotocols requested, in the client's order. */
  get requestedProtocols(): readonly string[] {
    return this.handshake.requestedProtocols;
  }
  /** The requested subprotocols as one header value (`nopoll_conn_get_requested_protocol`); null when none. */
  get requestedProtocol(): string | null {
    return this.handshake.requestedProtocols.length > 0 ? this.handshake.requestedProtocols.join(', ') : null;
  }
  /** The permessage-deflate parameters agreed in the handshake (RFC 7692), or null when messages are not compressed. */
  get perMessageDeflate(): DeflateAgreement | null {
    return this.#deflate;
  }

  /** The `Sec-WebSocket-Extensions` value agreed, as in the server's response; `''` when none (as WHATWG `extensions`). */
  get extensions(): string {
    return this.#deflate?.response ?? '';
  }

  /** The subprotocol agreed (`nopoll_conn_get_accepted_protocol`); null when none. */
  get acceptedProtocol(): string | null {
    return this.#acceptedProtocol;
  }
  /**
   * Server, inside `onOpen`: the subprotocol to confirm (`nopoll_conn_set_accepted_protocol`). It must be one the
   * client requested (RFC 6455 §4.2.2); otherwise the handshake is refused with 400.
   */
  set acceptedProtocol(protocol: string | null) {
    if (this.#state !== 'connecting') throw new InvalidStateError('the subprotocol can only be chosen before the handshake completes');
    this.#acceptedProtocol = protocol;
  }

  // ---- sending ----

  /**
   * Sends a text message (`nopoll_conn_send_text`). If a fragmented text message is open (see
   * {@link sendTextFragment}), this sends its last frame instead. Before the handshake completes, the message is
   * queued and sent once it does (noPoll test_02).
   * @returns payload bytes accepted, or -1 when the connection no longer sends.
   */
  sendText(data: string | Uint8Array, options?: SendOptions): number {
    if (this.#pendingFragmentKind !== 0) {
      if (this.#pendingFragmentKind === Opcode.TEXT) return this.#fragment(Opcode.TEXT, data, true, options?.compress);
      throw new TypeError('a fragmented binary message is open; finish it with sendBinary first');
    }
    const driver = this.#driver;
    if (driver !== null && this.#state === 'open' && driver.session.sendingFragmented === 0) {
      if ((driver.socket.writableLength !== 0 || driver.deflate !== null) && this.#overWriteLimit(data)) return this.#refuseWrite();
      if (driver.deflate === null) return driver.session.sendText(data);
      return driver.deflate.sendMessage(Opcode.TEXT, textBytes(data), options?.compress);
    }
    return this.#queueOrFail(Opcode.TEXT, textBytes(data), true);
  }

  /**
   * Sends a binary message (`nopoll_conn_send_binary`); ends an open fragmented binary message.
   * @returns payload bytes accepted, or -1 when the connection no longer sends.
   */
  sendBinary(data: Uint8Array, options?: SendOptions): number {
    if (this.#pendingFragmentKind !== 0) {
      if (this.#pendingFragmentKind === Opcode.BINARY) return this.#fragment(Opcode.BINARY, data, true, options?.compress);
      throw new TypeError('a fragmented text message is open; finish it with sendText first');
    }
    const driver = this.#driver;
    if (driver !== null && this.#state === 'open' && driver.session.sendingFragmented === 0) {
      if ((driver.socket.writableLength !== 0 || driver.deflate !== null) && this.#overWriteLimit(data)) return this.#refuseWrite();
      if (driver.deflate === null) return driver.session.sendMessage(Opcode.BINARY, data);
      return driver.deflate.sendMessage(Opcode.BINARY, toBuffer(data), options?.compress);
    }
    return this.#queueOrFail(Opcode.BINARY, toBuffer(data), true);
  }

  /**
   * Sends a frame of a fragmented text message with FIN=0 (`nopoll_conn_send_text_fragment`); later frames go
   * out as CONTINUATION (noPoll wrongly repeated TEXT, RFC 6455 §5.4). End it with `sendText` or
   * `sendFragment(data, { fin: true })`.
   */
  sendTextFragment(data: string | Uint8Array): number {
    return this.#fragment(Opcode.TEXT, data, false);
  }

  /** Binary counterpart of {@link sendTextFragment} (`nopoll_conn_send_binary_fragment`). */
  sendBinaryFragment(data: Uint8Array): number {
    return this.#fragment(Opcode.BINARY, data, false);
  }

  /** Sends one frame of a fragmented message, text unless `binary`, ending it when `fin`. */
  sendFragment(data: string | Uint8Array, options: { binary?: boolean; fin?: boolean; compress?: boolean } = {}): number {
    return this.#fragment(options.binary ? Opcode.BINARY : Opcode.TEXT, data, options.fin ?? false, options.compress);
  }

  /** Sends a ping with an optional payload of at most 125 bytes (`nopoll_conn_send_ping`). @returns false when not open. */
  ping(payload: string | Uint8Array = EMPTY): boolean {
    // toBuffer throws TypeError for a number or any non-byte array (ws sent uninitialised memory for ping(number)).
    const data = typeof payload === 'string' ? Buffer.from(payload) : toBuffer(payload);
    return this.#driver !== null && this.#state === 'open' && this.#driver.session.ping(data);
  }

  /** Sends an unsolicited pong (`nopoll_conn_send_pong`). @returns false when not open. */
  pong(payload: string | Uint8Array = EMPTY): boolean {
    const data = typeof payload === 'string' ? Buffer.from(payload) : toBuffer(payload);
    return this.#driver !== null && this.#state === 'open' && this.#driver.session.pong(data);
  }

  #fragment(kind: number, data: string | Uint8Array, fin: boolean, compress?: boolean): number {
    if (this.#pendingFragmentKind !== 0 && this.#pendingFragmentKind !== kind) {
      throw new TypeError('a fragmented message of the other type is open; finish it first');
    }
    if (this.#driver !== null && this.#state === 'open' && this.#overWriteLimit(data)) return this.#refuseWrite();
    let bytes: Buffer;
    if (kind === Opcode.TEXT) {
      // Only the whole message must be UTF-8 (§5.6): a fragment may end inside a character.
      bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
      const utf8 = (this.#own().sendUtf8 ??= new Utf8Validator());
      if (this.#pendingFragmentKind === 0) utf8.reset();
      if (!utf8.push(bytes) || (fin && !utf8.atBoundary)) {
        utf8.reset();
        throw new TypeError('text fragments do not form valid UTF-8');
      }
    } else {
      bytes = toBuffer(data as Uint8Array);
    }
    this.#pendingFragmentKind = fin ? 0 : kind;
    const driver = this.#driver;
    if (driver !== null && this.#state === 'open') {
      if (driver.deflate !== null) return driver.deflate.sendFragment(kind, bytes, fin, compress);
      return driver.session.sendFragment(kind as typeof Opcode.TEXT, bytes, fin);
    }
    return this.#queueOrFail(kind, bytes, fin);
  }

  // Before the handshake completes, sends wait in a queue; after the connection ended they fail with -1.
  #queueOrFail(opcode: number, data: Buffer, fin: boolean): number {
    if (this.#state !== 'connecting' || this.role !== 'client') return -1;
    (this.#own().pending ??= []).push({ opcode, data, fin });
    return data.length;
  }

  /**
   * Bytes written but not yet handed to the kernel (`nopoll_conn_pending_write_bytes`), plus the payload bytes of
   * messages still waiting for compression.
   */
  get pendingWriteBytes(): number {
    return (this.#socket?.writableLength ?? 0) + (this.#driver?.deflate?.pendingBytes ?? 0);
  }

  /**
   * Bytes handed to the operating system since the previous call (or since the handshake), frame headers included
   * (`nopoll_conn_complete_pending_write`). Node writes what is pending by itself as the socket drains, so this
   * does not write: it reports the progress, which noPoll's call made. 0 when nothing left since the last call.
   */
  completePendingWrite(): number {
    const socket = this.#socket;
    if (socket === null || this.#driver === null) return 0;
    const flushed = (socket.bytesWritten ?? 0) - socket.writableLength;
    const progress = flushed - this.#flushedMark;
    this.#flushedMark = flushed;
    return progress > 0 ? progress : 0;
  }

  /** The write limit in bytes (`maxPendingWriteBytes`) and what a send past it does (`writeLimitPolicy`). */
  get writeLimit(): { maxPendingWriteBytes: number; policy: 'refuse' | 'close' } {
    return { maxPendingWriteBytes: this.#writeLimit, policy: this.#writeRefuses ? 'refuse' : 'close' };
  }

  // True when sending `data` would take the pending bytes past the write limit. Nothing pending: never (a message
  // larger than the limit still goes when the socket is empty); an empty message: never.
  #overWriteLimit(data: string | Uint8Array): boolean {
    const pending = this.pendingWriteBytes;
    if (pending === 0 || data.length === 0) return false;
    const room = this.#writeLimit - pending;
    if (typeof data !== 'string') return data.length > room;
    return data.length * 3 > room && Buffer.byteLength(data, 'utf8') > room;
  }

  // A send past the write limit: 0 ('refuse', nothing sent), or -1 and a close with 1008 ('close').
  #refuseWrite(): number {
    if (this.#writeRefuses) return 0;
    const text = `write limit of ${this.#writeLimit} bytes exceeded (${this.pendingWriteBytes} pending)`;
    this.ctx.log('warning', `conn ${this.id}: ${text}: closing with 1008`);
    this.#closeWithError(new PolicyViolationError(text), 'write limit exceeded');
    return -1;
  }

  /**
   * A `Writable` that sends one message as fragments (text unless `binary`), with backpressure from the socket. See
   * {@link MessageWriter}.
   */
  sendStream(options?: MessageWriterOptions): MessageWriter {
    return new MessageWriter(this, options);
  }

  // ---- stream reads ----

  /**
   * The stream view (`nopoll_conn_read`): up to `n` payload bytes of the data messages received, across frame and
   * message boundaries, including bytes of a frame that has only partly arrived. By default it waits until `n`
   * bytes are there, the connection ends or `timeoutMs` passes, and resolves with what it has then (fewer than `n`,
   * possibly an empty Buffer on a timeout); `{ block: false }` resolves at once with what is there. null means the
   * connection ended and every byte was read. The first call switches the connection to stream reading for good:
   * messages queued for `getMsg()` become bytes to read, and later data goes to the reads only, never to
   * `onMessage`, `getMsg()` or `nextMsg()`.
   * @throws InvalidStateError when an `onMessage` handler (the connection's or the context's) or `onMessageStream`
   * is set: message handlers and stream reads are exclusive, as in noPoll.
   */
  read(n: number, options: ReadOptions = {}): Promise<Buffer | null> {
    const reader = this.#streamReader(n);
    return reader.read(n, options);
  }

  /** {@link read} without waiting: up to `n` bytes now, or null when none are there. */
  tryRead(n: number): Buffer | null {
    return this.#streamReader(n).take(n);
  }

  /**
   * Bytes received and not read yet (`nopoll_conn_read_pending`): those waiting for {@link read} or, before the
   * first read, the payloads of the messages queued for {@link getMsg}.
   */
  get readPending(): number {
    if (this.#rare.reader !== null) return this.#rare.reader.bytes;
    let bytes = 0;
    if (this.#inbox !== null) for (const msg of this.#inbox) bytes += msg.size;
    return bytes;
  }

  #streamReader(n: number): ReadBuffer {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`read size must be a positive integer, got ${String(n)}`);
    const existing = this.#rare.reader;
    if (existing !== null) return existing;
    if ((this.onMessage ?? this.ctx.onMessage) !== null || this.#rare.onMessageStream !== null) {
      throw new InvalidStateError('stream reads and message handlers are exclusive: this connection has a message handler');
    }
    const reader = new ReadBuffer(this.#inputFlow());
    this.#own().reader = reader;
    const inbox = this.#inbox;
    this.#inbox = null;
    if (inbox !== null) for (const msg of inbox) reader.push(msg.payload);
    if (this.#socket?.isPaused() && reader.bytes < 1024 * 1024) this.#socket.resume();
    this.#streaming = true;
    this.#driver?.session.setStreaming(true, this.#rare.maxStreamBytes);
    if (this.#state === 'closed') reader.end();
    return reader;
  }

  /**
   * Receives each data message as a {@link MessageStream} (a `Readable`) as soon as its first bytes arrive, with
   * backpressure down to the socket, so a message of any size passes in bounded memory. Setting it switches the
   * connection to streaming for good: messages are no longer assembled, `maxFrameSize` and `maxMessageSize` no
   * longer apply (`maxStreamBytes` does), and while it is null again messages are assembled by the connection (under
   * `maxMessageSize`) and delivered as usual. Compressed messages are inflated whole first.
   * @throws InvalidStateError once `read()` was used.
   */
  get onMessageStream(): OnMessageStreamHandler | null {
    return this.#rare.onMessageStream;
  }
  set onMessageStream(handler: OnMessageStreamHandler | null) {
    if (handler !== null && this.#rare.reader !== null) throw new InvalidStateError('this connection is in stream-read mode (read() was used)');
    if (handler !== null || this.#rare !== NO_RARE) this.#own().onMessageStream = handler;
    if (handler === null || this.#streaming) return;
    this.#streaming = true;
    this.#driver?.session.setStreaming(true, this.#rare.maxStreamBytes);
  }

  #inputFlow(): InputFlow {
    return {
      pause: () => this.#socket?.pause(),
      resume: () => {
        if (this.#socket !== null && !this.#socket.destroyed) this.#socket.resume();
      },
    };
  }

  /** Resolves once every byte queued before the call reached the kernel (`nopoll_conn_flush_writes`, without sleeping). */
  flushWrites(options: WaitOptions = {}): Promise<void> {
    const deflate = this.#driver?.deflate;
    if (deflate != null && deflate.busy) {
      // Messages still being compressed come first; the timeout and signal cover both waits.
      return wait(options, 'flush', (resolve, reject) => {
        let active = true;
        void deflate.whenIdle().then(() => {
          if (active) this.flushWrites().then(resolve, reject);
        });
        return () => {
          active = false;
        };
      });
    }
    const socket = this.#socket;
    if (socket === null || socket.writableLength === 0 || socket.destroyed) return Promise.resolve();
    return wait(options, 'flush', (resolve, reject) => {
      let done = false;
      // Settles for what was queued before the call; later writes (a pong, another send) are not waited for.
      const onFlushed = (error?: Error | null): void => {
        if (done) return;
        done = true;
        cleanup();
        if (error) reject(new ConnectionClosedError('connection closed before the writes were flushed'));
        else resolve();
      };
      const onClose = (): void => {
        if (done) return;
        done = true;
        cleanup();
        reject(new ConnectionClosedError('connection closed before the writes were flushed'));
      };
      const cleanup = (): void => {
        socket.off('drain', onFlushed);
        socket.off('close', onClose);
      };
      socket.on('close', onClose);
      // 'drain' only follows a write that returned false; below the high-water mark, an empty write's callback
      // runs once everything queued before it has reached the kernel (writes complete in order).
      if (socket.writableNeedDrain) socket.on('drain', onFlushed);
      else socket.write(EMPTY, onFlushed);
      return cleanup;
    });
  }

  // ---- closing ----

  /**
   * Starts the closing handshake (`nopoll_conn_close_ext`; RFC 6455 §7.1.2) and resolves when the connection has
   * ended. Without arguments it sends 1000; `null` sends a close frame without a status code (§5.5.1; the peer
   * sees 1005), as `ws` does for `close()`. Calling it again just waits.
   * @throws RangeError for a code that may not be sent, or a reason over 123 bytes; TypeError for a reason with a
   * `null` code.
   */
  close(code: number | null = 1000, reason = ''): Promise<CloseInfo> {
    if (this.#state === 'closed') return Promise.resolve(this.#closeInfo!);
    const driver = this.#driver;
    if (driver !== null) {
      driver.close(code ?? undefined, reason);
      if (this.#state === 'open') this.#state = 'closing';
    } else {
      this.#socket?.destroy();
    }
    return this.closed;
  }

  /** Drops the connection at once, with no close frame (`nopoll_conn_shutdown`). */
  shutdown(): void {
    if (this.#driver !== null) this.#driver.destroy();
    else this.#socket?.destroy();
  }

  /** Resolves with how the connection ended, once it has. Never rejects. */
  get closed(): Promise<CloseInfo> {
    if (this.#closeInfo !== null) return Promise.resolve(this.#closeInfo);
    return new Promise((resolve) => (this.#own().closedWaiters ??= []).push(resolve));
  }

  // ---- waiting ----

  /**
   * Resolves when the handshake completed (`nopoll_conn_wait_until_connection_ready`, which took seconds). Rejects
   * with the reason the connection failed (HandshakeError, ConnectError, ...), or TimeoutError / AbortError.
   */
  waitUntilReady(options: WaitOptions = {}): Promise<this> {
    if (this.#state === 'open' || this.#state === 'closing') return Promise.resolve(this);
    if (this.#state === 'closed') return Promise.reject(this.#endError());
    return wait<this>(options, 'ready', (resolve, reject) => {
      const waiter: Waiter = { resolve: () => resolve(this), reject };
      (this.#own().readyWaiters ??= []).push(waiter);
      return () => {
        const list = this.#rare.readyWaiters;
        if (list) list.splice(list.indexOf(waiter) >>> 0, 1);
      };
    });
  }

  /**
   * Returns the next message that no handler took, or null (`nopoll_conn_get_msg`, never blocking). Messages are
   * queued only when neither the connection nor the context has an `onMessage` handler.
   */
  getMsg(): Msg | null {
    const inbox = this.#inbox;
    if (inbox === null) return null;
    const msg = inbox.shift()!;
    if (inbox.length === 0) this.#inbox = null;
    if (inbox.length < INBOX_RESUME && this.#socket?.isPaused()) this.#socket.resume();
    return msg;
  }

  /** Resolves with the next message that no handler took. Rejects with ConnectionClosedError when the connection ends first. */
  nextMsg(options: WaitOptions = {}): Promise<Msg> {
    const queued = this.getMsg();
    if (queued !== null) return Promise.resolve(queued);
    if (this.#state === 'closed') return Promise.reject(this.#endError());
    return wait<Msg>(options, 'read', (resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          const msg = this.getMsg();
          if (msg !== null) resolve(msg);
          else reject(this.#endError());
        },
        reject,
      };
      (this.#own().inboxWaiters ??= []).push(waiter);
      return () => {
        const list = this.#rare.inboxWaiters;
        if (list) list.splice(list.indexOf(waiter) >>> 0, 1);
      };
    });
  }

  /**
   * The messages no handler took, as an async iterator (`for await (const msg of conn.messages({ signal }))`).
   * It ends once the connection has closed and every queued message was read; it throws when the handshake
   * fails or `signal` aborts. Like {@link nextMsg}, it sees messages only while no `onMessage` handler is set.
   */
  messages(options: { signal?: AbortSignal } = {}): AsyncGenerator<Msg, void, undefined> {
    return messageIterator(this, options);
  }

  /** `for await (const msg of conn)`: {@link messages} without a signal. */
  [Symbol.asyncIterator](): AsyncGenerator<Msg, void, undefined> {
    return messageIterator(this);
  }

  // ---- set-up, called by the client and server code ----

  /** @internal The socket is known (connect started or accepted). */
  attachSocket(socket: Socket, tls: boolean): void {
    this.#socket = socket;
    this.#tls = tls;
    // An 'error' event with no listener would crash the process; errors are reported through 'close'.
    socket.on('error', ignoreError);
    // Until the handshake completes, a close means it failed. Not kept once open, so idle connections hold no closure.
    this.#earlyClose = () => {
      if (this.#driver === null) this.fail(new ConnectionClosedError('connection closed during the opening handshake'));
    };
    socket.on('close', this.#earlyClose); // removed in startSession or fail: no once() wrapper needed
  }

  /** @internal The handshake completed: start framing, flush queued sends, fire on_ready, then feed `rest`. */
  startSession(
    socket: Socket,
    rest: Buffer,
    settings: SessionSettings & {
      acceptedProtocol: string | null;
      /** permessage-deflate, when the handshake agreed on it. */
      deflate?: DeflateSession | null;
    },
  ): void {
    if (this.#earlyClose !== null) socket.off('close', this.#earlyClose);
    this.#earlyClose = null;
    this.#socket = socket;
    this.#acceptedProtocol = settings.acceptedProtocol;
    this.#deflate = settings.deflate?.agreement ?? null;
    this.#deliverFrames = settings.deliverFrames;
    const driver = new SocketDriver(socket, this, {
      role: this.role === 'client' ? 'client' : 'server',
      maxFrameBytes: this.#maxFrameSize,
      maxMessageBytes: settings.deliverFrames ? Infinity : settings.maxMessageSize,
      deliverFrames: settings.deliverFrames,
      closeTimeoutMs: settings.closeTimeoutMs,
      deflate: settings.deflate?.setup ?? null,
      idleTimeoutMs: settings.idleTimeoutMs ?? 0,
      pingIntervalMs: settings.pingIntervalMs ?? 0,
      pongTimeoutMs: settings.pongTimeoutMs ?? 0,
      maxPendingWriteBytes: settings.maxPendingWriteBytes ?? DEFAULT_MAX_PENDING_WRITE_BYTES,
    });
    this.#driver = driver;
    this.#writeLimit = settings.maxPendingWriteBytes ?? DEFAULT_MAX_PENDING_WRITE_BYTES;
    this.#writeRefuses = settings.writeLimitPolicy === 'refuse';
    if (settings.maxStreamBytes !== undefined) this.#own().maxStreamBytes = settings.maxStreamBytes;
    this.#maxMessageSize = settings.maxMessageSize;
    this.#flushedMark = (socket.bytesWritten ?? 0) - socket.writableLength;
    if (this.#streaming) driver.session.setStreaming(true, this.#rare.maxStreamBytes);
    socket.off('error', ignoreError); // the driver listens for errors now; one listener, no listener array
    this.#state = 'open';
    const pending = this.#rare.pending;
    if (this.#rare !== NO_RARE) this.#rare.pending = null;
    if (pending !== null) {
      for (const { opcode, data, fin } of pending) {
        if (opcode === Opcode.TEXT && fin && driver.session.sendingFragmented === 0) driver.session.sendText(data);
        else if (!fin || driver.session.sendingFragmented !== 0) driver.session.sendFragment(opcode as typeof Opcode.TEXT, data, fin);
        else driver.session.sendMessage(opcode, data);
      }
    }
    const waiters = this.#rare.readyWaiters;
    if (this.#rare !== NO_RARE) this.#rare.readyWaiters = null;
    if (waiters) for (const waiter of waiters) waiter.resolve();
    // The full header list costs memory on every idle connection: kept only when asked for, else dropped once
    // onReady (sync or async) has decided.
    const handler = this.onReady ?? this.ctx.onReady;
    const keep = settings.keepHeaders;
    if (handler === null) {
      if (!keep) this.handshake.headers = null;
    } else {
      this.#decide(handler, (ok, threw) => {
        if (!keep) this.handshake.headers = null;
        // A refusal closes normally; a handler that failed is an internal error (RFC 6455 §7.4.1: 1011).
        if (!ok) void this.close(threw ? 1011 : 1000);
      });
    }
    if (this.#state === 'open') driver.feed(rest);
  }

  /** @internal Runs a deciding handler (sync or async) and reports its answer; a throw counts as a refusal. */
  decide(handler: (conn: Conn) => unknown, then: (accepted: boolean, threw: boolean) => void): void {
    this.#decide(handler, then);
  }

  // `threw` tells a failure (a throw or a rejection, reported to onError) from a refusal (`false`).
  #decide(handler: (conn: Conn) => unknown, then: (accepted: boolean, threw: boolean) => void): void {
    let result: unknown;
    try {
      result = handler(this);
    } catch (error) {
      this.ctx.handlerError(error, this);
      then(false, true);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => then(value !== false, false),
        (error: unknown) => {
          this.ctx.handlerError(error, this);
          then(false, true);
        },
      );
    } else {
      then(result !== false, false);
    }
  }

  // A local failure of an open connection (write or size limit): close with the error's code, report the error.
  #closeWithError(error: ProtocolError, reason: string): void {
    if (this.#state !== 'open' || this.#driver === null) return;
    this.#driver.closeWithError(error, error.closeCode, reason);
    this.#state = 'closing';
  }

  /** @internal The connection ended before or during the handshake. */
  fail(error: Error): void {
    if (this.#state === 'closed') return;
    if (this.#earlyClose !== null) this.#socket?.off('close', this.#earlyClose);
    this.#earlyClose = null;
    this.#socket?.destroy();
    this.driverClosed({ code: 1006, reason: '', wasClean: false, error });
  }

  // ---- DriverEvents ----

  /** @internal */
  driverMessage(opcode: number, payload: Buffer, fin: boolean): void {
    // Streaming: a compressed message, inflated whole, goes where streamed messages go.
    if (this.#streaming) {
      if (payload.length > 0) this.driverStream(opcode & 0x0f, payload, false);
      if (fin) this.driverStream(opcode & 0x0f, EMPTY, true);
      return;
    }
    const msg = this.#deliverFrames
      ? new Msg(opcode, payload, fin, !fin || opcode === Opcode.CONTINUATION)
      : new Msg(opcode, payload, true, false);
    const handler = this.onMessage ?? this.ctx.onMessage;
    if (handler === null) {
      this.#enqueue(msg);
      return;
    }
    try {
      const result = handler(this, msg);
      if (result instanceof Promise) result.then(undefined, (this.#own().rejected ??= (error) => this.#handlerFailed(error)));
    } catch (error) {
      this.#handlerFailed(error);
    }
  }

  #handlerFailed(error: unknown): void {
    this.ctx.handlerError(error, this);
    // RFC 6455 §7.4.1: 1011, the server met an unexpected condition; details stay local.
    if (this.#state === 'open') void this.close(1011);
  }

  #enqueue(msg: Msg): void {
    const inbox = (this.#inbox ??= []);
    inbox.push(msg);
    // Nobody reads: stop reading the socket rather than buffering without bound.
    if (inbox.length >= INBOX_PAUSE) this.#socket?.pause();
    const waiters = this.#rare.inboxWaiters;
    if (waiters !== null && waiters.length > 0) waiters.shift()!.resolve();
  }

  /** @internal Streaming mode: bytes of the message being received. */
  driverStream(opcode: number, data: Buffer, end: boolean): void {
    const reader = this.#rare.reader;
    if (reader !== null) {
      reader.push(data);
      return;
    }
    let stream = this.#rare.current;
    if (stream === null) {
      const handler = this.#rare.onMessageStream;
      if (handler === null) return this.#assemble(opcode, data, end);
      stream = new MessageStream(opcode, this.#inputFlow(), undefined, (this.#own().rejected ??= (error) => this.#handlerFailed(error)));
      this.#rare.current = stream;
      try {
        const result: unknown = handler(this, stream);
        // An async consumer's rejection is a handler failure too, never an unhandled rejection.
        if (result instanceof Promise) result.then(undefined, (this.#own().rejected ??= (error) => this.#handlerFailed(error)));
      } catch (error) {
        this.#handlerFailed(error);
      }
    }
    if (data.length > 0) stream.deliver(data);
    if (end) {
      this.#rare.current = null;
      stream.finish();
    }
  }

  // Streaming with no stream handler (it was set back to null): the connection assembles the message itself, under
  // maxMessageSize, and delivers it as usual.
  #assemble(opcode: number, data: Buffer, end: boolean): void {
    const rare = this.#own();
    if (rare.assemblyRefused) {
      // The rest of a message refused over the limit: dropped, never delivered as a message of its own.
      if (end) rare.assemblyRefused = false;
      return;
    }
    const parts = (rare.assembly ??= []);
    if (data.length > 0) {
      parts.push(data);
      rare.assemblyBytes += data.length;
      if (rare.assemblyBytes > this.#maxMessageSize) {
        rare.assembly = null;
        rare.assemblyBytes = 0;
        rare.assemblyRefused = !end;
        this.#closeWithError(new MessageTooBigError(`message of over ${this.#maxMessageSize} bytes`, this.#maxMessageSize), 'message too big');
        return;
      }
    }
    if (!end) return;
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.#rare.assemblyBytes);
    this.#rare.assembly = null;
    this.#rare.assemblyBytes = 0;
    this.#streaming = false;
    try {
      this.driverMessage(opcode, payload, true);
    } finally {
      this.#streaming = true;
    }
  }

  /** @internal */
  driverPing(payload: Buffer): void {
    if (this.onPing !== null) this.#safely(this.onPing, payload);
  }

  /** @internal */
  driverPong(payload: Buffer): void {
    if (this.onPong !== null) this.#safely(this.onPong, payload);
  }

  /** @internal */
  driverCloseFrame(): void {
    if (this.#state === 'open') this.#state = 'closing';
  }

  /** @internal */
  driverClosed(info: CloseInfo): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeInfo = info;
    this.ctx.unregister(this);
    this.listener?.forget(this);
    const ready = this.#rare.readyWaiters;
    if (this.#rare !== NO_RARE) this.#rare.readyWaiters = null;
    if (ready) for (const waiter of ready) waiter.reject(this.#endError());
    const readers = this.#rare.inboxWaiters;
    if (this.#rare !== NO_RARE) this.#rare.inboxWaiters = null;
    if (readers) for (const waiter of readers) waiter.resolve();
    this.#rare.reader?.end();
    const stream = this.#rare.current;
    if (this.#rare !== NO_RARE) this.#rare.current = null;
    if (stream !== null) {
      stream.finish(info.error ?? new ConnectionClosedError('the connection closed before the message was complete', info.code, info.reason));
    }
    if (this.ctx.logEnabled) this.#logEnd(info);
    for (const handler of [this.onClose, this.ctx.onClose]) {
      if (handler === null) continue;
      try {
        const result: unknown = handler(this, info);
        if (result instanceof Promise) result.then(undefined, (error: unknown) => this.ctx.handlerError(error, this));
      } catch (error) {
        this.ctx.handlerError(error, this);
      }
    }
    const closedWaiters = this.#rare.closedWaiters;
    if (this.#rare !== NO_RARE) this.#rare.closedWaiters = null;
    if (closedWaiters) for (const resolve of closedWaiters) resolve(info);
  }

  #safely(handler: (conn: Conn, payload: Buffer) => void, payload: Buffer): void {
    try {
      const result: unknown = handler(this, payload);
      if (result instanceof Promise) result.then(undefined, (error: unknown) => this.ctx.handlerError(error, this));
    } catch (error) {
      this.ctx.handlerError(error, this);
    }
  }

  // One log line per connection end: a failure at 'warning' (a socket error or an early close at 'debug'), a close at 'debug'.
  #logEnd(info: CloseInfo): void {
    const who = `conn ${this.id} (${this.role} ${this.host}:${this.port})`;
    const error = info.error;
    if (error === undefined) {
      this.ctx.log('debug', `${who} closed: code ${info.code}${info.reason ? ` "${info.reason}"` : ''}, ${info.wasClean ? 'clean' : 'not clean'}`);
      return;
    }
    const code = error instanceof NopollError ? error.code : 'error';
    const detail =
      error instanceof ProtocolError ? `, close code ${error.closeCode}` : error instanceof HandshakeError && error.status ? `, HTTP ${error.status}` : '';
    const level = error instanceof NopollError && !(error instanceof ConnectionClosedError) ? 'warning' : 'debug';
    this.ctx.log(level, `${who} failed: ${code}${detail}: ${error.message}`);
  }

  #endError(): Error {
    const info = this.#closeInfo;
    if (info?.error && this.#driver === null) return info.error;
    return new ConnectionClosedError('the connection is closed', info?.code ?? 1006, info?.reason ?? '', info?.error ? { cause: info.error } : undefined);
  }
}

// Conn's rarely used state (see #rare). Fields as in Conn: sends queued before the handshake; waiters of
// waitUntilReady, closed and nextMsg; the stream view once read() was used, the stream handler, the message being
// streamed to it, maxStreamBytes, and a message assembled while streaming without a handler (or the rest of one
// refused over maxMessageSize, dropped); the UTF-8 check of
// outgoing text fragments; the shared rejection handler of async handlers.
class ConnRare {
  pending: PendingSend[] | null = null;
  readyWaiters: Waiter[] | null = null;
  closedWaiters: Array<(info: CloseInfo) => void> | null = null;
  inboxWaiters: Waiter[] | null = null;
  reader: ReadBuffer | null = null;
  onMessageStream: OnMessageStreamHandler | null = null;
  current: MessageStream | null = null;
  maxStreamBytes: number | undefined = undefined;
  assembly: Buffer[] | null = null;
  assemblyBytes = 0;
  assemblyRefused = false;
  sendUtf8: Utf8Validator | null = null;
  rejected: ((error: unknown) => void) | null = null;
}
const NO_RARE: ConnRare = Object.freeze(new ConnRare());

const EMPTY = Buffer.alloc(0);
const ignoreError = (): void => undefined;
// Shared by every connection that requested no subprotocol, so none allocates an empty array.
const NO_PROTOCOLS = Object.freeze([]) as unknown as string[];
// Unread-message queue bounds (no handler installed): pause the socket at 64 messages, resume below 16.
const INBOX_PAUSE = 64;
const INBOX_RESUME = 16;

function toBuffer(data: Uint8Array): Buffer {
  if (!(data instanceof Uint8Array)) throw new TypeError('binary data must be a Buffer or Uint8Array');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}

function textBytes(data: string | Uint8Array): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  const bytes = toBuffer(data);
  if (!isValidUtf8(bytes)) throw new TypeError('text payload is not valid UTF-8');
  return bytes;
}

/**
 * Runs a wait with a timeout and an AbortSignal. `start` registers the wait and returns its cleanup.
 */
function wait<T = void>(
  options: WaitOptions,
  phase: string,
  start: (resolve: (value: T) => void, reject: (error: Error) => void) => () => void,
): Promise<T> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (timer !== null) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup();
    };
    const onAbort = (): void => {
      finish();
      reject(new AbortError(undefined, { cause: signal?.reason }));
    };
    const cleanup = start(
      (value) => {
        finish();
        resolve(value);
      },
      (error) => {
        finish();
        reject(error);
      },
    );
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => {
        finish();
        reject(new TimeoutError(phase, `${phase} did not complete within ${timeoutMs} ms`));
      }, timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
