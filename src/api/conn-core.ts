/**
 * What every connection is and knows: identity, life-cycle state, what the opening handshake established, and the
 * handlers. The base of {@link Conn}, whose jobs are layered on top in their own files: sending (conn-send.ts),
 * receiving (conn-receive.ts), and the life cycle (conn.ts).
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { InvalidStateError } from '../errors.js';
import type { DeflateAgreement } from '../protocol/extensions/deflate-params.js';
import type { HeaderList } from '../protocol/handshake/headers.js';
import { sharedText } from '../protocol/shared-text.js';
import type { OutgoingMessages } from '../protocol/outgoing.js';
import type { Transport } from '../transport/transport.js';
import type { ReadBuffer } from './conn-read.js';
import type { Conn } from './conn.js';
import type { Context } from './context.js';
import type { OnCloseHandler, OnMessageHandler, OnReadyHandler } from './handlers.js';
import type { Listener } from './listener.js';
import type { MessageStream } from './message-stream.js';
import type { Msg } from './msg.js';

/** How a connection ended, reported exactly once (`conn.closeInfo`, `conn.closed`, `onClose`). */
export interface CloseInfo {
  /** Close code received from the peer; 1005 when its close frame had none, 1006 when there was no close frame. */
  code: number;
  /** Close reason received from the peer (empty when none). */
  reason: string;
  /** True when close frames were exchanged (RFC 6455 §7.1.4 "cleanly"), whatever TCP did afterwards. */
  wasClean: boolean;
  /** Why the connection failed, when it did: a protocol violation, a timeout, a socket error. */
  error?: Error;
}

/** Which side a connection is: `client`, or `listener` for a connection a listener accepted (noPoll's roles). */
export type ConnRole = 'client' | 'listener';

/** Connection life cycle (RFC 6455 §4-§7). */
export type ConnState = 'connecting' | 'open' | 'closing' | 'closed';

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

/** Receives each incoming message as a stream (see `Conn.onMessageStream`). */
export type OnMessageStreamHandler = (conn: Conn, stream: MessageStream) => void;

type Waiter = { resolve: () => void; reject: (error: Error) => void };

/**
 * @internal A connection's rarely used state (waiters, stream reading, sends queued before the handshake...): the
 * shared, frozen NO_RARE until first written through `own()`, so an idle connection carries none of it.
 */
export class ConnRare {
  /** Client sends made before the handshake completed, and the rules they were checked against. */
  pending: Array<{ opcode: number; data: Buffer; fin: boolean }> | null = null;
  early: OutgoingMessages | null = null;
  readyWaiters: Waiter[] | null = null;
  closedWaiters: Array<(info: CloseInfo) => void> | null = null;
  inboxWaiters: Waiter[] | null = null;
  /** The stream view once read() was used; the stream handler; the message being streamed to it. */
  reader: ReadBuffer | null = null;
  onMessageStream: OnMessageStreamHandler | null = null;
  current: MessageStream | null = null;
  maxStreamBytes: number | undefined = undefined;
  /** The shared rejection handler of async handlers. */
  rejected: ((error: unknown) => void) | null = null;
  /** Bytes of the unread messages in the inbox. */
  inboxBytes = 0;
  /** The write mark of completePendingWrite. */
  flushedMark = 0;
  /** The backpressure signal (conn-send.ts): the drain handler, and the cancel of its armed wait. */
  onDrain: ((conn: Conn) => void) | null = null;
  drainWatch: (() => void) | null = null;
}
/** @internal */
export const NO_RARE: ConnRare = Object.freeze(new ConnRare());

// Shared by every connection that requested no subprotocol, so none allocates an empty array.
const NO_PROTOCOLS = Object.freeze([]) as unknown as string[];

// What the handshake recorded beyond the request target and Host: kept only while one of them is set (an idle
// connection from a client that sent no Origin, Cookie, subprotocol or X-Real-IP carries none of it).
class HandshakeExtra {
  constructor(
    readonly origin: string | null,
    readonly cookie: string | null,
    readonly requestedProtocols: string[],
    readonly xRealIp: string | null,
    readonly headers: HeaderList | null,
  ) {}
}

// What the handshake agreed on (subprotocol, permessage-deflate): null when nothing, else one object shared by the
// connections that agreed on the same (a server's connections mostly do), so none carries two fields for it.
class Agreement {
  static #last: Agreement | null = null;
  private constructor(
    readonly protocol: string | null,
    readonly deflate: DeflateAgreement | null,
  ) {}
  static of(protocol: string | null, deflate: DeflateAgreement | null): Agreement | null {
    if (protocol === null && deflate === null) return null;
    const last = Agreement.#last;
    if (last !== null && last.protocol === protocol && last.deflate === deflate) return last;
    return (Agreement.#last = new Agreement(protocol, deflate));
  }
}

// The life-cycle states, by their number in `_flags` (ConnFlag.STATE).
const STATES: readonly ConnState[] = ['connecting', 'open', 'closing', 'closed'];
const STATE_SHIFT = 4;

/** @internal Bits of a connection's `_flags`. */
export const ConnFlag = {
  TLS: 0x1,
  /** Runs over an HTTP/2 stream (RFC 8441). */
  HTTP2: 0x2,
  /** Frame mode (noPoll's `deliverFragments`). */
  FRAMES: 0x4,
  /** read() was used or onMessageStream is set: the session streams data messages. */
  STREAMING: 0x8,
  /** The life-cycle state's number in STATES (2 bits). */
  STATE: 0x30,
} as const;

/** The identity and state of a connection; see {@link Conn}. */
export abstract class ConnCore {
  /** Per-context id (`nopoll_conn_get_id`). */
  readonly id: number;
  /** The owning context (`nopoll_conn_ctx`). */
  readonly ctx: Context;
  /** The listener that accepted this connection, if any (`nopoll_conn_get_listener`). */
  readonly listener: Listener | null;
  /** Client: the host connected to. Accepted: the peer's address (`nopoll_conn_host`). */
  host: string;
  /** Client: the port connected to. Accepted: the peer's port (`nopoll_conn_port`). */
  port: number;

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

  /** @internal The byte stream once connected or accepted. */ protected _stream: Duplex | null = null;
  /** @internal Set once the handshake completed: the only way to the wire. */ protected _transport: Transport | null =
    null;
  /** @internal */ protected _closeInfo: CloseInfo | null = null;
  /** @internal */ protected _maxFrameSize: number;
  /** @internal {@link ConnFlag} bits (one field, not one per flag: an idle connection is a few fields). */ protected _flags = 0;
  /** @internal */ protected _agreed: Agreement | null = null;
  /** @internal Messages no handler took. */ protected _inbox: Msg[] | null = null;
  /** @internal */ protected _rare: ConnRare = NO_RARE;
  // What the handshake recorded (see `handshake`): the target and Host here, the rest only when set.
  /** @internal */ protected _requestedUrl = '/';
  /** @internal */ protected _hostHeader: string | null = null;
  /** @internal */ protected _handshakeExtra: HandshakeExtra | null = null;

  /** @internal Connections are made by `Conn.connect` and by listeners (`listener`: the one that accepted it). */
  constructor(ctx: Context, listener: Listener | null, host: string, port: number, maxFrameSize: number) {
    this.ctx = ctx;
    this.listener = listener;
    this.host = host;
    this.port = port;
    this._maxFrameSize = maxFrameSize;
    this.id = ctx.register(this as unknown as Conn);
  }

  /** @internal The life-cycle state, kept in `_flags`. */
  protected get _state(): ConnState {
    return STATES[(this._flags & ConnFlag.STATE) >>> STATE_SHIFT]!;
  }
  protected set _state(state: ConnState) {
    this._flags = (this._flags & ~ConnFlag.STATE) | (STATES.indexOf(state) << STATE_SHIFT);
  }
  /** @internal The subprotocol agreed (see Agreement). */
  protected get _acceptedProtocol(): string | null {
    return this._agreed?.protocol ?? null;
  }
  protected set _acceptedProtocol(protocol: string | null) {
    this._agreed = Agreement.of(protocol, this._deflate);
  }
  /** @internal The permessage-deflate agreement (see Agreement). */
  protected get _deflate(): DeflateAgreement | null {
    return this._agreed?.deflate ?? null;
  }
  protected set _deflate(deflate: DeflateAgreement | null) {
    this._agreed = Agreement.of(this._acceptedProtocol, deflate);
  }

  /** @internal The rare state, made writable on first use. */
  protected own(): ConnRare {
    return this._rare !== NO_RARE ? this._rare : (this._rare = new ConnRare());
  }

  /** Starts the closing handshake and resolves when the connection has ended (see `Conn.close`). */
  abstract close(code?: number | null, reason?: string): Promise<CloseInfo>;

  // ---- state ----

  /** `client` or `listener` (`nopoll_conn_role`): a connection a listener accepted is a `listener` one. */
  get role(): ConnRole {
    return this.listener !== null ? 'listener' : 'client';
  }

  /** Where the connection is in its life cycle. */
  get state(): ConnState {
    return this._state;
  }
  /** True until the connection has ended (`nopoll_conn_is_ok`). */
  get isOk(): boolean {
    return this._state !== 'closed';
  }
  /** True once the handshake completed and while messages can be sent (`nopoll_conn_is_ready`). */
  get isReady(): boolean {
    return this._state === 'open';
  }
  /** Whether TLS is in use (`nopoll_conn_is_tls_on`). */
  get isTlsOn(): boolean {
    return (this._flags & ConnFlag.TLS) !== 0;
  }
  /**
   * The underlying socket once connected (`nopoll_conn_socket`): a `net.Socket` or `tls.TLSSocket`; null before,
   * and for a connection that runs over another kind of stream (then see {@link stream}).
   */
  get socket(): Socket | null {
    const stream = this._stream;
    return stream !== null && typeof (stream as Socket).setNoDelay === 'function' ? (stream as Socket) : null;
  }
  /** The byte stream the connection runs over, once connected: the socket, or the HTTP/2 stream (`Http2Stream`). */
  get stream(): Duplex | null {
    return this._stream;
  }
  /**
   * `'2'` when the WebSocket runs over an HTTP/2 stream (RFC 8441 extended CONNECT; `socket` is then null and
   * `stream` is the `Http2Stream`), `'1.1'` when it runs over its own connection (RFC 6455 upgrade).
   */
  get httpVersion(): '1.1' | '2' {
    return (this._flags & ConnFlag.HTTP2) !== 0 ? '2' : '1.1';
  }
  /** The effective frame limit (`nopoll_conn_get_max_frame_size`). */
  get maxFrameSize(): number {
    return this._maxFrameSize;
  }
  /** How the connection ended, once it has. */
  get closeInfo(): CloseInfo | null {
    return this._closeInfo;
  }
  /** Peer's close code: 1005 for a close frame without code, 1006 for none (`nopoll_conn_get_close_status`); 0 while open. */
  get closeStatus(): number {
    return this._closeInfo?.code ?? 0;
  }
  /** Peer's close reason (`nopoll_conn_get_close_reason`); null when none. */
  get closeReason(): string | null {
    return this._closeInfo?.reason || null;
  }

  // ---- handshake data ----

  /**
   * Handshake details (`nopoll_conn_get_requested_url`, `_get_origin`, `_get_cookie`, ...): a new object on each
   * read, a copy of what the connection keeps (the getters below read it without a copy).
   */
  get handshake(): HandshakeInfo {
    const extra = this._handshakeExtra;
    return {
      requestedUrl: this._requestedUrl,
      hostHeader: this._hostHeader,
      origin: extra?.origin ?? null,
      cookie: extra?.cookie ?? null,
      requestedProtocols: extra?.requestedProtocols ?? NO_PROTOCOLS,
      xRealIp: extra?.xRealIp ?? null,
      headers: extra?.headers ?? null,
    };
  }

  /** @internal Records what the handshake established (the fields given; the others stay). */
  recordHandshake(info: Partial<HandshakeInfo>): void {
    const h = Object.assign(this.handshake, info);
    // The target, Host and Origin are mostly the same text on every connection of a server: kept once.
    this._requestedUrl = sharedText(h.requestedUrl);
    this._hostHeader = h.hostHeader === null ? null : sharedText(h.hostHeader);
    const origin = h.origin === null ? null : sharedText(h.origin);
    const protocols = h.requestedProtocols.length > 0 ? h.requestedProtocols : NO_PROTOCOLS;
    this._handshakeExtra =
      origin === null && h.cookie === null && protocols === NO_PROTOCOLS && h.xRealIp === null && h.headers === null
        ? null
        : new HandshakeExtra(origin, h.cookie, protocols, h.xRealIp, h.headers);
  }

  /** The request target (`nopoll_conn_get_requested_url`). */
  get requestedUrl(): string {
    return this._requestedUrl;
  }
  /** The Origin header received (server) or sent (client) (`nopoll_conn_get_origin`). */
  get origin(): string | null {
    return this._handshakeExtra?.origin ?? null;
  }
  /** The Host header received or sent (`nopoll_conn_get_host_header`). */
  get hostHeader(): string | null {
    return this._hostHeader;
  }
  /** The Cookie header received or sent (`nopoll_conn_get_cookie`). */
  get cookie(): string | null {
    return this._handshakeExtra?.cookie ?? null;
  }
  /** The X-Real-IP header received (`nopoll_conn_get_x_real_ip_header`). */
  get xRealIp(): string | null {
    return this._handshakeExtra?.xRealIp ?? null;
  }
  /** The subprotocols requested, in the client's order. */
  get requestedProtocols(): readonly string[] {
    return this._handshakeExtra?.requestedProtocols ?? NO_PROTOCOLS;
  }
  /** The requested subprotocols as one header value (`nopoll_conn_get_requested_protocol`); null when none. */
  get requestedProtocol(): string | null {
    const protocols = this.requestedProtocols;
    return protocols.length > 0 ? protocols.join(', ') : null;
  }
  /** The permessage-deflate parameters agreed in the handshake (RFC 7692), or null when messages are not compressed. */
  get perMessageDeflate(): DeflateAgreement | null {
    return this._deflate;
  }
  /** The `Sec-WebSocket-Extensions` value agreed, as in the server's response; `''` when none (as WHATWG `extensions`). */
  get extensions(): string {
    return this._deflate?.response ?? '';
  }
  /** The subprotocol agreed (`nopoll_conn_get_accepted_protocol`); null when none. */
  get acceptedProtocol(): string | null {
    return this._acceptedProtocol;
  }
  /**
   * Server, inside `onOpen`: the subprotocol to confirm (`nopoll_conn_set_accepted_protocol`). It must be one the
   * client requested (RFC 6455 §4.2.2); otherwise the handshake is refused with 400.
   */
  set acceptedProtocol(protocol: string | null) {
    if (this._state !== 'connecting')
      throw new InvalidStateError('the subprotocol can only be chosen before the handshake completes');
    this._acceptedProtocol = protocol;
  }
}
