/**
 * Binds one open {@link Session} to one socket: bytes from the socket go into the session, frames from the session
 * go to the socket, and the closing handshake's TCP side (who closes first, how long to wait) is handled here
 * (RFC 6455 §7.1.1). The only owner of the close timer.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import { ConnectionClosedError, PolicyViolationError, TimeoutError, type ProtocolError } from '../errors.js';
import { Session, SessionState, type SessionHandler, type SessionOptions } from '../protocol/session.js';
import { encodeCloseBody } from '../protocol/close.js';
import { PerMessageDeflate, type DeflateHost, type DeflateSetup, type WriteHold } from './deflate.js';
import { Keepalive, type KeepaliveHost } from './keepalive.js';

/** How a connection ended, reported exactly once. */
export interface CloseInfo {
  /** Close code received from the peer; 1005 when its close frame had none, 1006 when there was no close frame. */
  code: number;
  /** Close reason received from the peer (empty when none). */
  reason: string;
  /** True when close frames were exchanged and the TCP connection then ended (RFC 6455 §7.1.4 "cleanly"). */
  wasClean: boolean;
  /** Why the connection failed, when it did: a protocol violation, a timeout, a socket error. */
  error?: Error;
}

/** What the driver reports upward. The API layer's connection implements it. */
export interface DriverEvents {
  /** A data message or frame (see {@link SessionHandler.sessionMessage}). */
  driverMessage(opcode: number, payload: Buffer, fin: boolean): void;
  /** Streaming mode: bytes of the data message being received (see {@link SessionHandler.sessionStream}). */
  driverStream(opcode: number, data: Buffer, end: boolean): void;
  /** A ping arrived (already answered). */
  driverPing(payload: Buffer): void;
  /** A pong arrived. */
  driverPong(payload: Buffer): void;
  /** The peer's close frame arrived (before the TCP connection ends). */
  driverCloseFrame(code: number, reason: string): void;
  /** The connection is gone: called once, after the socket closed. */
  driverClosed(info: CloseInfo): void;
}

/** Driver settings. */
export interface DriverOptions extends SessionOptions {
  /** How long to wait for the peer's close frame, or for the server to end TCP, before dropping the socket. */
  closeTimeoutMs: number;
  /** Close with 1001 after this many ms without receiving anything (0 or absent: off). See keepalive.ts. */
  idleTimeoutMs?: number;
  /** Ping after this many ms without receiving anything (0 or absent: off). */
  pingIntervalMs?: number;
  /** Drop the connection (1006) when nothing answers a heartbeat ping within this many ms (default: the interval). */
  pongTimeoutMs?: number;
  /** Automatic pongs may not take the unsent bytes past this: a ping flood from a peer that does not read is dropped. */
  maxPendingWriteBytes?: number;
  /** permessage-deflate settings when it was negotiated (RFC 7692); null or absent otherwise. */
  deflate?: DeflateSetup | null;
}

// Small frames written while one chunk is being processed are gathered and written once at its end: a chunk that
// carried many messages is answered with one write, not one per message.
const BATCH_LIMIT = 16 * 1024;

// The socket's listeners are shared functions that find their driver through this property, so an idle
// connection holds no closures of its own.
const kDriver = Symbol('nopoll.driver');
type DriverSocket = Socket & { [kDriver]?: SocketDriver };

/** One socket ⇄ one session. See the module comment. */
export class SocketDriver implements SessionHandler, DeflateHost, KeepaliveHost {
  readonly session: Session;
  readonly socket: Socket;
  /** The connection's permessage-deflate state, when negotiated. */
  readonly deflate: PerMessageDeflate | null;
  readonly #events: DriverEvents;
  readonly #client: boolean;
  readonly #closeTimeoutMs: number;
  #closeTimer: NodeJS.Timeout | null = null;
  readonly #keepalive: Keepalive | null;
  readonly #maxPendingWriteBytes: number;
  #code = 1006;
  #reason = '';
  #error: Error | undefined = undefined;
  #reported = false;
  #batching = false;
  #corked = false; // the socket was corked while a chunk is processed (see sessionWrite)
  #batch: Buffer[] | null = null;
  #batchBytes = 0;
  // permessage-deflate: writes held behind messages being compressed; a close or TCP end waiting for them.
  #writeHold: WriteHold | null = null;
  #deferredClose: [number | undefined, string | undefined] | null = null;
  #deferredEnd = false;

  constructor(socket: Socket, events: DriverEvents, options: DriverOptions) {
    this.socket = socket;
    this.#events = events;
    this.#client = options.role === 'client';
    this.#closeTimeoutMs = options.closeTimeoutMs;
    this.#maxPendingWriteBytes = options.maxPendingWriteBytes ?? Infinity;
    this.#keepalive =
      options.idleTimeoutMs || options.pingIntervalMs
        ? Keepalive.create(this, {
            idleTimeoutMs: options.idleTimeoutMs ?? 0,
            pingIntervalMs: options.pingIntervalMs ?? 0,
            pongTimeoutMs: options.pongTimeoutMs ?? 0,
          })
        : null;
    const deflate = options.deflate ?? null;
    this.session = new Session(this, deflate === null ? options : { ...options, perMessageDeflate: true });
    this.deflate = deflate === null ? null : new PerMessageDeflate(this, deflate);
    (socket as DriverSocket)[kDriver] = this;
    socket.on('data', SocketDriver.#onData);
    socket.on('error', SocketDriver.#onError);
    socket.on('close', SocketDriver.#onClose);
    // A half-closed TCP connection cannot carry a close frame back; treat the peer's FIN as the end (§7.1.5).
    socket.on('end', SocketDriver.#onEnd);
  }

  /** Feeds bytes read before the driver took over (what followed the handshake head). */
  feed(head: Buffer): void {
    if (head.length > 0) this.#receive(head);
  }

  #receive(chunk: Buffer): void {
    this.#batching = true;
    try {
      this.session.receive(chunk);
    } finally {
      this.#batching = false;
      if (this.#batch !== null) this.#flushBatch();
      if (this.#corked) {
        this.#corked = false;
        this.socket.uncork();
      }
    }
  }

  // Ends TCP after whatever is still gathered in the batch (and after compressed messages still pending).
  #end(): void {
    if (this.#writeHold !== null) {
      this.#deferredEnd = true;
      return;
    }
    if (this.#batch !== null) this.#flushBatch();
    this.socket.end();
  }

  #flushBatch(): void {
    const batch = this.#batch!;
    const socket = this.socket;
    this.#batch = null;
    if (!socket.destroyed) socket.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, this.#batchBytes));
    this.#batchBytes = 0;
  }

  /** Bytes queued for the socket and not yet handed to the kernel. */
  get pendingWriteBytes(): number {
    return this.socket.writableLength;
  }

  /**
   * Starts the closing handshake (§7.1.2) and arms the close timer.
   * @returns false when a close frame was already sent.
   */
  close(code?: number, reason?: string): boolean {
    if (this.deflate !== null && this.deflate.busy) {
      // Compressed messages sent before the close must go out before it: the close frame waits for them.
      encodeCloseBody(code, reason); // throws now for an invalid code or reason
      if (this.#deferredClose !== null || this.session.closeSent || this.session.state !== SessionState.OPEN) return false;
      this.#deferredClose = [code, reason];
      // The close timer starts when the close frame is written (deflateIdle): compression may take longer than the
      // timeout, and a timer started here would drop the messages sent before close() with the socket.
      this.#keepalive?.stop();
      return true;
    }
    const started = this.session.close(code, reason);
    if (started) this.#armCloseTimer();
    return started;
  }

  /**
   * Starts the closing handshake for a local failure (a write limit, a size limit): as {@link close}, and `error` is
   * reported as why the connection ended.
   */
  closeWithError(error: Error, code: number, reason: string): boolean {
    if (!this.#error) this.#error = error;
    return this.close(code, reason);
  }

  /** Drops the TCP connection at once, without a close frame (noPoll's shutdown). */
  destroy(error?: Error): void {
    if (error && !this.#error) this.#error = error;
    this.session.abort();
    this.socket.destroy();
  }

  // ---- SessionHandler ----

  /** @internal */
  sessionWrite(first: Buffer, second: Buffer | null): void {
    const hold = this.#writeHold;
    if (hold !== null) return hold.hold(first, second);
    const socket = this.socket;
    if (socket.destroyed) return;
    if (this.#batching && second === null && this.#batchBytes + first.length <= BATCH_LIMIT) {
      (this.#batch ??= []).push(first);
      this.#batchBytes += first.length;
      return;
    }
    if (this.#batch !== null) this.#flushBatch();
    if (second === null) {
      socket.write(first);
      return;
    }
    if (this.#batching) {
      // Large frames answered while one chunk is processed leave in one writev when the chunk is done.
      if (!this.#corked) {
        this.#corked = true;
        socket.cork();
      }
      socket.write(first);
      socket.write(second);
      return;
    }
    socket.cork();
    socket.write(first);
    socket.write(second);
    socket.uncork();
  }

  /** @internal */
  sessionMessage(opcode: number, payload: Buffer, fin: boolean): void {
    this.#events.driverMessage(opcode, payload, fin);
  }

  /** @internal */
  sessionStream(opcode: number, data: Buffer, end: boolean): void {
    this.#events.driverStream(opcode, data, end);
  }

  /** @internal */
  sessionPing(payload: Buffer): void {
    // The pong is queued already. A peer that floods pings and does not read would grow our output without bound:
    // past the write limit it is dropped (no close frame: it could not leave either). ws calls this maxPendingAutoPongs.
    if (this.socket.writableLength + this.#batchBytes > this.#maxPendingWriteBytes) {
      this.destroy(new PolicyViolationError(`ping flood: ${this.socket.writableLength + this.#batchBytes} bytes of pongs unread by the peer`));
      return;
    }
    this.#events.driverPing(payload);
  }

  /** @internal */
  sessionPong(payload: Buffer): void {
    this.#events.driverPong(payload);
  }

  /** @internal */
  sessionClose(code: number, reason: string): void {
    this.#code = code;
    this.#reason = reason;
    // §7.1.1: the server closes TCP first; the client waits for it. Neither waits forever: a peer that never ends
    // its side of TCP is dropped after closeTimeoutMs.
    if (!this.#client) this.#end();
    this.#armCloseTimer();
    this.#events.driverCloseFrame(code, reason);
  }

  /** @internal A compressed message (or frame) arrived: stop reading while it inflates (RFC 7692 §7.2.2). */
  sessionCompressed(_opcode: number, payload: Buffer, fin: boolean): void {
    this.socket.pause();
    const session = this.session;
    this.deflate!.inflate(payload, fin, session.inflateLimit, (error, data) => {
      if (error !== null) return this.#inflated(null, error);
      this.#inflated(data!, null);
    });
  }

  // Hands inflated bytes (or the failure) back to the session, with writes batched as for socket data. Reading
  // resumes first: if delivering the message leads someone to pause the socket again, that pause stands.
  #inflated(data: Buffer | null, error: ProtocolError | null): void {
    this.#batching = true;
    try {
      if (error !== null) {
        this.session.failInflate(error);
      } else {
        this.resumeInput();
        this.session.deliverInflated(data!);
      }
    } finally {
      this.#batching = false;
      if (this.#batch !== null && this.#writeHold === null) this.#flushBatch();
    }
  }

  // ---- KeepaliveHost ----

  /** @internal Heartbeat: nothing arrived for an interval. */
  keepalivePing(): void {
    this.session.ping();
  }

  /** @internal Nothing arrived for the idle timeout: close with 1001 ("going away"). */
  keepaliveIdle(idleTimeoutMs: number): void {
    if (this.session.state !== SessionState.OPEN) return;
    this.#error ??= new TimeoutError('idle', `nothing received for ${idleTimeoutMs} ms`);
    this.close(1001, 'idle timeout');
  }

  /** @internal The heartbeat ping went unanswered: drop the connection (1006). */
  keepaliveDead(pongTimeoutMs: number): void {
    this.destroy(new TimeoutError('heartbeat', `no answer to a ping within ${pongTimeoutMs} ms`));
  }

  // ---- DeflateHost ----

  /** @internal */
  setWriteHold(hold: WriteHold | null): void {
    if (hold !== null && this.#batch !== null) this.#flushBatch();
    this.#writeHold = hold;
  }

  /** @internal */
  resumeInput(): void {
    if (!this.socket.destroyed) this.socket.resume();
  }

  /** @internal The compressed messages are all written: a close or end that waited for them goes now. */
  deflateIdle(): void {
    const close = this.#deferredClose;
    if (close !== null) {
      this.#deferredClose = null;
      if (this.session.close(close[0], close[1])) this.#armCloseTimer();
    }
    if (this.#deferredEnd) {
      this.#deferredEnd = false;
      this.#end();
    }
  }

  /** @internal */
  deflateBroken(error: Error): void {
    // zlib failed on our side (not the peer's data): the connection is dropped with a typed error, zlib's as cause.
    this.destroy(new ConnectionClosedError(`compression failed: ${error.message}`, 1006, '', { cause: error }));
  }

  /** @internal */
  sessionError(error: ProtocolError): void {
    this.deflate?.dropPendingSends();
    this.#error = error;
    // §7.1.7: after the close frame, the connection is dropped; give the frame a moment to leave.
    this.#end();
    this.#armCloseTimer();
  }

  // ---- socket events (shared listeners: `this` is the socket) ----

  static #onData(this: DriverSocket, chunk: Buffer): void {
    const driver = this[kDriver]!;
    if (driver.#keepalive !== null) driver.#keepalive.seen = true;
    driver.#receive(chunk);
  }

  static #onEnd(this: DriverSocket): void {
    const driver = this[kDriver]!;
    if (driver.session.state !== SessionState.CLOSED) driver.session.abort();
    driver.deflate?.dropPendingSends();
    // Not twice: a second end() builds an ERR_STREAM_ALREADY_FINISHED error, stack trace and all.
    if (!this.destroyed && !this.writableEnded) this.end();
  }

  static #onError(this: DriverSocket, error: Error): void {
    const driver = this[kDriver]!;
    // A socket error (ECONNRESET, EPIPE...) is reported typed, Node's error as its cause.
    if (!driver.#error) driver.#error = new ConnectionClosedError(`socket error: ${error.message}`, 1006, '', { cause: error });
  }

  static #onClose(this: DriverSocket): void {
    this[kDriver]!.#closed();
  }

  #closed(): void {
    this.#keepalive?.stop();
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    this.session.abort();
    this.deflate?.release();
    if (this.#reported) return;
    this.#reported = true;
    const clean = this.session.closeSent && this.session.closeReceived && !this.#error;
    const info: CloseInfo = { code: this.session.closeReceived ? this.#code : 1006, reason: this.#reason, wasClean: clean };
    if (this.#error) info.error = this.#error;
    this.#events.driverClosed(info);
  }

  #armCloseTimer(): void {
    this.#keepalive?.stop(); // the closing handshake has its own deadline
    if (this.#closeTimer !== null || this.socket.destroyed) return;
    this.#closeTimer = setTimeout(SocketDriver.#onCloseTimeout, this.#closeTimeoutMs, this);
    this.#closeTimer.unref?.();
  }

  static #onCloseTimeout(driver: SocketDriver): void {
    driver.#closeTimer = null;
    if (!driver.#error && !driver.session.closeReceived) {
      driver.#error = new TimeoutError('close', `no closing handshake within ${driver.#closeTimeoutMs} ms`);
    }
    driver.socket.destroy();
  }
}
