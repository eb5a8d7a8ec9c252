/**
 * A client with the browser's `WebSocket` interface (WHATWG WebSockets Standard), so code written for browsers
 * runs unchanged: `readyState` and its constants, `binaryType`, `bufferedAmount`, `protocol`, `extensions`,
 * `url`, `send`, `close` with the standard's argument checks, and `open` / `message` / `error` / `close` events
 * through `EventTarget` and the `on...` properties. Built on {@link Conn}.
 * @packageDocumentation
 */
import { isToken } from '../protocol/handshake/headers.js';
import { Conn } from './conn.js';
import type { ConnOptsInit, ConnOptsLike } from './conn-opts.js';
import { optsValues } from './conn-opts.js';
import { Context } from './context.js';
import { GuardedEventTarget, type ListenerOptions, type TargetListener } from './guarded-event-target.js';
import type { Msg } from './msg.js';
import { CLOSED, CLOSING, CONNECTING, defineReadyStates, OPEN, type ReadyState } from './ready-state.js';

/** How binary messages are handed to `message` listeners: `Blob` (the default), `ArrayBuffer`, or Node `Buffer`. */
export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/** What `send` accepts (anything else is sent as `String(data)`, as the standard's overload conversion does). */
export type WebSocketData = string | ArrayBufferLike | ArrayBufferView | Blob;

/** Fields of a {@link CloseEvent}. */
export interface CloseEventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
  code?: number;
  reason?: string;
  wasClean?: boolean;
}

/** The `close` event: how the connection ended (Node 20 has no global `CloseEvent`). */
export class CloseEvent extends Event {
  /** The close code received (1005: the close frame had none; 1006: no close frame). */
  readonly code: number;
  /** The close reason received. */
  readonly reason: string;
  /** True when the closing handshake completed and TCP then ended. */
  readonly wasClean: boolean;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

/** nopoll extensions, passed as a third constructor argument (browsers have none). */
export interface WebSocketInit {
  /** Context of the connection (default: one shared by every WebSocket made without one). */
  context?: Context;
  /** Connection options: origin, extra headers, cookie, size limits, timeouts. `protocols` is set from the constructor. */
  opts?: ConnOptsLike;
}

/**
 * The events of {@link WebSocket} and the object each one delivers, as browsers type them (lib.dom's
 * `WebSocketEventMap`): `message` is the platform's `MessageEvent`, `close` a {@link CloseEvent}.
 */
export interface WebSocketEventMap {
  close: CloseEvent;
  error: Event;
  message: MessageEvent;
  open: Event;
}

/**
 * What the `data` of a `message` event holds at run time: a string for a text message; for a binary one a `Blob`,
 * an `ArrayBuffer` or a `Buffer`, per {@link WebSocket.binaryType}. The event's `data` is typed as browsers type it
 * (the platform's `MessageEvent`), so browser code compiles unchanged; narrow it to this type where that helps.
 */
export type WebSocketMessageData = string | Blob | ArrayBuffer | Buffer;

/** An `on...` attribute of {@link WebSocket}: a function called with the event (and the socket as `this`), or null. */
export type WebSocketEventHandler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;

/** A listener of one event type: a function (the socket as `this`) or an object with `handleEvent`. */
export type WebSocketListener<E extends Event> =
  ((this: WebSocket, event: E) => unknown) | { handleEvent(event: E): unknown };

let sharedContext: Context | null = null;

/** A WebSocket client with the browser's interface. See the module comment. */
export class WebSocket extends GuardedEventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: typeof CONNECTING;
  declare readonly OPEN: typeof OPEN;
  declare readonly CLOSING: typeof CLOSING;
  declare readonly CLOSED: typeof CLOSED;

  readonly #url: string;
  readonly #origin: string;
  #conn: Conn | null = null;
  #state: ReadyState = CONNECTING;
  #protocol = '';
  #extensions = '';
  #binaryType: BinaryType = 'blob';
  #opened = false;
  // bufferedAmount: payload bytes sent since the socket buffer was last seen empty, bytes of Blobs still being
  // read, and bytes passed to send() once closing (which the standard counts and never sends).
  #unsent = 0;
  #blobBytes = 0;
  #afterClose = 0;
  #sendChain: Promise<void> | null = null;
  /**
   * Opens a connection to `url` (`ws:`, `wss:`, or `http:` / `https:`, which mean the same), asking for
   * `protocols`. Throws a `SyntaxError` DOMException for a URL that is not absolute, has another scheme or a
   * fragment, and for subprotocols that are empty, not tokens, or repeated (compared case-insensitively).
   * Failures after that are reported by `error` and `close` events.
   */
  constructor(url: string | URL, protocols: string | readonly string[] = [], init?: WebSocketInit) {
    super();
    let parsed: URL;
    try {
      parsed = new URL(String(url));
    } catch {
      throw new DOMException(`invalid URL: ${String(url)}`, 'SyntaxError');
    }
    if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
    else if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new DOMException(
        `the URL's scheme must be ws, wss, http or https, not ${parsed.protocol.slice(0, -1)}`,
        'SyntaxError',
      );
    }
    if (parsed.href.includes('#')) throw new DOMException('a WebSocket URL has no fragment', 'SyntaxError');
    const list = typeof protocols === 'string' ? [protocols] : Array.from(protocols, String);
    const seen = new Set<string>();
    for (const p of list) {
      if (!isToken(p)) throw new DOMException(`invalid subprotocol: ${JSON.stringify(p)}`, 'SyntaxError');
      const key = p.toLowerCase();
      if (seen.has(key)) throw new DOMException(`subprotocol repeated: ${p}`, 'SyntaxError');
      seen.add(key);
    }
    this.#url = parsed.href;
    this.#origin = parsed.origin;
    const options = init !== null && typeof init === 'object' ? init : {};
    const ctx = options.context ?? (sharedContext ??= new Context());
    const opts: ConnOptsInit = {
      ...optsValues(options.opts),
      protocols: list,
      deliverFragments: false,
      writeLimitPolicy: 'close',
    };
    try {
      this.#conn = Conn.connect(ctx, parsed, opts);
    } catch {
      // The standard fails the connection asynchronously (error + close events), it does not throw.
      setImmediate(() => this.#closed(1006, '', false, true));
      return;
    }
    const conn = this.#conn;
    conn.onReady = () => this.#open();
    conn.onMessage = (_conn, msg) => this.#message(msg);
    conn.onClose = (_conn, info) => this.#closed(info.code, info.reason, info.wasClean, info.error !== undefined);
  }

  /** The URL, resolved and with `http(s):` turned into `ws(s):`. */
  get url(): string {
    return this.#url;
  }

  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3). */
  get readyState(): ReadyState {
    // A close frame from the server starts the closing handshake too.
    if (this.#state === OPEN && this.#conn?.state === 'closing') return CLOSING;
    return this.#state;
  }

  /** The subprotocol the server chose; empty before `open` and when none. */
  get protocol(): string {
    return this.#protocol;
  }

  /** The extensions the server accepted (its `Sec-WebSocket-Extensions` value); empty when none. */
  get extensions(): string {
    return this.#extensions;
  }

  /** Payload bytes passed to `send` and not yet handed to the operating system (frame headers not counted). */
  get bufferedAmount(): number {
    const pending = this.#conn?.socket?.writableLength ?? 0;
    if (pending === 0) this.#unsent = 0;
    return this.#afterClose + this.#blobBytes + Math.min(this.#unsent, pending);
  }

  /** `'blob'` (default), `'arraybuffer'`, or `'nodebuffer'` (a nopoll extension). Other values are ignored. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(value: BinaryType) {
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.#binaryType = value;
  }

  /**
   * Sends a message: text for a string, binary for an `ArrayBuffer`, a typed array or `DataView`, or a `Blob`.
   * Throws an `InvalidStateError` DOMException while `CONNECTING`; once closing, the data is counted in
   * `bufferedAmount` and dropped, as the standard says.
   */
  send(data: WebSocketData): void {
    if (this.#state === CONNECTING) throw new DOMException('the connection is not open yet', 'InvalidStateError');
    let message: string | Buffer | Blob;
    let size: number;
    if (typeof data === 'string') {
      message = data;
      size = Buffer.byteLength(data);
    } else if (data instanceof Blob) {
      message = data;
      size = data.size;
    } else if (ArrayBuffer.isView(data)) {
      message = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      size = data.byteLength;
    } else if (data instanceof ArrayBuffer || isSharedArrayBuffer(data)) {
      message = Buffer.from(data as ArrayBuffer);
      size = message.length;
    } else {
      message = String(data);
      size = Buffer.byteLength(message);
    }
    if (this.readyState !== OPEN) {
      this.#afterClose += size;
      return;
    }
    if (message instanceof Blob || this.#sendChain !== null) {
      // A Blob's bytes arrive asynchronously; later sends wait behind it to keep the order.
      this.#blobBytes += size;
      const previous = this.#sendChain ?? Promise.resolve();
      const chain = previous
        .then(async () => (message instanceof Blob ? Buffer.from(await message.arrayBuffer()) : message))
        .then(
          (bytes) => {
            this.#blobBytes -= size;
            if (this.readyState === OPEN) this.#transmit(bytes, size);
            else this.#afterClose += size;
          },
          () => {
            this.#blobBytes -= size;
          },
        )
        .finally(() => {
          if (this.#sendChain === chain) this.#sendChain = null;
        });
      this.#sendChain = chain;
      return;
    }
    this.#transmit(message, size);
  }

  #transmit(message: string | Buffer, size: number): void {
    const conn = this.#conn!;
    if ((conn.socket?.writableLength ?? 0) === 0) this.#unsent = 0;
    const sent = typeof message === 'string' ? conn.sendText(message) : conn.sendBinary(message);
    if (sent >= 0) this.#unsent += size;
    else this.#afterClose += size;
  }

  /**
   * Starts the closing handshake (or abandons a connection still being made). `code` must be 1000 or 3000 to
   * 4999 (else an `InvalidAccessError` DOMException) and `reason` at most 123 bytes of UTF-8 (else a `SyntaxError`
   * DOMException). Does nothing once closing or closed.
   */
  close(code?: number, reason?: string): void {
    let status: number | undefined;
    if (code !== undefined) {
      status = clampUint16(code);
      if (status !== 1000 && (status < 3000 || status > 4999)) {
        throw new DOMException(`the close code must be 1000 or from 3000 to 4999, got ${status}`, 'InvalidAccessError');
      }
    }
    const text = reason === undefined ? '' : String(reason);
    if (Buffer.byteLength(text) > 123)
      throw new DOMException('the close reason is longer than 123 bytes of UTF-8', 'SyntaxError');
    const state = this.readyState;
    if (state === CLOSING || state === CLOSED) return;
    this.#state = CLOSING;
    if (state === CONNECTING) {
      // "Fail the WebSocket connection": error and close events follow.
      this.#conn?.shutdown();
      return;
    }
    void this.#conn?.close(status ?? 1000, text);
  }

  /** Handler property for `open` events. */
  get onopen(): WebSocketEventHandler<Event> {
    return this.eventHandler('open') as WebSocketEventHandler<Event>;
  }
  set onopen(handler: WebSocketEventHandler<Event>) {
    this.setEventHandler('open', handler);
  }
  /** Handler property for `message` events (`MessageEvent`, `data` a string or per {@link binaryType}). */
  get onmessage(): WebSocketEventHandler<MessageEvent> {
    return this.eventHandler('message') as WebSocketEventHandler<MessageEvent>;
  }
  set onmessage(handler: WebSocketEventHandler<MessageEvent>) {
    this.setEventHandler('message', handler);
  }
  /** Handler property for `error` events (a plain `Event`, as in browsers; a `close` event follows). */
  get onerror(): WebSocketEventHandler<Event> {
    return this.eventHandler('error') as WebSocketEventHandler<Event>;
  }
  set onerror(handler: WebSocketEventHandler<Event>) {
    this.setEventHandler('error', handler);
  }
  /** Handler property for `close` events ({@link CloseEvent}). */
  get onclose(): WebSocketEventHandler<CloseEvent> {
    return this.eventHandler('close') as WebSocketEventHandler<CloseEvent>;
  }
  set onclose(handler: WebSocketEventHandler<CloseEvent>) {
    this.setEventHandler('close', handler);
  }

  /**
   * As `EventTarget#addEventListener`, typed per event as in browsers; a listener that throws is reported (the
   * context's `onError`), never fatal.
   */
  override addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: WebSocketListener<WebSocketEventMap[K]> | null,
    options?: ListenerOptions,
  ): void;
  override addEventListener(type: string, listener: TargetListener | null, options?: ListenerOptions): void;
  override addEventListener(type: string, listener: TargetListener | null, options?: ListenerOptions): void {
    super.addEventListener(type, listener, options);
  }

  /** As `EventTarget#removeEventListener`. */
  override removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: WebSocketListener<WebSocketEventMap[K]> | null,
    options?: ListenerOptions,
  ): void;
  override removeEventListener(type: string, listener: TargetListener | null, options?: ListenerOptions): void;
  override removeEventListener(type: string, listener: TargetListener | null, options?: ListenerOptions): void {
    super.removeEventListener(type, listener, options);
  }

  /** @internal A listener's exception: the connection's context reports it (onError, else the console). */
  protected override reportListenerError(error: unknown): void {
    const conn = this.#conn;
    if (conn !== null) conn.ctx.handlerError(error, conn);
    else console.error('nopoll: WebSocket listener failed:', error);
  }

  #open(): void {
    const conn = this.#conn!;
    if (this.#state !== CONNECTING) return;
    this.#state = OPEN;
    this.#opened = true;
    this.#protocol = conn.acceptedProtocol ?? '';
    this.#extensions = conn.handshake.headers?.get('sec-websocket-extensions') ?? '';
    this.dispatchEvent(new Event('open'));
  }

  #message(msg: Msg): void {
    if (this.#state !== OPEN) return;
    let data: unknown;
    if (msg.isText) data = msg.text;
    else if (this.#binaryType === 'arraybuffer') data = toArrayBuffer(msg.payload);
    else if (this.#binaryType === 'blob') data = new Blob([msg.payload]);
    else data = msg.payload;
    this.dispatchEvent(new MessageEvent('message', { data, origin: this.#origin }));
  }

  #closed(code: number, reason: string, wasClean: boolean, failed: boolean): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    // The standard fires `error` first when the connection was failed (handshake refused, protocol error...).
    if (failed || !this.#opened) this.dispatchEvent(new Event('error'));
    this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean }));
  }
}

defineReadyStates(WebSocket.prototype);

// WebIDL `[Clamp] unsigned short`: NaN is 0, out-of-range values stick to 0 or 65535, halves round to even.
function clampUint16(value: unknown): number {
  const n = Number(value);
  if (Number.isNaN(n)) return 0;
  const clamped = Math.min(Math.max(n, 0), 65535);
  const floor = Math.floor(clamped);
  const diff = clamped - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return copy;
}

function isSharedArrayBuffer(value: unknown): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && value instanceof SharedArrayBuffer;
}
