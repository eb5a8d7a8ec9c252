/**
 * A WebSocket connection: noPoll's `noPollConn` for clients and accepted connections (listeners are
 * {@link Listener}). Sends never block: they return the payload bytes accepted, or -1 when the connection no
 * longer sends. Waits are Promises with timeouts and AbortSignals. This file holds the life cycle (connect, the
 * handshake's end, closing, the end report); the other jobs are in conn-core.ts, conn-send.ts, conn-receive.ts,
 * conn-topics.ts.
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';
import { ConnectionClosedError, HandshakeError, NopollError, ProtocolError } from '../errors.js';
import { Transport } from '../transport/transport.js';
import { planClient, startClient, type ConnectTarget } from './client.js';
import { ConnFlag, NO_RARE, type CloseInfo } from './conn-core.js';
import { ConnTopics } from './conn-topics.js';
import type { ConnOptsLike, SessionSettings } from './conn-opts.js';
import { DEFAULT_MAX_PENDING_WRITE_BYTES } from './conn-send.js';
import type { Context } from './context.js';
import type { DeflateSession } from './deflate-options.js';
import { wait, type WaitOptions } from './wait.js';

export type { CloseInfo, ConnRole, ConnState, HandshakeInfo, OnMessageStreamHandler } from './conn-core.js';
export { DEFAULT_MAX_PENDING_WRITE_BYTES, type SendOptions } from './conn-send.js';
export type { WaitOptions } from './wait.js';

/** What starts a session once the handshake completed. */
type StartSettings = SessionSettings & {
  acceptedProtocol: string | null;
  /** permessage-deflate, when the handshake agreed on it. */
  deflate?: DeflateSession | null;
};

const ignoreError = (): void => undefined;

/** A WebSocket connection. Create clients with {@link Conn.connect} or {@link Conn.open}; listeners create the others. */
export class Conn extends ConnTopics {
  // Until the handshake completes, a close of the stream means it failed; not kept once open.
  #earlyClose: (() => void) | null = null;

  /**
   * Starts a client connection to a `ws://` URL or a {@link ConnectTarget} and returns it at once
   * (`nopoll_conn_new` and its variants); `await conn.waitUntilReady()` for the handshake.
   * @throws TypeError or RangeError for an unusable URL or option; TlsError for unusable TLS material.
   */
  static connect(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike): Conn {
    const plan = planClient(ctx, target, opts);
    const conn = new Conn(ctx, null, plan.host, plan.port, plan.maxFrameSize);
    startClient(conn, plan);
    return conn;
  }

  /** Connects and waits for the handshake: `Conn.connect` + `waitUntilReady`. Rejects with why it failed. */
  static async open(
    ctx: Context,
    target: string | URL | ConnectTarget,
    opts?: ConnOptsLike & WaitOptions,
  ): Promise<Conn> {
    const conn = Conn.connect(ctx, target, opts);
    try {
      return await conn.waitUntilReady(opts as WaitOptions | undefined);
    } catch (error) {
      // The caller gets no connection, so none may linger (a timed-out attempt must not complete later).
      conn.shutdown();
      throw error;
    }
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
    if (this._state === 'closed') return Promise.resolve(this._closeInfo!);
    const transport = this._transport;
    if (transport !== null) {
      transport.close(code ?? undefined, reason);
      if (this._state === 'open') this._state = 'closing';
    } else {
      this.abandon();
    }
    return this.closed;
  }

  /** Drops the connection at once, with no close frame (`nopoll_conn_shutdown`). */
  shutdown(): void {
    if (this._transport !== null) this._transport.destroy();
    else this.abandon();
  }

  // Ends a connection still in its handshake. One waiting for a shared HTTP/2 session has no stream yet: it fails
  // at once (and the session opens no stream for it).
  /** @internal */
  private abandon(): void {
    if (this._stream !== null) this._stream.destroy();
    else this.fail(new ConnectionClosedError('the connection was closed before its handshake started'));
  }

  /** Resolves with how the connection ended, once it has. Never rejects. */
  get closed(): Promise<CloseInfo> {
    if (this._closeInfo !== null) return Promise.resolve(this._closeInfo);
    return new Promise((resolve) => (this.own().closedWaiters ??= []).push(resolve));
  }

  /**
   * Resolves when the handshake completed (`nopoll_conn_wait_until_connection_ready`, which took seconds). Rejects
   * with the reason the connection failed (HandshakeError, ConnectError, ...), or TimeoutError / AbortError.
   */
  waitUntilReady(options: WaitOptions = {}): Promise<this> {
    if (this._state === 'open' || this._state === 'closing') return Promise.resolve(this);
    if (this._state === 'closed') return Promise.reject(this.endError());
    return wait<this>(options, 'ready', (resolve, reject) => {
      const waiter = { resolve: () => resolve(this), reject };
      (this.own().readyWaiters ??= []).push(waiter);
      return () => {
        const list = this._rare.readyWaiters;
        if (list) list.splice(list.indexOf(waiter) >>> 0, 1);
      };
    });
  }

  // ---- set-up, called by the client and server code ----

  /** @internal The stream is known (connect started, or accepted); `http2` for an HTTP/2 stream (RFC 8441). */
  attach(stream: Duplex, tls: boolean, http2 = false): void {
    // A redirect replaces the stream of the attempt before: its close no longer means anything.
    if (this.#earlyClose !== null) this._stream?.off('close', this.#earlyClose);
    this._stream = stream;
    this._flags =
      (this._flags & ~(ConnFlag.TLS | ConnFlag.HTTP2)) | (tls ? ConnFlag.TLS : 0) | (http2 ? ConnFlag.HTTP2 : 0);
    // An 'error' event with no listener would crash the process; errors are reported through 'close'.
    stream.on('error', ignoreError);
    this.#earlyClose = () => {
      if (this._transport === null)
        this.fail(new ConnectionClosedError('connection closed during the opening handshake'));
    };
    stream.on('close', this.#earlyClose); // removed in start or fail: no once() wrapper needed
  }

  /** @internal The handshake completed: start the transport, flush queued sends, fire on_ready, then feed `rest`. */
  start(stream: Duplex, rest: Buffer, settings: StartSettings): void {
    if (this.#earlyClose !== null) stream.off('close', this.#earlyClose);
    this.#earlyClose = null;
    this._stream = stream;
    this._acceptedProtocol = settings.acceptedProtocol;
    this._deflate = settings.deflate?.agreement ?? null;
    if (settings.deliverFrames) this._flags |= ConnFlag.FRAMES;
    const transport = new Transport(stream, this, {
      role: this.role === 'client' ? 'client' : 'server',
      maxFrameBytes: this._maxFrameSize,
      maxMessageBytes: settings.deliverFrames ? Infinity : settings.maxMessageSize,
      deliverFrames: settings.deliverFrames,
      closeTimeoutMs: settings.closeTimeoutMs,
      deflate: settings.deflate?.setup ?? null,
      idleTimeoutMs: settings.idleTimeoutMs ?? 0,
      pingIntervalMs: settings.pingIntervalMs ?? 0,
      pongTimeoutMs: settings.pongTimeoutMs ?? 0,
      maxPendingWriteBytes: settings.maxPendingWriteBytes ?? DEFAULT_MAX_PENDING_WRITE_BYTES,
      writeLimitPolicy: settings.writeLimitPolicy ?? 'close',
      minMessageRate: settings.minMessageRate,
      messageRateWindowMs: settings.messageRateWindowMs,
    });
    this._transport = transport;
    if (settings.maxStreamBytes !== undefined) this.own().maxStreamBytes = settings.maxStreamBytes;
    if ((this._flags & ConnFlag.STREAMING) !== 0) transport.setStreaming(true, this._rare.maxStreamBytes);
    stream.off('error', ignoreError); // the transport listens for errors now
    this._state = 'open';
    this.sendQueued();
    const waiters = this._rare.readyWaiters;
    if (waiters !== null) {
      this._rare.readyWaiters = null;
      for (const waiter of waiters) waiter.resolve();
    }
    // The full header list costs memory on every idle connection: kept only when asked for, else dropped once
    // onReady (sync or async) has decided.
    const handler = this.onReady ?? this.ctx.onReady;
    const keep = settings.keepHeaders;
    if (handler === null) {
      if (!keep) this.recordHandshake({ headers: null });
    } else {
      this.decide(handler, (ok, threw) => {
        if (!keep) this.recordHandshake({ headers: null });
        // A refusal closes normally; a handler that failed is an internal error (RFC 6455 §7.4.1: 1011).
        if (!ok) void this.close(threw ? 1011 : 1000);
      });
    }
    if (this._state === 'open') transport.feed(rest);
  }

  /**
   * @internal Runs a deciding handler (sync or async) and reports its answer: `threw` tells a failure (a throw or
   * a rejection, reported to onError) from a refusal (`false`).
   */
  decide(handler: (conn: Conn) => unknown, then: (accepted: boolean, threw: boolean) => void): void {
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

  /** @internal The connection ended before or during the handshake. */
  fail(error: Error): void {
    if (this._state === 'closed') return;
    if (this.#earlyClose !== null) this._stream?.off('close', this.#earlyClose);
    this.#earlyClose = null;
    this._stream?.destroy();
    this.transportClosed({ code: 1006, reason: '', wasClean: false, error });
  }

  // ---- the end ----

  /** @internal */
  transportCloseFrame(): void {
    if (this._state === 'open') this._state = 'closing';
  }

  /** @internal */
  transportClosed(info: CloseInfo): void {
    if (this._state === 'closed') return;
    this._state = 'closed';
    this._closeInfo = info;
    this.ctx.unregister(this);
    this.listener?.forget(this);
    if (this.topicCount > 0) this.ctx.pubsub.connEnded(this); // leaves every topic (pubsub.ts)
    this.releaseInbox();
    const rare = this._rare;
    const ready = rare.readyWaiters;
    const readers = rare.inboxWaiters;
    const stream = rare.current;
    const closedWaiters = rare.closedWaiters;
    if (rare !== NO_RARE) {
      rare.readyWaiters = rare.inboxWaiters = rare.closedWaiters = null;
      rare.current = null;
    }
    if (ready) for (const waiter of ready) waiter.reject(this.endError());
    if (readers) for (const waiter of readers) waiter.resolve();
    rare.reader?.end();
    if (stream !== null) {
      stream.finish(
        info.error ??
          new ConnectionClosedError('the connection closed before the message was complete', info.code, info.reason),
      );
    }
    if (this.ctx.logEnabled) this.logEnd(info);
    for (const handler of [this.onClose, this.ctx.onClose]) {
      if (handler === null) continue;
      try {
        const result: unknown = handler(this, info);
        if (result instanceof Promise) result.then(undefined, (error: unknown) => this.ctx.handlerError(error, this));
      } catch (error) {
        this.ctx.handlerError(error, this);
      }
    }
    if (closedWaiters) for (const resolve of closedWaiters) resolve(info);
  }

  // One log line per connection end: a failure at 'warning' (a socket error or an early close at 'debug'), a close at 'debug'.
  /** @internal */
  private logEnd(info: CloseInfo): void {
    const who = `conn ${this.id} (${this.role} ${this.host}:${this.port})`;
    const error = info.error;
    if (error === undefined) {
      this.ctx.log(
        'debug',
        `${who} closed: code ${info.code}${info.reason ? ` "${info.reason}"` : ''}, ${info.wasClean ? 'clean' : 'not clean'}`,
      );
      return;
    }
    const code = error instanceof NopollError ? error.code : 'error';
    const detail =
      error instanceof ProtocolError
        ? `, close code ${error.closeCode}`
        : error instanceof HandshakeError && error.status
          ? `, HTTP ${error.status}`
          : '';
    const level = error instanceof NopollError && !(error instanceof ConnectionClosedError) ? 'warning' : 'debug';
    this.ctx.log(level, `${who} failed: ${code}${detail}: ${error.message}`);
  }

  /** @internal */
  protected endError(): Error {
    const info = this._closeInfo;
    if (info?.error && this._transport === null) return info.error;
    return new ConnectionClosedError(
      'the connection is closed',
      info?.code ?? 1006,
      info?.reason ?? '',
      info?.error ? { cause: info.error } : undefined,
    );
  }
}

/**
 * Starts a client connection and returns it at once, as noPoll does: {@link Conn.connect}.
 * @throws TypeError or RangeError for an unusable URL or option; TlsError for unusable TLS material.
 */
export function connect(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike): Conn {
  return Conn.connect(ctx, target, opts);
}
