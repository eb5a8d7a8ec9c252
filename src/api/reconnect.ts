/**
 * A client that reconnects (docs/client.md): after a connection ends (or fails to open) it waits a backoff delay
 * (exponential, with jitter, capped) and connects again, up to a number of attempts in a row. Each attempt, each
 * (re)connection and the end are reported through handlers. Sends made while disconnected are refused or queued up
 * to a byte bound and sent, in order, once connected again, after the `onOpen` hook (where a client subscribes
 * again). Delivery is at most once: bytes a dying connection had not sent are lost, as with any socket.
 * @packageDocumentation
 */
import { ConnectionClosedError, HandshakeError, InvalidStateError, ProxyError, RedirectError } from '../errors.js';
import type { CloseInfo } from './conn-core.js';
import type { ConnectTarget } from './client.js';
import { Conn } from './conn.js';
import type { ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import type { OnMessageHandler } from './handlers.js';
import { wait, type WaitOptions } from './wait.js';

/** A retry being scheduled, as `onReconnecting` is told. */
export interface ReconnectAttempt {
  /** Which retry since the last open connection: 1 for the first one after a disconnection or a failed connect. */
  attempt: number;
  /** Wait before it, in ms (after jitter). */
  delayMs: number;
  /** Why the previous connection ended or failed: its error, or a ConnectionClosedError with the close code. */
  error: Error;
}

/** How a {@link ReconnectingConn} retries and what sends do meanwhile. Every field is optional. */
export interface ReconnectPolicy {
  /** Delay before the first retry, in ms (default 500). */
  initialDelayMs?: number;
  /** Largest delay, in ms (default 30000). */
  maxDelayMs?: number;
  /** Each retry waits this many times longer than the one before, up to the cap (default 2). */
  factor?: number;
  /**
   * Share of each delay drawn at random, 0 to 1 (default 0.5: a delay of d waits between d/2 and d; 1 is "full
   * jitter", anywhere from 0 to d). Spreads the clients of a restarted server over time.
   */
  jitter?: number;
  /** Most retries in a row without an open connection before giving up (default Infinity). */
  maxAttempts?: number;
  /** Sends while disconnected: `'refuse'` (return -1, the default) or `'queue'` (sent once connected again). */
  whileDisconnected?: 'refuse' | 'queue';
  /** With `'queue'`: most payload bytes held; a send that would pass it is refused with -1 (default 1 MiB). */
  maxQueuedBytes?: number;
  /**
   * Whether to try again after `error`. Default: yes, except after a refusal that will not change by retrying: a
   * handshake answered 4xx (but 408 and 429), a redirect that cannot be followed, a proxy's authentication failure.
   */
  shouldReconnect?: (error: Error) => boolean;
  /** Random numbers in [0, 1) for the jitter (default `Math.random`). */
  random?: () => number;
}

/** Where a {@link ReconnectingConn} connects: a URL or target, or a function giving one before each attempt. */
export type ReconnectTarget = string | URL | ConnectTarget | (() => string | URL | ConnectTarget);

/** Life cycle of a {@link ReconnectingConn}. */
export type ReconnectState = 'connecting' | 'open' | 'waiting' | 'closed';

type Queued = { text: boolean; data: string | Uint8Array; bytes: number };
type ReadyWaiter = { resolve: (conn: Conn) => void; reject: (error: Error) => void };
type OpenInfo = { attempt: number; reconnect: boolean };

/**
 * The delay before retry `attempt` (1-based): `initialDelayMs * factor^(attempt-1)` capped at `maxDelayMs`, of
 * which the share `jitter` is drawn at random.
 */
export function backoffDelay(
  attempt: number,
  policy: ReconnectPolicy = {},
  random: () => number = Math.random,
): number {
  const initial = policy.initialDelayMs ?? 500;
  const cap = policy.maxDelayMs ?? 30_000;
  const base = Math.min(cap, initial * Math.pow(policy.factor ?? 2, Math.max(0, attempt - 1)));
  return Math.round(base * (1 - (policy.jitter ?? 0.5) * random()));
}

/**
 * The default `shouldReconnect`: retry unless the refusal will not change (4xx but 408 and 429, a redirect error,
 * proxy authentication).
 */
export function isTransientFailure(error: Error): boolean {
  if (error instanceof HandshakeError && error.status >= 400 && error.status < 500)
    return error.status === 408 || error.status === 429;
  if (error instanceof RedirectError) return false;
  if (error instanceof ProxyError && error.failure === 'auth') return false;
  return true;
}

/**
 * A client connection that comes back: see the module comment. It starts connecting at once. Set the handlers right
 * after construction (they are called later, never during it).
 */
export class ReconnectingConn {
  /** The context its connections belong to. */
  readonly ctx: Context;
  /**
   * Each (re)connection, before queued sends go out: `attempt` is the retry that opened it (0 when no retry was
   * needed), `reconnect` is false only for the very first connection. Subscribe again here. A Promise is awaited
   * before the queue is sent; a throw or rejection is reported to `onError` and the queue is sent anyway.
   */
  onOpen: ((conn: Conn, info: OpenInfo) => void | Promise<void>) | null = null;
  #onMessage: OnMessageHandler | null = null;
  // Installed as each connection's onMessage while a handler is set; reads the handler at call time.
  readonly #forward: OnMessageHandler = (conn, msg) => this.#onMessage?.(conn, msg);
  /** An open connection ended (before any retry is decided). */
  onDisconnect: ((info: CloseInfo) => void) | null = null;
  /** A retry was scheduled: which attempt, after how long, and why. */
  onReconnecting: ((info: ReconnectAttempt) => void) | null = null;
  /** No more retries (`maxAttempts` reached or `shouldReconnect` said no): the last error. */
  onGiveUp: ((error: Error) => void) | null = null;

  readonly #target: ReconnectTarget;
  readonly #opts: ConnOptsLike | undefined;
  readonly #policy: ReconnectPolicy;
  #state: ReconnectState = 'connecting';
  #conn: Conn | null = null;
  #retries = 0;
  #opened = false;
  #timer: NodeJS.Timeout | null = null;
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #flushing = false;
  #waiters: ReadyWaiter[] = [];
  #endError: Error | null = null;

  /**
   * Starts connecting to `target` with `opts` (as `Conn.connect`), retrying per `policy`. A function as `target` is
   * called before each attempt (e.g. to resume from a position: `nopoll.pubsub.v1`'s `?since=`).
   * @throws TypeError / RangeError for an unusable target, option or policy (as `Conn.connect`).
   */
  constructor(ctx: Context, target: ReconnectTarget, opts?: ConnOptsLike, policy: ReconnectPolicy = {}) {
    for (const name of ['initialDelayMs', 'maxDelayMs', 'maxQueuedBytes'] as const) {
      const value = policy[name];
      if (value !== undefined && (!Number.isInteger(value) || value < 0))
        throw new RangeError(`${name} must be a non-negative integer`);
    }
    if (policy.factor !== undefined && !(policy.factor >= 1)) throw new RangeError('factor must be at least 1');
    if (policy.jitter !== undefined && !(policy.jitter >= 0 && policy.jitter <= 1))
      throw new RangeError('jitter must be from 0 to 1');
    if (policy.maxAttempts !== undefined && !(policy.maxAttempts >= 1))
      throw new RangeError('maxAttempts must be at least 1');
    if (
      policy.whileDisconnected !== undefined &&
      policy.whileDisconnected !== 'refuse' &&
      policy.whileDisconnected !== 'queue'
    ) {
      throw new RangeError(`whileDisconnected must be 'refuse' or 'queue'`);
    }
    this.ctx = ctx;
    this.#target = target;
    this.#opts = opts;
    this.#policy = policy;
    this.#connect();
  }

  /**
   * Messages of every connection (installed on each as its `onMessage`, the current one included when set later);
   * null leaves them to the context.
   */
  get onMessage(): OnMessageHandler | null {
    return this.#onMessage;
  }
  set onMessage(handler: OnMessageHandler | null) {
    this.#onMessage = handler;
    if (this.#conn !== null) this.#conn.onMessage = handler === null ? null : this.#forward;
  }

  /** Where it is: connecting, open, waiting before a retry, or closed for good. */
  get state(): ReconnectState {
    return this.#state;
  }
  /** The current connection (open or still connecting), or null while waiting or once closed. */
  get conn(): Conn | null {
    return this.#conn;
  }
  /** Retries made since the last connection opened (0 while open). */
  get attempts(): number {
    return this.#retries;
  }
  /** Payload bytes queued while disconnected. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Sends a text message now, or per `whileDisconnected`. @returns bytes accepted (or queued), -1 when refused. */
  sendText(data: string | Uint8Array): number {
    return this.#send(true, data);
  }

  /** Sends a binary message now, or per `whileDisconnected`. @returns bytes accepted (or queued), -1 when refused. */
  sendBinary(data: Uint8Array): number {
    return this.#send(false, data);
  }

  #send(text: boolean, data: string | Uint8Array): number {
    const conn = this.#conn;
    if (this.#state === 'open' && conn !== null && !this.#flushing)
      return text ? conn.sendText(data) : conn.sendBinary(data as Uint8Array);
    if (this.#state === 'closed' || (this.#policy.whileDisconnected ?? 'refuse') === 'refuse') return -1;
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (this.#queuedBytes + bytes > (this.#policy.maxQueuedBytes ?? 1024 * 1024)) return -1;
    // Copied: the caller may reuse its buffer before the message leaves.
    this.#queue.push({ text, data: typeof data === 'string' ? data : Buffer.from(data), bytes });
    this.#queuedBytes += bytes;
    return bytes;
  }

  /**
   * Resolves with the connection once one is open (at once when it is). Rejects when it gives up or is closed, or
   * with TimeoutError / AbortError.
   */
  ready(options: WaitOptions = {}): Promise<Conn> {
    if (this.#state === 'open' && this.#conn !== null && !this.#flushing) return Promise.resolve(this.#conn);
    if (this.#state === 'closed') return Promise.reject(this.#endError ?? new InvalidStateError('closed'));
    return wait<Conn>(options, 'ready', (resolve, reject) => {
      const waiter: ReadyWaiter = { resolve, reject };
      this.#waiters.push(waiter);
      return () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
      };
    });
  }

  /** Stops for good: no more retries, the queue is dropped, the current connection closes with `code`. */
  async close(code = 1000, reason = ''): Promise<void> {
    if (this.#state === 'closed') return;
    this.#finish(new ConnectionClosedError('closed by the application', code, reason));
    const conn = this.#conn;
    this.#conn = null;
    if (conn === null) return;
    if (conn.isReady) await conn.close(code, reason);
    else conn.shutdown();
  }

  #connect(): void {
    this.#state = 'connecting';
    const target = typeof this.#target === 'function' ? this.#target() : this.#target;
    const conn = Conn.connect(this.ctx, target, this.#opts);
    this.#conn = conn;
    if (this.#onMessage !== null) conn.onMessage = this.#forward;
    conn.waitUntilReady().then(
      () => this.#open(conn),
      () => undefined, // the end is handled through `closed`
    );
    void conn.closed.then((info) => this.#ended(conn, info));
  }

  #open(conn: Conn): void {
    if (this.#conn !== conn || this.#state === 'closed') return;
    const info: OpenInfo = { attempt: this.#retries, reconnect: this.#opened };
    this.#opened = true;
    this.#retries = 0;
    this.#state = 'open';
    this.#flushing = true;
    const flush = (): void => {
      this.#flushing = false;
      if (this.#conn !== conn || !conn.isReady) return;
      const queue = this.#queue;
      this.#queue = [];
      this.#queuedBytes = 0;
      for (const item of queue) {
        if (item.text) conn.sendText(item.data);
        else conn.sendBinary(item.data as Uint8Array);
      }
      for (const waiter of [...this.#waiters]) waiter.resolve(conn);
    };
    const hook = this.onOpen;
    if (hook === null) return flush();
    let result: void | Promise<void>;
    try {
      result = hook(conn, info);
    } catch (error) {
      this.ctx.handlerError(error, conn);
      return flush();
    }
    if (result instanceof Promise) {
      result.then(flush, (error: unknown) => {
        this.ctx.handlerError(error, conn);
        flush();
      });
    } else {
      flush();
    }
  }

  #ended(conn: Conn, info: CloseInfo): void {
    if (this.#conn !== conn || this.#state === 'closed') return;
    this.#conn = null;
    this.#flushing = false;
    const wasOpen = this.#state === 'open';
    if (wasOpen) this.#call(() => this.onDisconnect?.(info));
    const error =
      info.error ??
      new ConnectionClosedError(
        `the server closed the connection (${info.code}${info.reason ? ` ${info.reason}` : ''})`,
        info.code,
        info.reason,
      );
    // onDisconnect may have closed it.
    if ((this.#state as ReconnectState) === 'closed') return;
    let allowed = false;
    this.#call(() => (allowed = (this.#policy.shouldReconnect ?? isTransientFailure)(error)));
    if (!allowed || this.#retries >= (this.#policy.maxAttempts ?? Infinity)) {
      this.#giveUp(error);
      return;
    }
    const attempt = ++this.#retries;
    const delayMs = backoffDelay(attempt, this.#policy, this.#policy.random);
    this.#state = 'waiting';
    this.#call(() => this.onReconnecting?.({ attempt, delayMs, error }));
    if (this.#state !== 'waiting') return; // the handler closed it
    this.#timer = setTimeout(() => {
      this.#timer = null;
      try {
        this.#connect();
      } catch (failure) {
        // Options that worked before cannot fail now, unless the environment changed (proxyEnv): stop.
        this.#giveUp(failure as Error);
      }
    }, delayMs);
  }

  #giveUp(error: Error): void {
    this.#finish(error);
    this.#call(() => this.onGiveUp?.(error));
  }

  #finish(error: Error): void {
    this.#state = 'closed';
    this.#endError = error;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const waiter of [...this.#waiters]) waiter.reject(error);
  }

  // A handler that throws is reported, never thrown into the reconnect logic.
  #call(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.ctx.handlerError(error, null);
    }
  }
}
