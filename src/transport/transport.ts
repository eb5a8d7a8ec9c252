/**
 * The door between the API and the wire: binds one open {@link Session} to one byte stream (any Node `Duplex`: a
 * `net.Socket`, a `TLSSocket`, an HTTP/2 stream, an in-memory pair). Bytes read go into the session; what the
 * session writes goes out through the one {@link Sender}; compressed messages are inflated here (the input held
 * meanwhile, RFC 7692 §7.2.2) before they go up. It owns every timer of an open connection: the closing
 * handshake's (RFC 6455 §7.1.1: who ends TCP, how long to wait), the keepalive's and the slow-message guard's.
 * The API layer talks to the connection only through this class.
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';
import { ConnectionClosedError, PolicyViolationError, TimeoutError, type ProtocolError } from '../errors.js';
import { Session, SessionState } from '../protocol/session.js';
import { inboundBudget } from './inbound-budget.js';
import { Inflation } from './inflation.js';
import { Keepalive } from './keepalive.js';
import { unwatchRate, watchRate } from './rate-guard.js';
import { APP_PAUSED, CLIENT, INFLATING, TransportControls } from './transport-controls.js';
import { listenToStream, type StreamListeners } from './stream-listeners.js';
import {
  TransportLimits,
  type TransportEnd,
  type TransportEvents,
  type TransportOptions,
} from './transport-options.js';
import { ZlibCodec } from './zlib-codec.js';

// The stream's listeners are shared functions that find their transport through this property, so an idle
// connection holds no closures of its own.
const kTransport = Symbol('nopoll.transport');
type Stream = Duplex & { [kTransport]?: Transport };

// The transport's bits of Sender.bits (the sender's are below 0x100; CLIENT, APP_PAUSED and INFLATING are in
// transport-controls.ts).
const REPORTED = 0x200; // transportClosed was called
const END_WHEN_IDLE = 0x400; // TCP end waits for messages being compressed
const CLOSE_TIMER_WHEN_IDLE = 0x800; // so does the close timer of a close frame written behind them

/**
 * One byte stream ⇄ one session. See the module comment. Its bases: {@link TransportControls} (what the API asks
 * that needs no more than the session and the stream) and under it the writing half, {@link Sender}. Its session
 * handler, keepalive host and rate-guard entries are internal methods, checked where `this` is handed over rather
 * than declared with `implements` (the published types leave internal members out).
 */
export class Transport extends TransportControls {
  readonly #events: TransportEvents;
  readonly #limits: TransportLimits;
  #closeTimer: NodeJS.Timeout | null = null;
  readonly #keepalive: Keepalive | null;
  // How the connection ends, filled in as it becomes known: the peer's close frame (1006 until one arrives) and
  // why the connection failed, if it did. Null until then: an open connection holds one field for both.
  #ending: { code: number; reason: string; error: Error | undefined } | null = null;
  /** @internal RateWatched fields (see rate-guard.ts). */
  bytesReceived = 0;
  /** @internal RateWatched */
  get minMessageRate(): number {
    return this.#limits.minMessageRate;
  }
  /** @internal RateWatched */
  get messageRateWindowMs(): number {
    return this.#limits.messageRateWindowMs;
  }

  constructor(stream: Duplex, events: TransportEvents, options: TransportOptions) {
    const deflate = options.deflate ?? null;
    super(
      stream,
      deflate === null ? null : new ZlibCodec(deflate),
      options.maxPendingWriteBytes ?? Infinity,
      options.writeLimitPolicy === 'refuse',
    );
    this.#events = events;
    if (options.role === 'client') this.bits |= CLIENT;
    this.#limits = TransportLimits.of(options);
    this.#keepalive =
      options.idleTimeoutMs || options.pingIntervalMs
        ? Keepalive.create(this, {
            idleTimeoutMs: options.idleTimeoutMs ?? 0,
            pingIntervalMs: options.pingIntervalMs ?? 0,
            pongTimeoutMs: options.pongTimeoutMs ?? 0,
          })
        : null;
    this.session = new Session(this, {
      role: options.role,
      maxFrameBytes: options.maxFrameBytes,
      maxMessageBytes: options.maxMessageBytes,
      deliverFrames: options.deliverFrames ?? false,
      perMessageDeflate: deflate !== null,
      budget: inboundBudget,
      ...(options.maskSource !== undefined ? { maskSource: options.maskSource } : {}),
      ...(options.allowedRsv !== undefined ? { allowedRsv: options.allowedRsv } : {}),
    });
    (stream as Stream)[kTransport] = this;
    listenToStream(stream, Transport.#listeners);
  }

  /** Feeds bytes read before the transport took over (what followed the handshake head). */
  feed(head: Buffer): void {
    if (head.length > 0) this.receive(head);
  }

  // ---- what the API asks: the simple requests are TransportControls' (transport-controls.ts) ----

  /**
   * Starts the closing handshake (§7.1.2; the close frame waits behind messages being compressed) and arms the
   * close timer. False when a close frame was already sent.
   * @throws RangeError for a code that may not be sent or a reason over 123 bytes.
   */
  close(code?: number, reason?: string): boolean {
    const started = this.session.close(code, reason);
    if (!started) return false;
    if (this.compressing) {
      // The close frame waits behind messages being compressed; its deadline starts once it is written, so a long
      // compression never drops the messages sent before the close.
      this.#keepalive?.stop();
      this.bits |= CLOSE_TIMER_WHEN_IDLE;
    } else {
      this.armCloseTimer();
    }
    return true;
  }

  /** Starts the closing handshake for a local failure (a limit): as {@link close}, with `error` reported. */
  closeWithError(error: Error, code: number, reason: string): boolean {
    this.failure ??= error;
    return this.close(code, reason);
  }

  /** Drops the connection at once, without a close frame (noPoll's shutdown). */
  destroy(error?: Error): void {
    if (error) this.failure ??= error;
    this.session.abort();
    this.stream.destroy();
  }

  // ---- receiving ----

  // Every byte from the peer comes through here (bytes after the handshake, 'data', shared-buffer reads): it counts
  // for the rate guard and as activity for the keepalive. `transient`: the chunk is the shared read buffer, reused
  // once this returns (the session copies what it keeps).
  /** @internal */
  private receive(chunk: Buffer, transient = false): void {
    this.bytesReceived += chunk.length;
    if (this.#keepalive !== null) this.#keepalive.seen = true;
    this.beginBatch();
    try {
      this.session.receive(chunk, transient);
    } finally {
      this.endBatch();
    }
    if (this.minMessageRate > 0) {
      if (this.session.receivingMessage) watchRate(this);
      else unwatchRate(this);
    }
  }

  /** @internal RateWatched: a message is under way and we are reading. */
  get awaitingPeer(): boolean {
    return (this.bits & (APP_PAUSED | INFLATING)) === 0 && this.session.receivingMessage;
  }

  /** @internal RateWatched: the message under way is too slow. */
  tooSlow(received: number, windowMs: number): void {
    const error = new TimeoutError(
      'message',
      `message under way: ${received} bytes in ${windowMs} ms, under ${this.minMessageRate} bytes/s`,
    );
    this.closeWithError(error, 1008, 'message too slow');
    this.session.abort(); // nothing more of it is read
  }

  // ---- SessionHandler (sessionWrite is the Sender's) ----

  /** @internal */
  sessionMessage(opcode: number, payload: Buffer, fin: boolean): void {
    this.#events.transportMessage(opcode, payload, fin);
  }

  /** @internal */
  sessionStream(opcode: number, data: Buffer, end: boolean): void {
    this.#events.transportStream(opcode, data, end);
  }

  /** @internal */
  sessionPing(payload: Buffer): void {
    // The pong is queued already. A peer that floods pings and does not read would grow our output without bound:
    // past the write limit it is dropped (no close frame: it could not leave either). ws: maxPendingAutoPongs.
    const pending = this.pendingBytes;
    if (pending > this.writeLimit) {
      this.destroy(new PolicyViolationError(`ping flood: ${pending} bytes of pongs unread by the peer`));
      return;
    }
    this.#events.transportPing(payload);
  }

  /** @internal */
  sessionPong(payload: Buffer): void {
    this.#events.transportPong(payload);
  }

  /** @internal */
  sessionClose(code: number, reason: string): void {
    const ending = this.endingNow();
    ending.code = code;
    ending.reason = reason;
    // §7.1.1: the server closes TCP first; the client waits for it. Neither waits forever: a peer that never ends
    // its side of TCP is dropped after closeTimeoutMs.
    if ((this.bits & CLIENT) === 0) this.end();
    this.armCloseTimer();
    this.#events.transportCloseFrame(code, reason);
  }

  /** @internal */
  sessionError(error: ProtocolError): void {
    this.dropPending();
    this.failure = error;
    this.compression?.inflation?.release();
    // §7.1.7: after the close frame, the connection is dropped; give the frame a moment to leave.
    this.end();
    this.armCloseTimer();
  }

  /**
   * @internal A compressed message (or frame) arrived: inflate it with the input held (RFC 7692 §7.2.2), deliver
   * it, then let the session go on.
   */
  sessionCompressed(opcode: number, payload: Buffer, fin: boolean): void {
    this.bits |= INFLATING;
    this.stream.pause();
    const compression = this.compression!;
    const inflation = (compression.inflation ??= new Inflation(compression.codec));
    inflation.run(opcode, payload, fin, this.session.inflateLimit, (data, error) => {
      this.bits &= ~INFLATING;
      // Reading resumes first: if delivering the message makes the application pause, that pause stands. On a
      // failure too, so that the peer's answer to our close frame (and its end of TCP) is read.
      if ((this.bits & APP_PAUSED) === 0 && !this.stream.destroyed) this.stream.resume();
      if (error !== null) return this.session.fail(error);
      this.beginBatch();
      try {
        this.#events.transportMessage(opcode, data!, fin);
        this.session.resume();
      } finally {
        this.endBatch();
      }
    });
  }

  // ---- KeepaliveHost ----

  /** @internal Heartbeat: nothing arrived for an interval. */
  keepalivePing(): void {
    this.session.ping();
  }

  /** @internal Nothing arrived for the idle timeout: close with 1001 ("going away"). */
  keepaliveIdle(idleTimeoutMs: number): void {
    if (this.session.state !== SessionState.OPEN) return;
    this.failure ??= new TimeoutError('idle', `nothing received for ${idleTimeoutMs} ms`);
    this.close(1001, 'idle timeout');
  }

  /** @internal The heartbeat ping went unanswered: drop the connection (1006). */
  keepaliveDead(pongTimeoutMs: number): void {
    this.destroy(new TimeoutError('heartbeat', `no answer to a ping within ${pongTimeoutMs} ms`));
  }

  // ---- Sender ----

  /** @internal The compressed messages are all written: a close timer and a TCP end that were held go now. */
  protected senderIdle(): void {
    const bits = this.bits;
    this.bits = bits & ~(CLOSE_TIMER_WHEN_IDLE | END_WHEN_IDLE);
    if ((bits & CLOSE_TIMER_WHEN_IDLE) !== 0) this.armCloseTimer();
    if ((bits & END_WHEN_IDLE) !== 0) this.end();
  }

  /** @internal zlib failed on our side (not the peer's data): drop the connection, zlib's error as the cause. */
  protected senderBroken(error: Error): void {
    this.destroy(new ConnectionClosedError(`compression failed: ${error.message}`, 1006, '', { cause: error }));
  }

  /** @internal */
  protected writeLimitPassed(error: PolicyViolationError): void {
    this.closeWithError(error, 1008, 'write limit exceeded');
  }

  // ---- ending ----

  /** @internal Ends TCP after what is still batched (and after compressed messages still pending). */
  private end(): void {
    if (this.compressing) {
      this.bits |= END_WHEN_IDLE;
      return;
    }
    this.flushBatch();
    const stream = this.stream;
    // Not twice: a second end() builds an ERR_STREAM_ALREADY_FINISHED error, stack trace and all.
    if (!stream.destroyed && !stream.writableEnded) stream.end();
  }

  static #onData(this: Stream, chunk: Buffer): void {
    this[kTransport]!.receive(chunk);
  }

  static #onSharedRead(this: Stream, bytes: number, buffer: Buffer): boolean {
    this[kTransport]!.receive(buffer.subarray(0, bytes), true);
    return true;
  }

  static #onEnd(this: Stream): void {
    const transport = this[kTransport]!;
    if (transport.session.state !== SessionState.CLOSED) transport.session.abort();
    transport.dropPending();
    transport.end();
  }

  static #onError(this: Stream, error: Error): void {
    const transport = this[kTransport]!;
    // Once both close frames have crossed, the close is clean whatever TCP does next (§7.1.1, §7.1.4): a reset
    // after the handshake (as Autobahn's server does) is no failure.
    const session = transport.session;
    if (session.closeSent && session.closeReceived) return;
    // A socket error (ECONNRESET, EPIPE...) is reported typed, Node's error as its cause.
    transport.failure ??= new ConnectionClosedError(`socket error: ${error.message}`, 1006, '', { cause: error });
  }

  static #onClose(this: Stream): void {
    this[kTransport]!.closed();
  }

  // A half-closed connection cannot carry a close frame back: the peer's end is the end (§7.1.5).
  static readonly #listeners: StreamListeners = {
    data: Transport.#onData,
    sharedRead: Transport.#onSharedRead,
    error: Transport.#onError,
    close: Transport.#onClose,
    end: Transport.#onEnd,
  };

  // Not #private accessors and methods: those would add a brand field to every instance.
  /** @internal Why the connection failed, if it did. */
  private get failure(): Error | undefined {
    return this.#ending?.error;
  }
  private set failure(error: Error | undefined) {
    this.endingNow().error = error;
  }
  /** @internal */
  private endingNow(): { code: number; reason: string; error: Error | undefined } {
    return (this.#ending ??= { code: 1006, reason: '', error: undefined });
  }

  /** @internal */
  private closed(): void {
    this.#keepalive?.stop();
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    unwatchRate(this);
    const session = this.session;
    session.abort();
    this.releaseSender();
    const compression = this.compression;
    if (compression !== null) {
      compression.codec.release();
      compression.inflation?.release();
    }
    if ((this.bits & REPORTED) !== 0) return;
    this.bits |= REPORTED;
    const clean = session.closeSent && session.closeReceived && !this.failure;
    const ending = this.#ending;
    const info: TransportEnd = { code: ending?.code ?? 1006, reason: ending?.reason ?? '', wasClean: clean };
    if (this.failure) info.error = this.failure;
    this.#events.transportClosed(info);
  }

  /** @internal */
  private armCloseTimer(): void {
    this.#keepalive?.stop(); // the closing handshake has its own deadline
    if (this.#closeTimer !== null || this.stream.destroyed) return;
    this.#closeTimer = setTimeout(Transport.#onCloseTimeout, this.#limits.closeTimeoutMs, this);
    this.#closeTimer.unref?.();
  }

  static #onCloseTimeout(transport: Transport): void {
    transport.#closeTimer = null;
    if (!transport.failure && !transport.session.closeReceived) {
      transport.failure = new TimeoutError(
        'close',
        `no closing handshake within ${transport.#limits.closeTimeoutMs} ms`,
      );
    }
    transport.stream.destroy();
  }
}
