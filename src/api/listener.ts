/**
 * Listeners: noPoll's master listener (`nopoll_listener_new`, `_new6`, `_new_opts`) over `net.Server`, plus the
 * accept entry points (`nopoll_conn_accept`, `nopoll_conn_accept_socket`, `nopoll_conn_accept_complete`) and
 * `handleUpgrade` for requests a Node HTTP server already parsed.
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { HandshakeError, InvalidStateError } from '../errors.js';
import { headerListOf } from '../transport/h2-answer.js';
import { checkIncomingUpgrade } from '../transport/http-upgrade.js';
import { peerAddress } from '../transport/peer-address.js';
import {
  rejectUpgrade,
  socketAnswer,
  type AcceptReply,
  type PendingUpgrade,
  type UpgradeAnswer,
} from '../transport/server-accept.js';
import { Conn } from './conn.js';
import { optsValues, type ConnOptsInit, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import type { OnReadyHandler } from './handlers.js';
import type { PublishOptions } from './pubsub.js';
import { wait, type WaitOptions } from './wait.js';
import { answerUpgrade, readUpgrade } from './listener-upgrade.js';
import { bindListener, type ListenOptions } from './listener-bind.js';
import {
  acceptWebSocketStream,
  closeListenerHttp2,
  enableListenerHttp2,
  isHttp2Listener,
  serveHttp2Socket,
  type StreamClient,
} from './listener-http2.js';
import type { CertificateEntry } from './certificate-store.js';
import { checkAcceptedTls, ListenerTls } from './listener-tls.js';
import type { PemSource } from './tls-options.js';

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

  private constructor(
    ctx: Context,
    server: Server | null,
    host: string,
    port: number,
    opts: ConnOptsInit,
    path: string | null = null,
  ) {
    this.ctx = ctx;
    this.#server = server;
    this.host = host;
    this.port = port;
    this.path = path;
    this.opts = opts;
    this.#live = opts.maxConnections ? new Set() : null;
    this.id = ctx.registerListener(this);
    server?.on('connection', (socket: Socket) => {
      if (!serveHttp2Socket(this, socket)) this.acceptSocket(socket);
    });
  }

  /**
   * Opens a listener. Resolves once it is bound.
   * @throws TypeError for a bad host or port; rejects with ConnectError when the address cannot be bound.
   */
  static async listen(ctx: Context, options: ListenOptions): Promise<Listener> {
    const bound = await bindListener(ctx, options);
    const listener = new Listener(ctx, bound.server, bound.host, bound.port, bound.opts, bound.path);
    if (bound.tls !== null) listener.#tls.enable(bound.tls);
    if (bound.http2 !== null) enableListenerHttp2(listener, bound.http2);
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

  /** Whether the listener serves WebSockets over HTTP/2 too (`Listener.listen(ctx, { http2: true })`). */
  get isHttp2(): boolean {
    return isHttp2Listener(this);
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
    return this.admit(socket, isEncrypted(socket), (conn) => readUpgrade(this.ctx, this.opts, conn, socket, head));
  }

  /**
   * Runs a TLS handshake, then the WebSocket accept, on a socket accepted elsewhere (`nopoll_conn_accept_complete`
   * with TLS on), whatever {@link isTls} says. `head` holds bytes already read (the start of the ClientHello). The
   * certificate is chosen as for a TLS listener; the post-handshake check runs before any WebSocket byte.
   */
  acceptTlsSocket(socket: Socket, head: Buffer | null = null): Conn {
    return this.admit(socket, true, (conn) =>
      this.#tls.accept(this, conn, socket, head, (secured) => readUpgrade(this.ctx, this.opts, conn, secured, null)),
    );
  }

  /**
   * @internal The TLS side of an accept on a port that serves HTTP/2 (RFC 8441), before any connection exists: ALPN
   * offers `h2` and `http/1.1`, and `proceed` reads `secured.alpnProtocol`. See `ListenerTls.acceptForHttp2`.
   */
  acceptHttp2Tls(socket: Socket, head: Buffer | null, proceed: (secured: TLSSocket) => void): void {
    this.#tls.acceptForHttp2(this, socket, head, proceed);
  }

  /**
   * @internal An HTTP/1.1 client on a TLS socket this listener's HTTP/2 port already secured (ALPN did not choose
   * `h2`): the post-handshake check, then the WebSocket accept.
   */
  acceptSecured(secured: TLSSocket): Conn {
    return this.admit(secured, true, (conn) =>
      checkAcceptedTls(conn, secured, () => readUpgrade(this.ctx, this.opts, conn, secured, null)),
    );
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
    return this.admit(raw, isEncrypted(socket), (conn) => {
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
      this.upgrade(conn, raw, checked.upgrade, socketAnswer(raw, checked.upgrade.request.key!));
    });
  }

  /**
   * Completes a WebSocket handshake that arrived over HTTP/2 (RFC 8441): call it from a Node HTTP/2 server's
   * `'stream'` event for a stream whose `:method` is CONNECT and `:protocol` is `websocket` (`attach()` does that
   * for you). Runs `onAccept`, the extended CONNECT checks (answering 400, 403, 405, 426 or 501 on the stream when
   * they fail), `onOpen`, then answers 200 and starts the session on the stream. Returns the connection at once;
   * `conn.httpVersion` is `'2'`, `conn.stream` is the HTTP/2 stream and `conn.socket` is null. `rawHeaders` (the
   * event's fourth argument) keeps repeated fields apart.
   * @throws InvalidStateError when the listener is closed (the stream is refused with 503 then).
   */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders?: readonly string[]): Conn {
    return acceptWebSocketStream(this, stream, headerListOf(headers, rawHeaders), null);
  }

  /**
   * @internal For `nopoll/ws`: completes an upgrade whose request the caller already checked (`checkIncomingUpgrade`)
   * and accepted: `protocol` is the subprotocol to confirm (null: none), `onReply` may add headers to the 101, and
   * `onReady` becomes the connection's handler (it runs before any message is delivered).
   */
  acceptCheckedUpgrade(
    socket: Duplex,
    upgrade: PendingUpgrade,
    accept: { protocol: string | null; onReply?: ((reply: AcceptReply) => void) | undefined; onReady: OnReadyHandler },
  ): Conn {
    const raw = socket as Socket;
    raw.setTimeout?.(0);
    return this.admit(raw, isEncrypted(socket), (conn) => {
      conn.acceptedProtocol = accept.protocol;
      conn.onReady = accept.onReady;
      raw.pause();
      const answer = socketAnswer(raw, upgrade.request.key!);
      const onReply = accept.onReply;
      this.upgrade(
        conn,
        raw,
        upgrade,
        onReply === undefined ? answer : { ...answer, accept: (reply) => (onReply(reply), answer.accept(reply)) },
      );
    });
  }

  /**
   * @internal Creates the connection for an accepted socket (or an HTTP/2 stream, whose client `via` describes and
   * on which it answers refusals), runs onAccept, offers it to accept() callers, then `next`.
   */
  admit(socket: Duplex, tls: boolean, next: (conn: Conn) => void, via?: StreamClient): Conn {
    if (!this.#open) {
      if (via) via.refuse(503, 'the WebSocket endpoint is closed');
      else socket.destroy();
      throw new InvalidStateError('the listener is closed');
    }
    const ctx = this.ctx;
    const o = this.opts;
    // An HTTP/2 stream's peer is its session's socket; a socket's is read without caching anything on it.
    const peer =
      via === undefined ? peerAddress(socket) : { address: via.remoteAddress ?? '', port: via.remotePort ?? 0 };
    const conn = new Conn(ctx, this, peer.address, peer.port, o.maxFrameSize ?? ctx.maxFrameSize);
    const live = this.#live;
    if (live !== null && live.size >= o.maxConnections!) {
      return refuseOverLimit(
        conn,
        socket,
        tls,
        via !== undefined,
        o.maxConnections!,
        via?.refuse ?? ((status, message) => rejectUpgrade(socket as Socket, status, message)),
      );
    }
    live?.add(conn);
    conn.attach(socket, tls, via !== undefined);
    (socket as Socket).setNoDelay?.(true);
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

  /**
   * @internal A checked request (read from a socket, parsed by Node, or an HTTP/2 extended CONNECT): see
   * {@link answerUpgrade}.
   */
  upgrade(conn: Conn, socket: Duplex, upgrade: PendingUpgrade, answer: UpgradeAnswer): void {
    answerUpgrade(this.ctx, this.opts, conn, socket, upgrade, answer);
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
    closeListenerHttp2(this);
    this.#server?.close();
    return new Promise((resolve) => setImmediate(resolve));
  }
}

// maxConnections reached: answer 503 without reading the request (what arrives is discarded so the answer is not
// lost to a reset), end TCP, and fail the connection with that status once the socket is gone.
function refuseOverLimit(
  conn: Conn,
  socket: Duplex,
  tls: boolean,
  http2: boolean,
  limit: number,
  refuse: (status: number, message: string) => void,
): Conn {
  socket.once('close', () => conn.fail(new HandshakeError(`listener at its limit of ${limit} connections`, 503)));
  conn.attach(socket, tls, http2);
  socket.resume();
  refuse(503, 'too many connections');
  return conn;
}

// A `tls.TLSSocket` (an https server's socket, or one the TLS accept wrapped) says so.
function isEncrypted(socket: unknown): boolean {
  return (socket as { encrypted?: unknown }).encrypted === true;
}
