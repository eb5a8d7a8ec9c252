/**
 * The library instance: noPoll's `noPollCtx`. Holds defaults, the connection registry, the context-wide handlers
 * and the loop wait.
 * @packageDocumentation
 */
import { WEBSOCKET_VERSION } from '../protocol/constants.js';
import { DEFAULT_LIMITS, MAX_FRAME_BYTES_LIMIT } from '../protocol/limits.js';
import { DEFAULT_MESSAGE_RATE_WINDOW_MS, DEFAULT_MIN_MESSAGE_RATE } from '../transport/rate-guard.js';
import type { Conn } from './conn.js';
import type {
  LogHandler,
  LogLevel,
  OnAcceptHandler,
  OnCloseHandler,
  OnErrorHandler,
  OnMessageHandler,
  OnOpenHandler,
  OnReadyHandler,
} from './handlers.js';
import type { Listener } from './listener.js';
import { PubSub, type PublishOptions, type PubSubOptions } from './pubsub.js';
import { wait } from './wait.js';
import { CertificateStore, type CertificateEntry } from './certificate-store.js';
import type { PemSource, PostTlsCheckHandler, TlsContextCreator } from './tls-options.js';

/** Context-wide defaults. */
export interface ContextOptions {
  /** `Sec-WebSocket-Version` sent and required (default 13; noPoll's `nopoll_ctx_set_protocol_version`). */
  protocolVersion?: number;
  /** Largest frame payload accepted (default 16 MiB). */
  maxFrameSize?: number;
  /** Largest whole message accepted (default 16 MiB). */
  maxMessageSize?: number;
  /** Largest handshake head (default 16 KiB). */
  maxHeadBytes?: number;
  /** Most handshake header lines (default 100). */
  maxHeaderCount?: number;
  /** Client connect + handshake timeout in ms (default 20000, as noPoll). */
  connectTimeoutMs?: number;
  /** Server handshake timeout in ms (default 10000). */
  handshakeTimeoutMs?: number;
  /** Closing handshake timeout in ms (default 5000). */
  closeTimeoutMs?: number;
  /** Close a connection with 1001 after this many ms without receiving anything (default 0: off). */
  idleTimeoutMs?: number;
  /** Heartbeat: ping after this many ms without receiving anything (default 0: off; see docs/security.md). */
  pingIntervalMs?: number;
  /** Heartbeat: drop the connection (1006) when nothing arrives this long after a ping (default 0: the interval). */
  pongTimeoutMs?: number;
  /** Slow-message protection: bytes/s a message under way must keep up (default 512; 0: off; see docs/security.md). */
  minMessageRate?: number;
  /** The window over which `minMessageRate` is measured, in ms (default 20000). */
  messageRateWindowMs?: number;
  /** Log handler; `true` logs to the console. */
  log?: boolean | LogHandler;
  /** Pub/sub settings (slow-subscriber policy, limits, a backplane): see `ctx.pubsub` and docs/pubsub.md. */
  pubsub?: PubSubOptions;
}

/** Result of {@link Context.loopWait}. */
export type LoopWaitResult = 'stopped' | 'timeout';

/** A nopoll context. Create one per process (or per worker thread). */
export class Context {
  /** Context-wide on_accept (`nopoll_ctx_set_on_accept`). */
  onAccept: OnAcceptHandler | null = null;
  /** Context-wide on_open (`nopoll_ctx_set_on_open`). */
  onOpen: OnOpenHandler | null = null;
  /** Context-wide on_ready (`nopoll_ctx_set_on_ready`); a connection's own handler wins. */
  onReady: OnReadyHandler | null = null;
  /** Context-wide on_msg (`nopoll_ctx_set_on_msg`); a connection's own handler wins. */
  onMessage: OnMessageHandler | null = null;
  /** Context-wide on_close (noPoll has only per-connection ones); called after the connection's own. */
  onClose: OnCloseHandler | null = null;
  /** Receives errors thrown by user handlers. Default: printed with `console.error`. */
  onError: OnErrorHandler | null = null;
  /**
   * Called after every successful TLS handshake, client or server, before any WebSocket byte
   * (`nopoll_ctx_set_post_ssl_check`, manual §3.2); `false`, a throw or a rejection drops the connection.
   */
  postTlsCheck: PostTlsCheckHandler | null = null;
  /** Builds the secure context of every TLS connection (`nopoll_ctx_set_ssl_context_creator`, manual §3.3). */
  tlsContextCreator: TlsContextCreator | null = null;

  /** `Sec-WebSocket-Version` used (`nopoll_ctx_set_protocol_version`). */
  protocolVersion: number;
  /** Largest whole message accepted by default. */
  maxMessageSize: number;
  /** Largest handshake head. */
  maxHeadBytes: number;
  /** Most handshake header lines. */
  maxHeaderCount: number;
  /** Client connect + handshake timeout, ms (`nopoll_conn_connect_timeout`, which took µs). */
  connectTimeoutMs: number;
  /** Server handshake timeout, ms. */
  handshakeTimeoutMs: number;
  /** Closing handshake timeout, ms. */
  closeTimeoutMs: number;
  /** Idle timeout, ms (0: off). */
  idleTimeoutMs: number;
  /** Heartbeat ping interval, ms (0: off). */
  pingIntervalMs: number;
  /** Heartbeat pong deadline, ms (0: the interval). */
  pongTimeoutMs: number;
  /** Slow-message protection: minimum bytes/s while a message is under way (0: off). */
  minMessageRate: number;
  /** Window of the slow-message protection, ms. */
  messageRateWindowMs: number;

  #maxFrameSize: number;
  #log: LogHandler | null;
  readonly #conns = new Set<Conn>();
  readonly #listeners = new Set<Listener>();
  #nextId = 1;
  #refs = 1;
  #loopWaiters = new Set<(result: LoopWaitResult) => void>();
  readonly #certificates = new CertificateStore();
  #pubsub: PubSub | null = null;
  readonly #pubsubOptions: PubSubOptions | undefined;

  /** Creates a context (`nopoll_ctx_new`). */
  constructor(options: ContextOptions = {}) {
    checkInt(options.protocolVersion, 'protocolVersion', 0, 255);
    for (const name of [
      'maxMessageSize',
      'maxHeadBytes',
      'maxHeaderCount',
      'connectTimeoutMs',
      'handshakeTimeoutMs',
      'closeTimeoutMs',
    ] as const) {
      checkInt(options[name], name, 1, Number.MAX_SAFE_INTEGER);
    }
    this.protocolVersion = options.protocolVersion ?? WEBSOCKET_VERSION;
    this.#maxFrameSize = DEFAULT_LIMITS.maxFrameBytes;
    if (options.maxFrameSize !== undefined) this.maxFrameSize = options.maxFrameSize;
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_LIMITS.maxMessageBytes;
    this.maxHeadBytes = options.maxHeadBytes ?? DEFAULT_LIMITS.maxHeadBytes;
    this.maxHeaderCount = options.maxHeaderCount ?? DEFAULT_LIMITS.maxHeaderCount;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 20_000;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    for (const name of [
      'idleTimeoutMs',
      'pingIntervalMs',
      'pongTimeoutMs',
      'minMessageRate',
      'messageRateWindowMs',
    ] as const) {
      checkInt(options[name], name, 0, 2 ** 31 - 1);
    }
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.pingIntervalMs = options.pingIntervalMs ?? 0;
    this.pongTimeoutMs = options.pongTimeoutMs ?? 0;
    this.minMessageRate = options.minMessageRate ?? DEFAULT_MIN_MESSAGE_RATE;
    this.messageRateWindowMs = options.messageRateWindowMs || DEFAULT_MESSAGE_RATE_WINDOW_MS;
    this.#log = options.log === true ? consoleLog : options.log || null;
    this.#pubsubOptions = options.pubsub;
    if (options.pubsub !== undefined) this.#pubsub = new PubSub(this, options.pubsub);
  }

  // ---- topics (docs/pubsub.md) ----

  /** This context's topics: publishing, settings, counts, presence, the backplane. Made on first use. */
  get pubsub(): PubSub {
    return (this.#pubsub ??= new PubSub(this, this.#pubsubOptions));
  }

  /** Publishes to every subscriber of `topic`: `ctx.pubsub.publish` (see there for the return value). */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number {
    return this.pubsub.publish(topic, data, options);
  }

  /** Local subscribers of `topic`. */
  subscriberCount(topic: string): number {
    return this.#pubsub?.subscriberCount(topic) ?? 0;
  }

  /** Largest frame payload accepted by default (`nopoll_ctx_get_max_frame_size`). */
  get maxFrameSize(): number {
    return this.#maxFrameSize;
  }
  /** Sets it (`nopoll_ctx_set_max_frame_size`); values outside 1..2147483646 are ignored, as in noPoll. */
  set maxFrameSize(bytes: number) {
    if (Number.isInteger(bytes) && bytes >= 1 && bytes <= MAX_FRAME_BYTES_LIMIT) this.#maxFrameSize = bytes;
  }

  // ---- registry ----

  /** Number of registered connections, listeners included (`nopoll_ctx_conns`). */
  get connCount(): number {
    return this.#conns.size + this.#listeners.size;
  }

  /** The registered connections (not listeners). */
  get conns(): ReadonlySet<Conn> {
    return this.#conns;
  }

  /** The open listeners. */
  get listeners(): ReadonlySet<Listener> {
    return this.#listeners;
  }

  /** Calls `fn` for each connection until it returns true; returns that connection or null (`nopoll_ctx_foreach_conn`). */
  forEachConn(fn: (conn: Conn) => boolean | void): Conn | null {
    for (const conn of [...this.#conns]) if (fn(conn) === true) return conn;
    return null;
  }

  /** @internal Registers a connection and gives it an id. */
  register(conn: Conn): number {
    this.#conns.add(conn);
    return this.#nextId++;
  }

  /** @internal */
  unregister(conn: Conn): void {
    this.#conns.delete(conn);
  }

  /** @internal */
  registerListener(listener: Listener): number {
    this.#listeners.add(listener);
    return this.#nextId++;
  }

  /** @internal */
  unregisterListener(listener: Listener): void {
    this.#listeners.delete(listener);
  }

  /** Reference count (`nopoll_ctx_ref_count`): 1 plus one per registered connection or listener. */
  get refCount(): number {
    return this.#refs + this.connCount;
  }
  /** Adds a reference (`nopoll_ctx_ref`; counter only). */
  ref(): this {
    this.#refs++;
    return this;
  }
  /** Drops a reference (`nopoll_ctx_unref`). Connections keep working: the context lives as long as they do. */
  unref(): void {
    if (this.#refs > 0) this.#refs--;
  }

  // ---- TLS certificate store ----

  /**
   * Stores a certificate, its key and an optional chain, for TLS listeners without a certificate of their own
   * (`nopoll_ctx_set_certificate`). With a server name, it is presented to clients that ask for that name through
   * SNI (`*.example.com` matches one label); without (null), it is the default. An entry with the same name is
   * replaced. PEM inputs are text, a Buffer or `{ file: path }`.
   * @throws TypeError / TlsError for unusable input (an unreadable file).
   */
  setCertificate(serverName: string | null, cert: PemSource, key: PemSource, chain?: PemSource | null): boolean {
    return this.#certificates.set(serverName, cert, key, chain);
  }

  /** The entry for exactly `serverName`; with null, the default entry or else the first (`nopoll_ctx_find_certificate`). */
  findCertificate(serverName: string | null = null): CertificateEntry | null {
    return this.#certificates.find(serverName);
  }

  /** Removes the entry for `serverName` (null: the default entry). @returns whether there was one. */
  removeCertificate(serverName: string | null): boolean {
    return this.#certificates.remove(serverName);
  }

  /** @internal The store itself (listeners read it). */
  get certificateStore(): CertificateStore {
    return this.#certificates;
  }

  // ---- loop ----

  /**
   * Waits until {@link loopStop} is called or `timeoutMs` passes (`nopoll_loop_wait`, which took µs). Messages are
   * dispatched by Node's event loop whether or not anyone waits; this only keeps the process alive meanwhile and
   * can be called again after it returns. A timeout of 0 (or none) waits until stopped.
   */
  loopWait(timeoutMs = 0, options: { signal?: AbortSignal } = {}): Promise<LoopWaitResult> {
    const waitOptions = options.signal !== undefined ? { timeoutMs, signal: options.signal } : { timeoutMs };
    return wait<LoopWaitResult>(
      waitOptions,
      'loop',
      (settle) => {
        // Without a timeout, a ref'd timer keeps the process alive while waiting, as noPoll's blocking loop does.
        const keepAlive = timeoutMs > 0 ? null : setInterval(() => undefined, 1 << 30);
        this.#loopWaiters.add(settle);
        return () => {
          if (keepAlive !== null) clearInterval(keepAlive);
          this.#loopWaiters.delete(settle);
        };
      },
      (settle) => settle('timeout'),
    );
  }

  /** Makes every pending {@link loopWait} return `'stopped'` (`nopoll_loop_stop`). */
  loopStop(): void {
    for (const settle of [...this.#loopWaiters]) settle('stopped');
  }

  /** Closes every listener and connection (connections with a closing handshake), then the pub/sub backplane, and stops the loop. */
  async close(code = 1001, reason = ''): Promise<void> {
    this.loopStop();
    const closing: Array<Promise<unknown>> = [];
    for (const listener of [...this.#listeners]) closing.push(listener.close());
    for (const conn of [...this.#conns]) closing.push(conn.close(code, reason));
    await Promise.all(closing);
    await this.#pubsub?.close();
  }

  // ---- logging and handler errors ----

  /** Turns console logging on or off (`nopoll_log_enable`). */
  setLogEnabled(enabled: boolean): void {
    this.#log = enabled ? consoleLog : null;
  }
  /** Whether logging is on (`nopoll_log_is_enabled`). */
  get logEnabled(): boolean {
    return this.#log !== null;
  }
  /** Sends log lines to `handler` (`nopoll_log_set_handler`); null turns logging off. */
  setLogHandler(handler: LogHandler | null): void {
    this.#log = handler;
  }
  /** @internal Emits a log line when logging is on. A log handler that throws is reported like any handler. */
  log(level: LogLevel, text: string): void {
    const handler = this.#log;
    if (handler === null) return;
    try {
      handler(level, text);
    } catch (error) {
      this.#reportHandlerError(error, null);
    }
  }

  /** @internal Reports an error thrown by a user handler: logged at 'critical', then given to `onError`. */
  handlerError(error: unknown, conn: Conn | null): void {
    this.log('critical', `${conn === null ? '' : `conn ${conn.id}: `}handler error: ${String(error)}`);
    this.#reportHandlerError(error, conn);
  }

  // onError, else the console. What onError throws or rejects with is printed: nothing escapes to the process.
  #reportHandlerError(error: unknown, conn: Conn | null): void {
    if (this.onError) {
      try {
        const result: unknown = this.onError(error, conn);
        if (result instanceof Promise)
          result.then(undefined, (nested: unknown) => console.error('nopoll: onError failed:', nested));
        return;
      } catch (nested) {
        error = nested;
      }
    }
    console.error('nopoll: a handler threw:', error);
  }

  /**
   * noPoll's `nopoll_thread_handlers` installs mutex callbacks. JavaScript runs one thread per isolate, so there is
   * nothing to lock: this does nothing. With `worker_threads`, create one Context per worker.
   */
  static threadHandlers(..._handlers: unknown[]): void {
    /* intentionally empty: see the TSDoc */
  }
}

/** @throws RangeError when `value` is given and is not an integer in [min, max]. */
function checkInt(value: number | undefined, name: string, min: number, max: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

const consoleLog: LogHandler = (level, text) => {
  console.log(`nopoll [${level}] ${text}`);
};
