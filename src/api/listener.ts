/**
 * Listeners: noPoll's master listener (`nopoll_listener_new`, `_new6`, `_new_opts`) over `net.Server`, plus the
 * accept entry points (`nopoll_conn_accept`, `nopoll_conn_accept_socket`).
 * @packageDocumentation
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { AbortError, ConnectError, HandshakeError, InvalidStateError, TimeoutError } from '../errors.js';
import { selectProtocol } from '../protocol/handshake/server-handshake.js';
import { acceptUpgrade, readUpgradeRequest, rejectUpgrade } from '../transport/server-accept.js';
import { Conn, type WaitOptions } from './conn.js';
import { optsValues, type ConnOptsInit, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';

/** Where and how to listen. */
export interface ListenOptions {
  /** Address to bind (default `0.0.0.0`, or `::` with `ipv6`). */
  host?: string;
  /** Port; 0 picks a free one, read it back from {@link Listener.port}. */
  port: number | string;
  /** IPv6 listener (noPoll's `nopoll_listener_new6`); `0.0.0.0` is refused then. */
  ipv6?: boolean;
  /** Options applied to every accepted connection (frame limit, Origin policy, subprotocols, timeouts). */
  opts?: ConnOptsLike;
  /** TCP backlog (default 511). */
  backlog?: number;
}

// Connections kept for accept() callers; older ones are dropped from the queue (not closed) past this.
const ACCEPT_QUEUE_LIMIT = 128;

/** A listening socket that accepts WebSocket connections. */
export class Listener {
  /** Per-context id. */
  readonly id: number;
  /** The owning context. */
  readonly ctx: Context;
  /** noPoll's role name for a listening socket. */
  readonly role = 'main-listener' as const;
  /** Options applied to accepted connections. */
  readonly opts: ConnOptsInit;
  /** The address bound. */
  readonly host: string;
  /** The port bound (the real one when 0 was asked). */
  readonly port: number;
  readonly #server: Server | null;
  #open = true;
  readonly #queue: Conn[] = [];
  readonly #acceptWaiters: Array<{ take: (conn: Conn) => void; drop: (error: Error) => void }> = [];

  private constructor(ctx: Context, server: Server | null, host: string, port: number, opts: ConnOptsInit) {
    this.ctx = ctx;
    this.#server = server;
    this.host = host;
    this.port = port;
    this.opts = opts;
    this.id = ctx.registerListener(this);
    server?.on('connection', (socket: Socket) => this.acceptSocket(socket));
  }

  /**
   * Opens a listener. Resolves once it is bound.
   * @throws TypeError for a bad host or port; rejects with ConnectError when the address cannot be bound.
   */
  static async listen(ctx: Context, options: ListenOptions): Promise<Listener> {
    const port = typeof options.port === 'string' ? (/^\d{1,5}$/.test(options.port) ? Number(options.port) : NaN) : options.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`invalid port ${String(options.port)}`);
    const host = options.host ?? (options.ipv6 ? '::' : '0.0.0.0');
    if (options.ipv6 && isIP(host) === 4) throw new TypeError(`${host} is not an IPv6 address`);
    if (options.ipv6 === false && isIP(host) === 6) throw new TypeError(`${host} is not an IPv4 address`);
    const server = createServer({ noDelay: true });
    return await new Promise((resolve, reject) => {
      server.once('error', (error) => reject(new ConnectError(`cannot listen on ${host}:${port}: ${error.message}`, { cause: error })));
      server.listen({ host, port, backlog: options.backlog ?? 511, ipv6Only: options.ipv6 === true }, () => {
        // Accept failures (EMFILE...) must not crash the process; they are logged.
        server.on('error', (error) => ctx.log('critical', `listener ${host}:${port}: ${error.message}`));
        const address = server.address();
        const bound = typeof address === 'object' && address !== null ? address.port : port;
        resolve(new Listener(ctx, server, host, bound, { ...optsValues(options.opts) }));
      });
    });
  }

  /**
   * A listener object without a listening socket, for port sharing (manual §2.2): another server accepts, then
   * hands sockets over with {@link acceptSocket}. Unlike noPoll's `nopoll_listener_from_socket`, it needs no socket.
   */
  static detached(ctx: Context, opts?: ConnOptsLike): Listener {
    return new Listener(ctx, null, '', 0, { ...optsValues(opts) });
  }

  /** True until closed. */
  get isOk(): boolean {
    return this.#open;
  }

  /** The underlying `net.Server` (null for a detached listener). */
  get server(): Server | null {
    return this.#server;
  }

  /**
   * Resolves with the next connection this listener accepts (`nopoll_conn_accept`), oldest first. The connection
   * may still be in its handshake: `await conn.waitUntilReady()`.
   */
  accept(options: WaitOptions = {}): Promise<Conn> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (!this.#open) return Promise.reject(new InvalidStateError('the listener is closed'));
    if (options.signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: options.signal.reason }));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const settle = (): void => {
        const at = this.#acceptWaiters.indexOf(waiter);
        if (at >= 0) this.#acceptWaiters.splice(at, 1);
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const waiter = {
        take: (conn: Conn): void => {
          settle();
          resolve(conn);
        },
        drop: (error: Error): void => {
          settle();
          reject(error);
        },
      };
      const onAbort = (): void => waiter.drop(new AbortError(undefined, { cause: options.signal?.reason }));
      if (options.timeoutMs) {
        timer = setTimeout(() => waiter.drop(new TimeoutError('accept', `no connection accepted within ${options.timeoutMs} ms`)), options.timeoutMs);
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#acceptWaiters.push(waiter);
    });
  }

  /**
   * Runs the WebSocket accept on a socket already accepted elsewhere (`nopoll_conn_accept_socket` /
   * `nopoll_conn_accept_complete`), with the bytes already read from it. Returns the connection at once.
   */
  acceptSocket(socket: Socket, head: Buffer | null = null): Conn {
    if (!this.#open) {
      socket.destroy();
      throw new InvalidStateError('the listener is closed');
    }
    const ctx = this.ctx;
    const o = this.opts;
    const conn = new Conn(ctx, 'listener', this, socket.remoteAddress ?? '', socket.remotePort ?? 0, o.maxFrameSize ?? ctx.maxFrameSize);
    conn.attachSocket(socket, false);
    socket.setNoDelay(true);
    if (ctx.onAccept !== null) {
      conn.decide(ctx.onAccept, (ok) => {
        if (!ok) return conn.shutdown();
        this.#offer(conn);
        this.#readRequest(conn, socket, head);
      });
    } else {
      this.#offer(conn);
      this.#readRequest(conn, socket, head);
    }
    return conn;
  }

  // Hands an accepted connection to an accept() caller, or queues it for the next one.
  #offer(conn: Conn): void {
    const waiter = this.#acceptWaiters[0];
    if (waiter) return waiter.take(conn);
    this.#queue.push(conn);
    if (this.#queue.length > ACCEPT_QUEUE_LIMIT) this.#queue.shift();
  }

  #readRequest(conn: Conn, socket: Socket, head: Buffer | null): void {
    if (!conn.isOk) return;
    const ctx = this.ctx;
    const o = this.opts;
    readUpgradeRequest(
      socket,
      head,
      {
        limits: { maxHeadBytes: ctx.maxHeadBytes, maxHeaderCount: ctx.maxHeaderCount },
        policy: { version: ctx.protocolVersion, requireOrigin: o.requireOrigin ?? false },
        timeoutMs: o.handshakeTimeoutMs ?? ctx.handshakeTimeoutMs,
      },
      (error, upgrade) => {
        if (error || !upgrade) {
          conn.fail(error ?? new HandshakeError('handshake failed'));
          return;
        }
        const request = upgrade.request;
        Object.assign(conn.handshake, {
          requestedUrl: request.path,
          hostHeader: request.host,
          origin: request.origin,
          cookie: request.cookie,
          requestedProtocols: request.protocols,
          xRealIp: request.xRealIp,
          headers: request.headers,
        });
        const finish = (accepted: boolean): void => {
          if (!conn.isOk) return;
          if (!accepted) {
            rejectUpgrade(socket, 403, 'connection refused');
            conn.fail(new HandshakeError('refused by the onOpen handler', 403));
            return;
          }
          let protocol = conn.acceptedProtocol;
          if (protocol !== null && !request.protocols.includes(protocol)) {
            rejectUpgrade(socket, 400, 'no acceptable subprotocol');
            conn.fail(new HandshakeError(`subprotocol ${protocol} was not requested by the client (RFC 6455 §4.2.2)`, 400));
            return;
          }
          // Default choice: the first requested one we support (all of them when no list is configured).
          protocol ??= selectProtocol(request.protocols, o.protocols ?? request.protocols);
          acceptUpgrade(socket, request.key, { protocol, extensions: null });
          conn.startSession(socket, upgrade.rest, {
            acceptedProtocol: protocol,
            maxMessageSize: o.maxMessageSize ?? ctx.maxMessageSize,
            closeTimeoutMs: o.closeTimeoutMs ?? ctx.closeTimeoutMs,
            deliverFrames: o.deliverFragments ?? false,
            keepHeaders: o.keepHeaders ?? false,
          });
        };
        if (ctx.onOpen !== null) conn.decide(ctx.onOpen, finish);
        else finish(true);
      },
    );
  }

  /** @internal A connection ended: drop it from the accept queue. */
  forget(conn: Conn): void {
    const at = this.#queue.indexOf(conn);
    if (at >= 0) this.#queue.splice(at, 1);
  }

  /**
   * Stops accepting (`nopoll_conn_close` on a listener). Connections already accepted stay open, as in noPoll;
   * the Promise settles once the listening socket is closed, without waiting for them.
   */
  close(): Promise<void> {
    if (!this.#open) return Promise.resolve();
    this.#open = false;
    this.ctx.unregisterListener(this);
    this.#queue.length = 0;
    for (const waiter of [...this.#acceptWaiters]) waiter.drop(new InvalidStateError('the listener was closed'));
    this.#server?.close();
    return new Promise((resolve) => setImmediate(resolve));
  }
}
