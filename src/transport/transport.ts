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
import { ConnectionClosedError, PolicyViolationError, ProtocolError, TimeoutError } from '../errors.js';
import { Opcode } from '../protocol/constants.js';
import { MessageBuffer } from '../protocol/message-buffer.js';
import { Session, SessionState, type SessionOptions } from '../protocol/session.js';
import { inboundBudget } from './inbound-budget.js';
import { Keepalive } from './keepalive.js';
import { unwatchRate, watchRate } from './rate-guard.js';
import { Sender } from './sender.js';
import { ZlibCodec, type DeflateSetup } from './zlib-codec.js';

/** How a connection ended, reported exactly once. */
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

/** What the transport reports upward. The API layer's connection implements it. */
export interface TransportEvents {
  /** A data message, or in frame mode one frame (see `SessionHandler.sessionMessage`), compressed ones inflated. */
  transportMessage(opcode: number, payload: Buffer, fin: boolean): void;
  /** Streaming mode: bytes of the data message being received (see `SessionHandler.sessionStream`). */
  transportStream(opcode: number, data: Buffer, end: boolean): void;
  /** A ping arrived (already answered). */
  transportPing(payload: Buffer): void;
  /** A pong arrived. */
  transportPong(payload: Buffer): void;
  /** The peer's close frame arrived (before the byte stream ends). */
  transportCloseFrame(code: number, reason: string): void;
  /** The connection is gone: called once, after the stream closed. */
  transportClosed(info: CloseInfo): void;
}

/** Transport settings. */
export interface TransportOptions extends Omit<SessionOptions, 'perMessageDeflate' | 'budget'> {
  /** How long to wait for the peer's close frame, or for the server to end TCP, before dropping the stream. */
  closeTimeoutMs: number;
  /** Close with 1001 after this many ms without receiving anything (0 or absent: off). See keepalive.ts. */
  idleTimeoutMs?: number;
  /** Ping after this many ms without receiving anything (0 or absent: off). */
  pingIntervalMs?: number;
  /** Drop the connection (1006) when nothing answers a heartbeat ping within this many ms (default: the interval). */
  pongTimeoutMs?: number;
  /**
   * Most bytes the connection may hold unsent before a send hits the write limit; automatic pongs past it drop the
   * connection (a ping flood from a peer that does not read).
   */
  maxPendingWriteBytes?: number;
  /** What a send past the write limit does: `'close'` (1008) or `'refuse'` (0, nothing sent). */
  writeLimitPolicy?: 'close' | 'refuse';
  /** Slow-message guard (see rate-guard.ts): bytes/s a message under way must keep up (0: off), and the window. */
  minMessageRate?: number;
  messageRateWindowMs?: number;
  /** permessage-deflate settings when it was negotiated (RFC 7692); null or absent otherwise. */
  deflate?: DeflateSetup | null;
}

// The stream's listeners are shared functions that find their transport through this property, so an idle
// connection holds no closures of its own.
const kTransport = Symbol('nopoll.transport');
type Stream = Duplex & { [kTransport]?: Transport };

/** One byte stream ⇄ one session. See the module comment. */
// The session handler, sender host, keepalive host and rate-guard entry are internal methods: checked where `this`
// is handed over, not declared with `implements` (the published types leave internal members out).
export class Transport {
  readonly #stream: Stream;
  readonly #session: Session;
  readonly #sender: Sender;
  readonly #codec: ZlibCodec | null;
  readonly #events: TransportEvents;
  readonly #client: boolean;
  readonly #closeTimeoutMs: number;
  #closeTimer: NodeJS.Timeout | null = null;
  readonly #keepalive: Keepalive | null;
  readonly #writeLimit: number;
  readonly #refuseOverLimit: boolean;
  #code = 1006;
  #reason = '';
  #error: Error | undefined = undefined;
  #reported = false;
  #endWhenIdle = false; // TCP end waits for messages being compressed
  // Input paused by the application (backpressure) and by an inflation under way: the stream reads when neither.
  #appPaused = false;
  #inflating = false;
  #inflated: MessageBuffer | null = null; // inflated output of the message under way (made on first use)
  #idleWaiters: Array<() => void> | null = null; // flush waits held behind messages being compressed
  // RateWatched
  bytesReceived = 0;
  readonly minMessageRate: number;
  readonly messageRateWindowMs: number;
  rateTick = 0;
  rateBytes = 0;

  constructor(stream: Duplex, events: TransportEvents, options: TransportOptions) {
    this.#stream = stream;
    this.#events = events;
    this.#client = options.role === 'client';
    this.#closeTimeoutMs = options.closeTimeoutMs;
    this.#writeLimit = options.maxPendingWriteBytes ?? Infinity;
    this.#refuseOverLimit = options.writeLimitPolicy === 'refuse';
    this.minMessageRate = options.minMessageRate ?? 0;
    this.messageRateWindowMs = options.messageRateWindowMs ?? 0;
    this.#keepalive =
      options.idleTimeoutMs || options.pingIntervalMs
        ? Keepalive.create(this, {
            idleTimeoutMs: options.idleTimeoutMs ?? 0,
            pingIntervalMs: options.pingIntervalMs ?? 0,
            pongTimeoutMs: options.pongTimeoutMs ?? 0,
          })
        : null;
    const deflate = options.deflate ?? null;
    this.#session = new Session(this, {
      role: options.role,
      maxFrameBytes: options.maxFrameBytes,
      maxMessageBytes: options.maxMessageBytes,
      deliverFrames: options.deliverFrames ?? false,
      perMessageDeflate: deflate !== null,
      budget: inboundBudget,
      ...(options.maskSource !== undefined ? { maskSource: options.maskSource } : {}),
      ...(options.allowedRsv !== undefined ? { allowedRsv: options.allowedRsv } : {}),
    });
    this.#codec = deflate === null ? null : new ZlibCodec(deflate);
    this.#sender = new Sender(stream, this.#session, this, this.#codec);
    (stream as Stream)[kTransport] = this;
    stream.on('data', Transport.#onData);
    stream.on('error', Transport.#onError);
    stream.on('close', Transport.#onClose);
    // A half-closed connection cannot carry a close frame back; treat the peer's end as the end (§7.1.5).
    stream.on('end', Transport.#onEnd);
  }

  /** The byte stream. */
  get stream(): Duplex {
    return this.#stream;
  }

  /** Feeds bytes read before the transport took over (what followed the handshake head). */
  feed(head: Buffer): void {
    if (head.length > 0) this.#receive(head);
  }

  // ---- what the API asks ----

  /**
   * Sends a message, or a frame of a fragmented one (`fin` false), TEXT or BINARY; `compress` decides for a
   * compressed connection (else the threshold). Applies the write limit: a send that would take the pending bytes
   * past it is refused (0) or closes the connection with 1008 (-1), per the policy; a message always goes when
   * nothing is pending, whatever its size.
   * @returns the payload bytes accepted, 0 when refused by the write limit, -1 when the connection no longer sends.
   * @throws TypeError for a send the protocol forbids (see `Session.sendData`).
   */
  send(opcode: number, data: string | Buffer, fin: boolean, compress?: boolean): number {
    if (this.#session.state !== SessionState.OPEN) return -1;
    const pending = this.#sender.pendingBytes;
    if (pending !== 0 && data.length !== 0 && this.#overLimit(data, pending)) return this.#refuseWrite(pending);
    return this.#sender.send(opcode, data, fin, compress);
  }

  #overLimit(data: string | Buffer, pending: number): boolean {
    const room = this.#writeLimit - pending;
    if (typeof data !== 'string') return data.length > room;
    return data.length * 3 > room && Buffer.byteLength(data, 'utf8') > room;
  }

  #refuseWrite(pending: number): number {
    if (this.#refuseOverLimit) return 0;
    const text = `write limit of ${this.#writeLimit} bytes exceeded (${pending} pending)`;
    this.closeWithError(new PolicyViolationError(text), 1008, 'write limit exceeded');
    return -1;
  }

  // ---- publish: frames shared by many connections ----

  /**
   * Sends a whole data message already framed for the server role (`frameServerMessage`), the same bytes other
   * connections get: a published message is framed once, not once per subscriber. Same state check and write
   * limit as {@link send}; held behind messages being compressed like every write; and written into the
   * connection's per-turn cork, so all it gets in one event-loop turn leaves in one writev (turn-cork.ts). Not
   * while a fragmented message is being sent: frames of two messages may not interleave (RFC 6455 §5.4).
   * @returns the frame's bytes; 0 when refused (write limit with policy 'refuse', or a fragmented message is open);
   * -1 when the connection no longer sends.
   * @throws TypeError on a client connection (its frames must be masked, each with its own key: §5.3).
   */
  sendFrame(frame: Buffer): number {
    if (this.#client) throw new TypeError('a client connection masks its frames: it cannot send a shared frame');
    if (this.#session.state !== SessionState.OPEN) return -1;
    if (this.#session.sendingFragmented !== 0) return 0;
    const pending = this.#sender.pendingBytes;
    if (pending !== 0 && frame.length > this.#writeLimit - pending) return this.#refuseWrite(pending);
    this.#sender.writeShared(frame);
    return frame.length;
  }

  /**
   * Bytes still unsent from before the current event-loop turn: {@link pendingBytes} without the shared frames
   * written during this turn (they leave together when it ends). What a peer that does not read lets pile up; a
   * burst published in one turn does not count until the turn is over.
   */
  get backlogBytes(): number {
    const backlog = this.#sender.pendingBytes - this.#sender.turnBytes;
    return backlog > 0 ? backlog : 0;
  }

  /** The connection's compression settings when permessage-deflate was agreed, else null (see sendFrame). */
  get deflateSetup(): Readonly<DeflateSetup> | null {
    return this.#codec?.setup ?? null;
  }

  /** True for a client connection (its frames are masked and cannot be shared). */
  get isClient(): boolean {
    return this.#client;
  }

  /** Sends a ping (at most 125 bytes, §5.5.2). False when the connection is no longer open. */
  ping(data?: Uint8Array): boolean {
    return this.#session.ping(data);
  }

  /** Sends an unsolicited pong (§5.5.3). False when the connection is no longer open. */
  pong(data?: Uint8Array): boolean {
    return this.#session.pong(data);
  }

  /** The opcode of the fragmented message being sent, or 0. */
  get sendingFragmented(): number {
    return this.#session.sendingFragmented;
  }

  /** True while the connection sends and receives (no close frame either way). */
  get open(): boolean {
    return this.#session.state === SessionState.OPEN;
  }

  /** Bytes accepted and not yet handed to the kernel (messages waiting for compression included). */
  get pendingBytes(): number {
    return this.#sender.pendingBytes;
  }

  /** Bytes handed to the operating system so far, frame headers included. */
  get flushedBytes(): number {
    return this.#sender.flushedBytes;
  }

  /** Bytes of partly received messages held (parser and assembler). */
  get bufferedBytes(): number {
    return this.#session.bufferedBytes + (this.#inflated?.size ?? 0);
  }

  /**
   * Calls `done` once every byte accepted before the call has reached the kernel (messages still being compressed
   * first), with an error when the connection ends first. Returns a function that cancels the wait.
   */
  whenFlushed(done: (error?: Error) => void): () => void {
    let active = true;
    let cleanup = (): void => {
      active = false;
    };
    const stream = this.#stream;
    const onClose = (): void => finish(new ConnectionClosedError('connection closed before the writes were flushed'));
    const finish = (error?: Error): void => {
      if (!active) return;
      cleanup();
      done(error);
    };
    const waitStream = (): void => {
      if (!active) return;
      if (stream.writableLength === 0 || stream.destroyed) return finish();
      // 'drain' only follows a write that returned false; below the high-water mark, an empty write's callback
      // runs once everything queued before it reached the kernel (writes complete in order).
      const onFlushed = (error?: Error | null): void => (error ? onClose() : finish());
      cleanup = (): void => {
        active = false;
        stream.off('drain', onFlushed);
        stream.off('close', onClose);
      };
      stream.on('close', onClose);
      if (stream.writableNeedDrain) stream.on('drain', onFlushed);
      else stream.write(EMPTY, onFlushed);
    };
    if (this.#sender.compressing) (this.#idleWaiters ??= []).push(waitStream);
    else waitStream();
    return () => cleanup();
  }

  /** Stops reading (backpressure from the application); the peer is slowed down by TCP. */
  pauseInput(): void {
    this.#appPaused = true;
    this.#stream.pause();
  }

  /** Reads again after {@link pauseInput} (unless an inflation still holds the input). */
  resumeInput(): void {
    this.#appPaused = false;
    if (!this.#inflating && !this.#stream.destroyed) this.#stream.resume();
  }

  /** True while the application paused the input. */
  get inputPaused(): boolean {
    return this.#appPaused;
  }

  /** Streaming mode on or off (see `Session.setStreaming`). */
  setStreaming(on: boolean, maxStreamBytes?: number): void {
    this.#session.setStreaming(on, maxStreamBytes);
  }

  /**
   * Starts the closing handshake (§7.1.2; the close frame waits behind messages being compressed) and arms the
   * close timer. False when a close frame was already sent.
   * @throws RangeError for a code that may not be sent or a reason over 123 bytes.
   */
  close(code?: number, reason?: string): boolean {
    const started = this.#session.close(code, reason);
    if (started) this.#armCloseTimer();
    return started;
  }

  /** Starts the closing handshake for a local failure (a limit): as {@link close}, with `error` reported. */
  closeWithError(error: Error, code: number, reason: string): boolean {
    this.#error ??= error;
    return this.close(code, reason);
  }

  /** Drops the connection at once, without a close frame (noPoll's shutdown). */
  destroy(error?: Error): void {
    if (error) this.#error ??= error;
    this.#session.abort();
    this.#stream.destroy();
  }

  // ---- receiving ----

  #receive(chunk: Buffer): void {
    const sender = this.#sender;
    sender.beginBatch();
    try {
      this.#session.receive(chunk);
    } finally {
      sender.endBatch();
    }
    if (this.minMessageRate > 0) {
      if (this.#session.receivingMessage) watchRate(this);
      else unwatchRate(this);
    }
  }

  /** @internal RateWatched: a message is under way and we are reading. */
  get awaitingPeer(): boolean {
    return !this.#appPaused && !this.#inflating && this.#session.receivingMessage;
  }

  /** @internal RateWatched: the message under way is too slow. */
  tooSlow(received: number, windowMs: number): void {
    const error = new TimeoutError('message', `message under way: ${received} bytes in ${windowMs} ms, under ${this.minMessageRate} bytes/s`);
    this.closeWithError(error, 1008, 'message too slow');
    this.#session.abort(); // nothing more of it is read
  }

  // ---- SessionHandler ----

  /** @internal */
  sessionWrite(first: Buffer, second: Buffer | null): void {
    this.#sender.write(first, second);
  }

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
    const pending = this.#sender.pendingBytes;
    if (pending > this.#writeLimit) {
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
    this.#code = code;
    this.#reason = reason;
    // §7.1.1: the server closes TCP first; the client waits for it. Neither waits forever: a peer that never ends
    // its side of TCP is dropped after closeTimeoutMs.
    if (!this.#client) this.#end();
    this.#armCloseTimer();
    this.#events.transportCloseFrame(code, reason);
  }

  /** @internal */
  sessionError(error: ProtocolError): void {
    this.#sender.dropPending();
    this.#error = error;
    this.#inflated?.reset();
    // §7.1.7: after the close frame, the connection is dropped; give the frame a moment to leave.
    this.#end();
    this.#armCloseTimer();
  }

  /**
   * @internal A compressed message (or frame) arrived: inflate it under the session's limit with the input held
   * (RFC 7692 §7.2.2), check it (text as UTF-8, §8.1), deliver it, then let the session go on.
   */
  sessionCompressed(opcode: number, payload: Buffer, fin: boolean): void {
    const session = this.#session;
    this.#inflating = true;
    this.#stream.pause();
    let out = this.#inflated;
    if (out === null) out = this.#inflated = new MessageBuffer(session.inflateLimit, inboundBudget);
    else out.setLimit(session.inflateLimit);
    // One message, or the first frame of one in frame mode: a new text check starts.
    if (opcode !== Opcode.CONTINUATION) out.start(opcode === Opcode.TEXT);
    this.#codec!.decompress(
      payload,
      fin,
      (chunk) => {
        // Checked on every piece zlib produces, so a bomb stops within one chunk (16 KiB) of the limit.
        const failure = out.append(chunk);
        if (failure === null) return true;
        this.#inflateFailed(null, failure);
        return false;
      },
      (error) => {
        if (error !== null) return this.#inflateFailed(error, null);
        const data = fin ? out.finish() : out.take();
        if (data instanceof ProtocolError) return this.#inflateFailed(null, data);
        this.#sender.beginBatch();
        try {
          // Reading resumes first: if delivering the message makes the application pause, that pause stands.
          this.#inflating = false;
          if (!this.#appPaused && !this.#stream.destroyed) this.#stream.resume();
          this.#events.transportMessage(opcode, data, fin);
          session.resume();
        } finally {
          this.#sender.endBatch();
        }
      },
    );
  }

  // zlib rejected the data (1007, RFC 7692 §8), or the output passed the limit or the budget (1009, 1008).
  #inflateFailed(zlibError: Error | null, error: ProtocolError | null): void {
    this.#inflating = false;
    this.#session.fail(
      error ?? new ProtocolError('NOPOLL_ERR_INVALID_COMPRESSED_DATA', `invalid compressed data: ${zlibError!.message}`, 1007),
    );
  }

  // ---- KeepaliveHost ----

  /** @internal Heartbeat: nothing arrived for an interval. */
  keepalivePing(): void {
    this.#session.ping();
  }

  /** @internal Nothing arrived for the idle timeout: close with 1001 ("going away"). */
  keepaliveIdle(idleTimeoutMs: number): void {
    if (this.#session.state !== SessionState.OPEN) return;
    this.#error ??= new TimeoutError('idle', `nothing received for ${idleTimeoutMs} ms`);
    this.close(1001, 'idle timeout');
  }

  /** @internal The heartbeat ping went unanswered: drop the connection (1006). */
  keepaliveDead(pongTimeoutMs: number): void {
    this.destroy(new TimeoutError('heartbeat', `no answer to a ping within ${pongTimeoutMs} ms`));
  }

  // ---- SenderHost ----

  /** @internal The compressed messages are all written: waits and a TCP end that were held go now. */
  senderIdle(): void {
    const waiters = this.#idleWaiters;
    if (waiters !== null) {
      this.#idleWaiters = null;
      for (const wake of waiters) wake();
    }
    if (this.#endWhenIdle) {
      this.#endWhenIdle = false;
      this.#end();
    }
  }

  /** @internal zlib failed on our side (not the peer's data): drop the connection, zlib's error as the cause. */
  senderBroken(error: Error): void {
    this.destroy(new ConnectionClosedError(`compression failed: ${error.message}`, 1006, '', { cause: error }));
  }

  // ---- ending ----

  // Ends TCP after what is still batched (and after compressed messages still pending).
  #end(): void {
    if (this.#sender.compressing) {
      this.#endWhenIdle = true;
      return;
    }
    this.#sender.flush();
    const stream = this.#stream;
    // Not twice: a second end() builds an ERR_STREAM_ALREADY_FINISHED error, stack trace and all.
    if (!stream.destroyed && !stream.writableEnded) stream.end();
  }

  static #onData(this: Stream, chunk: Buffer): void {
    const transport = this[kTransport]!;
    transport.bytesReceived += chunk.length;
    if (transport.#keepalive !== null) transport.#keepalive.seen = true;
    transport.#receive(chunk);
  }

  static #onEnd(this: Stream): void {
    const transport = this[kTransport]!;
    if (transport.#session.state !== SessionState.CLOSED) transport.#session.abort();
    transport.#sender.dropPending();
    transport.#end();
  }

  static #onError(this: Stream, error: Error): void {
    const transport = this[kTransport]!;
    // Once both close frames have crossed, the close is clean whatever TCP does next (§7.1.1, §7.1.4): a reset
    // after the handshake (as Autobahn's server does) is no failure.
    const session = transport.#session;
    if (session.closeSent && session.closeReceived) return;
    // A socket error (ECONNRESET, EPIPE...) is reported typed, Node's error as its cause.
    transport.#error ??= new ConnectionClosedError(`socket error: ${error.message}`, 1006, '', { cause: error });
  }

  static #onClose(this: Stream): void {
    this[kTransport]!.#closed();
  }

  #closed(): void {
    this.#keepalive?.stop();
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    unwatchRate(this);
    const session = this.#session;
    session.abort();
    this.#sender.release();
    this.#codec?.release();
    this.#inflated?.reset();
    if (this.#idleWaiters !== null) this.senderIdle();
    if (this.#reported) return;
    this.#reported = true;
    const clean = session.closeSent && session.closeReceived && !this.#error;
    const info: CloseInfo = { code: session.closeReceived ? this.#code : 1006, reason: this.#reason, wasClean: clean };
    if (this.#error) info.error = this.#error;
    this.#events.transportClosed(info);
  }

  #armCloseTimer(): void {
    this.#keepalive?.stop(); // the closing handshake has its own deadline
    if (this.#closeTimer !== null || this.#stream.destroyed) return;
    this.#closeTimer = setTimeout(Transport.#onCloseTimeout, this.#closeTimeoutMs, this);
    this.#closeTimer.unref?.();
  }

  static #onCloseTimeout(transport: Transport): void {
    transport.#closeTimer = null;
    if (!transport.#error && !transport.#session.closeReceived) {
      transport.#error = new TimeoutError('close', `no closing handshake within ${transport.#closeTimeoutMs} ms`);
    }
    transport.#stream.destroy();
  }
}

const EMPTY = Buffer.alloc(0);
