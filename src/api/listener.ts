/**
 * Listeners: noPoll's master listener (`nopoll_listener_new`, `_new6`, `_new_opts`) over `net.Server`, plus the
 * accept entry points (`nopoll_conn_accept`, `nopoll_conn_accept_socket`, `nopoll_conn_accept_complete`) and
 * `handleUpgrade` for requests a Node HTTP server already parsed.
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConnectError, HandshakeError, InvalidStateError } from '../errors.js';
import { selectProtocol } from '../protocol/handshake/server-handshake.js';
import { checkIncomingUpgrade } from '../transport/http-upgrade.js';
import { acceptUpgrade, readUpgradeRequest, rejectUpgrade, type PendingUpgrade } from '../transport/server-accept.js';
import { listenUnix } from '../transport/unix-listen.js';
import { Conn } from './conn.js';
import { optsValues, sessionSettings, type ConnOptsInit, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import type { PublishOptions } from './pubsub.js';
import { wait, type WaitOptions } from './wait.js';
import { serverDeflateSession } from './deflate-options.js';
import type { CertificateEntry, CertificateInput } from './certificate-store.js';
import { ListenerTls, prepareListenerTls } from './listener-tls.js';
import type { PemSource } from './tls-options.js';

/** Where and how to listen. */
export interface ListenOptions {
  /** Address to bind (default `0.0.0.0`, or `::` with `ipv6`). */
  host?: string;
  /** Port; 0 picks a free one, read it back from {@link Listener.port}. Not with `path`. */
  port?: number | string;
  /**
   * Listen on this unix domain socket path instead of a TCP port (clients connect with `ws+unix:` URLs); `tls`
   * works the same. A stale socket file left at the path by a process that died is removed first (see
   * `removeStaleSocket`); Node removes the file when the listener closes.
   */
  path?: string;
  /** With `path`: remove a socket file nobody accepts on before listening (default true). Other files are never removed. */
  removeStaleSocket?: boolean;
  /** With `path`: make the socket file readable and writable by every user (default: the process's umask decides). */
  socketAccessAll?: boolean;
  /** IPv6 listener (noPoll's `nopoll_listener_new6`); `0.0.0.0` is refused then. */
  ipv6?: boolean;
  /** Options applied to every accepted connection (frame limit, Origin policy, subprotocols, timeouts). */
  opts?: ConnOptsLike;
  /** TCP backlog (default 511). */
  backlog?: number;
  /**
   * Accept `wss://` (noPoll's `nopoll_listener_tls_new`): every accepted socket runs a TLS handshake first. The
   * certificate comes from `opts.tls`, else `certificate` / {@link Listener.setCertificate}, else the context's store.
   */
  tls?: boolean;
  /** The listener's own certificate (`nopoll_listener_set_certificate`); needs `tls`. */
  certificate?: CertificateInput;
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
  /** The port bound (the real one when 0 was asked); 0 on a unix socket. */
  readonly port: number;
  /** The unix socket path listened on, or null for TCP. */
  readonly path: string | null;
  readonly #server: Server | null;
  #open = true;
  readonly #queue: Conn[] = [];
  readonly #acceptWaiters: Array<{ take: (conn: Conn) => void; drop: (error: Error) => void }> = [];
  // Connections admitted and not yet ended, for maxConnections (only kept when that option is set).
  readonly #live: Set<Conn> | null;
  // TLS: whether accepted sockets are wrapped, the certificate, the secure contexts.
  readonly #tls = new ListenerTls();

  private constructor(ctx: Context, server: Server | null, host: string, port: number, opts: ConnOptsInit, path: string | null = null) {
    this.ctx = ctx;
    this.#server = server;
    this.host = host;
    this.port = port;
    this.path = path;
    this.opts = opts;
    this.#live = opts.maxConnections ? new Set() : null;
    this.id = ctx.registerListener(this);
    server?.on('connection', (socket: Socket) => this.acceptSocket(socket));
  }

  /**
   * Opens a listener. Resolves once it is bound.
   * @throws TypeError for a bad host or port; rejects with ConnectError when the address cannot be bound.
   */
  static async listen(ctx: Context, options: ListenOptions): Promise<Listener> {
    const path = options.path;
    let host = '';
    let port = 0;
    if (path !== undefined) {
      if (typeof path !== 'string' || path === '') throw new TypeError('the socket path must be a non-empty string');
      if (options.port !== undefined || options.host !== undefined || options.ipv6 !== undefined) {
        throw new TypeError('a unix socket listener takes a path, not a host, port or ipv6');
      }
    } else {
      if (options.port === undefined) throw new TypeError('a listener needs a port or a path');
      port = typeof options.port === 'string' ? (/^\d{1,5}$/.test(options.port) ? Number(options.port) : NaN) : options.port;
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`invalid port ${String(options.port)}`);
      host = options.host ?? (options.ipv6 ? '::' : '0.0.0.0');
      if (options.ipv6 && isIP(host) === 4) throw new TypeError(`${host} is not an IPv6 address`);
      if (options.ipv6 === false && isIP(host) === 6) throw new TypeError(`${host} is not an IPv4 address`);
    }
    if (options.certificate !== undefined && options.tls !== true) throw new TypeError('a listener certificate needs tls: true');
    // Options (limits, compression), TLS options and certificate files are checked before anything is bound.
    optsValues(options.opts);
    const tls = options.tls === true ? prepareListenerTls(optsValues(options.opts).tls, options.certificate) : null;
    const server = createServer({ noDelay: true });
    const where = path ?? `${host}:${port}`;
    const backlog = options.backlog ?? 511;
    await new Promise<void>((resolve, reject) => {
      const done = (error: Error | null): void => {
        if (error) reject(new ConnectError(`cannot listen on ${where}: ${error.message}`, { cause: error }));
        else resolve();
      };
      if (path === undefined) {
        server.once('error', done);
        server.listen({ host, port, backlog, ipv6Only: options.ipv6 === true }, () => {
          server.off('error', done);
          done(null);
        });
        return;
      }
      const all = options.socketAccessAll === true;
      listenUnix(server, { path, backlog, removeStale: options.removeStaleSocket ?? true, readableAll: all, writableAll: all }, done);
    });
    // Accept failures (EMFILE...) must not crash the process; they are logged.
    server.on('error', (error) => ctx.log('critical', `listener ${where}: ${error.message}`));
    const address = server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    const listener = new Listener(ctx, server, host, bound, { ...optsValues(options.opts) }, path ?? null);
    if (tls !== null) listener.#tls.enable(tls);
    return listener;
  }

  /**
   * A listener object without a listening socket, for port sharing (manual §2.2): another server accepts, then
   * hands sockets over with {@link acceptSocket}. Unlike noPoll's `nopoll_listener_from_socket`, it needs no socket.
   */
  static detached(ctx: Context, opts?: ConnOptsLike): Listener {
    return new Listener(ctx, null, '', 0, { ...optsValues(opts) });
  }

  /**
   * The listener object of noPoll's port-sharing example (`nopoll_listener_from_socket`): a {@link detached}
   * listener that records the address of `server`, the server that really accepts. Nothing is attached to
   * `server`; hand sockets over with {@link acceptComplete}.
   */
  static fromSocket(ctx: Context, server?: Server | null, opts?: ConnOptsLike): Listener {
    const address = server?.address();
    const bound = typeof address === 'object' && address !== null ? address : null;
    return new Listener(ctx, null, bound?.address ?? '', bound?.port ?? 0, { ...optsValues(opts) });
  }

  /** True until closed. */
  get isOk(): boolean {
    return this.#open;
  }

  /** Whether accepted sockets run a TLS handshake first (`Listener.listen(ctx, { tls: true })`). */
  get isTls(): boolean {
    return this.#tls.enabled;
  }

  /**
   * Sets the certificate, key and optional chain this listener presents when its options give none
   * (`nopoll_listener_set_certificate`). Applies to connections accepted afterwards. PEM text, a Buffer or
   * `{ file: path }`.
   * @throws TypeError / TlsError for unusable input (an unreadable file).
   */
  setCertificate(cert: PemSource, key: PemSource, chain?: PemSource | null): this {
    this.#tls.setCertificate({ cert, key, chain: chain ?? null });
    return this;
  }

  /** The certificate set with {@link setCertificate} or the `certificate` option (PEM loaded), or null. */
  get certificate(): CertificateEntry | null {
    return this.#tls.certificate;
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
    return wait<Conn>(options, 'accept', (take, drop) => {
      const waiter = { take, drop };
      this.#acceptWaiters.push(waiter);
      return () => {
        const at = this.#acceptWaiters.indexOf(waiter);
        if (at >= 0) this.#acceptWaiters.splice(at, 1);
      };
    });
  }

  /**
   * Runs the WebSocket accept on a socket already accepted elsewhere (`nopoll_conn_accept_socket` /
   * `nopoll_conn_accept_complete`), with the bytes already read from it. Returns the connection at once.
   */
  acceptSocket(socket: Socket, head: Buffer | null = null): Conn {
    if (this.isTls && !isEncrypted(socket)) return this.acceptTlsSocket(socket, head);
    return this.#admit(socket, isEncrypted(socket), (conn) => this.#readRequest(conn, socket, head));
  }

  /**
   * Runs a TLS handshake, then the WebSocket accept, on a socket accepted elsewhere (`nopoll_conn_accept_complete`
   * with TLS on), whatever {@link isTls} says. `head` holds bytes already read (the start of the ClientHello). The
   * certificate is chosen as for a TLS listener; the post-handshake check runs before any WebSocket byte.
   */
  acceptTlsSocket(socket: Socket, head: Buffer | null = null): Conn {
    return this.#admit(socket, true, (conn) => this.#tls.accept(this, conn, socket, head, (secured) => this.#readRequest(conn, secured, null)));
  }

  /**
   * Port sharing (`nopoll_conn_accept_complete`): completes the accept of a socket another server accepted, with
   * the bytes already read from it (see `sniff`). With `tls`, the bytes are the start of a TLS handshake: this is
   * {@link acceptTlsSocket}; without, {@link acceptSocket}.
   * @throws InvalidStateError when the listener is closed (the socket is destroyed then).
   */
  acceptComplete(socket: Socket, head: Buffer | null = null, options: { tls?: boolean } = {}): Conn {
    if (options.tls === true) return this.acceptTlsSocket(socket, head);
    return this.acceptSocket(socket, head);
  }

  /**
   * Completes a WebSocket upgrade that a Node HTTP server already parsed: call it from `server.on('upgrade',
   * (req, socket, head) => ...)` (or a framework's equivalent). Runs `onAccept`, the RFC 6455 checks on the request
   * (answering 4xx when they fail), `onOpen`, then answers 101 and starts the session with `head`. The connection
   * is returned at once, as from {@link acceptSocket}; `attach()` routes upgrades to listeners by path.
   * @throws InvalidStateError when the listener is closed (the socket is destroyed then).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Conn {
    const raw = socket as Socket;
    // The HTTP server's idle timeout must not cut a long-lived WebSocket.
    raw.setTimeout?.(0);
    return this.#admit(raw, isEncrypted(socket), (conn) => {
      const ctx = this.ctx;
      const checked = checkIncomingUpgrade(req, head, {
        policy: { version: ctx.protocolVersion, requireOrigin: this.opts.requireOrigin ?? false },
        maxHeaderCount: ctx.maxHeaderCount,
      });
      if (!checked.ok) {
        rejectUpgrade(raw, checked.status, checked.message, checked.headers);
        conn.fail(new HandshakeError(checked.message, checked.status));
        return;
      }
      // Like a request read from the socket: hold further bytes until the application has decided.
      raw.pause();
      this.#upgrade(conn, raw, checked.upgrade);
    });
  }

  // Creates the connection for an accepted socket, runs onAccept, offers it to accept() callers, then `next`.
  #admit(socket: Socket, tls: boolean, next: (conn: Conn) => void): Conn {
    if (!this.#open) {
      socket.destroy();
      throw new InvalidStateError('the listener is closed');
    }
    const ctx = this.ctx;
    const o = this.opts;
    const conn = new Conn(ctx, 'listener', this, socket.remoteAddress ?? '', socket.remotePort ?? 0, o.maxFrameSize ?? ctx.maxFrameSize);
    const live = this.#live;
    if (live !== null && live.size >= o.maxConnections!) return refuseOverLimit(conn, socket, tls, o.maxConnections!);
    live?.add(conn);
    conn.attach(socket, tls);
    socket.setNoDelay?.(true);
    if (ctx.onAccept !== null) {
      conn.decide(ctx.onAccept, (ok) => {
        if (!ok) return conn.shutdown();
        this.#offer(conn);
        next(conn);
      });
    } else {
      this.#offer(conn);
      next(conn);
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
        this.#upgrade(conn, socket, upgrade);
      },
    );
  }

  // A checked request: record it, let onOpen decide, then answer 101 and start the session (or refuse).
  #upgrade(conn: Conn, socket: Socket, upgrade: PendingUpgrade): void {
    if (!conn.isOk) return;
    const ctx = this.ctx;
    const o = this.opts;
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
    const finish = (accepted: boolean, threw = false): void => {
      if (!conn.isOk) return;
      if (!accepted) {
        // `false` refuses (403); a throw or a rejection is the server's own failure (500).
        const status = threw ? 500 : 403;
        rejectUpgrade(socket, status, threw ? 'internal server error' : 'connection refused');
        conn.fail(new HandshakeError(threw ? 'the onOpen handler failed' : 'refused by the onOpen handler', status));
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
      // permessage-deflate (RFC 7692 §5.1): the first acceptable offer, or none (declined offers are logged).
      const { deflate, declined } = serverDeflateSession(o.perMessageDeflate, request.extensions);
      if (declined.length > 0) ctx.log('debug', `permessage-deflate declined: ${declined.join('; ')}`);
      acceptUpgrade(socket, request.key, { protocol, extensions: deflate?.agreement.response ?? null });
      conn.start(socket, upgrade.rest, {
        deflate,
        acceptedProtocol: protocol,
        ...sessionSettings(o, ctx),
      });
    };
    if (ctx.onOpen !== null) {
      // The decision may be asynchronous: hold further bytes until it comes (acceptUpgrade resumes).
      socket.pause();
      conn.decide(ctx.onOpen, finish);
    } else {
      finish(true);
    }
  }

  /** Publishes to every subscriber of `topic`. Topics belong to the context: the same as `ctx.publish` (docs/pubsub.md). */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number {
    return this.ctx.publish(topic, data, options);
  }

  /** Subscribers of `topic` in this listener's context (`ctx.subscriberCount`). */
  subscriberCount(topic: string): number {
    return this.ctx.subscriberCount(topic);
  }

  /** @internal A connection ended: drop it from the accept queue. */
  forget(conn: Conn): void {
    this.#live?.delete(conn);
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

// maxConnections reached: answer 503 without reading the request (what arrives is discarded so the answer is not
// lost to a reset), end TCP, and fail the connection with that status once the socket is gone.
function refuseOverLimit(conn: Conn, socket: Socket, tls: boolean, limit: number): Conn {
  socket.once('close', () => conn.fail(new HandshakeError(`listener at its limit of ${limit} connections`, 503)));
  conn.attach(socket, tls);
  socket.resume();
  rejectUpgrade(socket, 503, 'too many connections');
  return conn;
}

// A `tls.TLSSocket` (an https server's socket, or one the TLS accept wrapped) says so.
function isEncrypted(socket: unknown): boolean {
  return (socket as { encrypted?: unknown }).encrypted === true;
}
