/**
 * WebSocket endpoints on an existing `http.Server` / `https.Server` (and so on Express, Fastify, Koa, which run on
 * one), or `http2.createSecureServer` / `http2.createServer`: upgrade requests (and, on an HTTP/2 server, extended
 * CONNECT streams, RFC 8441) are routed by path to listeners, everything else stays the server's. Each endpoint is
 * a {@link Listener} without a socket of its own, with its own options and, through its context, its own handlers;
 * its connections can also be taken with `listener.accept()`.
 * @packageDocumentation
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type {
  Http2SecureServer,
  Http2Server,
  Http2ServerRequest,
  Http2ServerResponse,
  IncomingHttpHeaders,
  ServerHttp2Stream,
} from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isWebSocketConnect } from '../protocol/handshake/extended-connect.js';
import { refuseStream } from '../transport/h2-answer.js';
import { rejectUpgrade } from '../transport/server-accept.js';
import type { Conn } from './conn.js';
import type { ConnOptsLike } from './conn-opts.js';
import { Context } from './context.js';
import { Listener } from './listener.js';

/**
 * An endpoint: a listener (use `Listener.detached(ctx, opts)`), a context (an endpoint with default options is
 * made for it), or a context with options.
 */
export type EndpointTarget = Listener | Context | { ctx: Context; opts?: ConnOptsLike };

/** How an {@link UpgradeRouter} routes. */
export interface UpgradeRouterOptions {
  /** Endpoints by path, matched exactly against the request path without its query string. */
  paths?: Readonly<Record<string, EndpointTarget>> | ReadonlyMap<string, EndpointTarget>;
  /** Picks the endpoint of a request no path matched (null or undefined: none). */
  route?: (req: IncomingMessage, path: string) => Listener | null | undefined;
  /** The same for an HTTP/2 extended CONNECT no path matched, given its header fields. */
  routeStream?: (headers: IncomingHttpHeaders, path: string) => Listener | null | undefined;
  /**
   * An upgrade request for which there is no endpoint: `'reject'` (default) answers 404 and closes the
   * connection; `'ignore'` leaves it untouched for the server's other `'upgrade'` listeners, one of which must
   * then answer it (Node leaves an upgrade nobody answers open).
   */
  unknownPath?: 'reject' | 'ignore';
}

type UpgradeServer = HttpServer | HttpsServer | Http2Server | Http2SecureServer;
type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
type StreamListener = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  rawHeaders?: string[],
) => void;
type ConnectListener = (req: Http2ServerRequest, res: Http2ServerResponse) => void;
/** What `attach` added to a server. */
interface Attached {
  upgrade: UpgradeListener;
  stream: StreamListener | null;
  connect: ConnectListener | null;
}

/** Routes upgrade requests by path to WebSocket endpoints. See the module comment. */
export class UpgradeRouter {
  readonly #endpoints = new Map<string, Listener>();
  readonly #owned = new Set<Listener>();
  readonly #servers = new Map<UpgradeServer, Attached>();
  readonly #route: UpgradeRouterOptions['route'];
  readonly #routeStream: UpgradeRouterOptions['routeStream'];
  // Extended CONNECT streams this router took, so the compatibility layer's 'connect' guard leaves them alone.
  readonly #taken = new WeakSet<ServerHttp2Stream>();
  readonly #unknownPath: 'reject' | 'ignore';

  constructor(options: UpgradeRouterOptions = {}) {
    this.#route = options.route;
    this.#routeStream = options.routeStream;
    this.#unknownPath = options.unknownPath ?? 'reject';
    if (this.#unknownPath !== 'reject' && this.#unknownPath !== 'ignore') {
      throw new TypeError(`unknownPath must be 'reject' or 'ignore', got ${String(this.#unknownPath)}`);
    }
    const paths = options.paths;
    if (paths !== undefined) {
      const entries = paths instanceof Map ? [...paths] : Object.entries(paths as Record<string, EndpointTarget>);
      for (const [path, target] of entries) this.add(path, target);
    }
  }

  /**
   * Adds (or replaces) the endpoint at `path` (it must start with "/") and returns its listener.
   * @throws TypeError for a bad path or target.
   */
  add(path: string, target: EndpointTarget): Listener {
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('?') || path.includes('#')) {
      throw new TypeError(`an endpoint path starts with "/" and has no query or fragment: ${String(path)}`);
    }
    let listener: Listener;
    if (target instanceof Listener) {
      listener = target;
    } else if (target instanceof Context) {
      listener = Listener.detached(target);
      this.#owned.add(listener);
    } else if (target !== null && typeof target === 'object' && target.ctx instanceof Context) {
      listener = Listener.detached(target.ctx, target.opts);
      this.#owned.add(listener);
    } else {
      throw new TypeError('an endpoint is a Listener, a Context, or { ctx, opts }');
    }
    this.#endpoints.set(path, listener);
    return listener;
  }

  /** Removes the endpoint at `path` (its listener stays open). @returns whether there was one. */
  remove(path: string): boolean {
    return this.#endpoints.delete(path);
  }

  /** The listener of the endpoint at `path`. */
  endpoint(path: string): Listener | undefined {
    return this.#endpoints.get(path);
  }

  /** The paths served. */
  get paths(): string[] {
    return [...this.#endpoints.keys()];
  }

  /**
   * Routes one upgrade request (the arguments of the `'upgrade'` event, which frameworks also hand over) and
   * returns the connection, or null when no endpoint took it (answered 404, 503 for a closed endpoint, or left
   * alone with `unknownPath: 'ignore'`).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Conn | null {
    const path = pathOf(req.url ?? '');
    const listener = this.#endpoints.get(path) ?? this.#route?.(req, path) ?? null;
    if (listener === null) {
      if (this.#unknownPath === 'reject') refuse(socket, 404, `no WebSocket endpoint at ${path || '(invalid target)'}`);
      return null;
    }
    if (!listener.isOk) {
      refuse(socket, 503, 'the WebSocket endpoint is closed');
      return null;
    }
    return listener.handleUpgrade(req, socket, head);
  }

  /**
   * Routes one HTTP/2 extended CONNECT (the arguments of a `'stream'` event whose `:method` is CONNECT and
   * `:protocol` is `websocket`) by its `:path` and returns the connection, or null when no endpoint took it
   * (answered 404, 503 for a closed endpoint, or left alone with `unknownPath: 'ignore'`).
   */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders?: readonly string[]): Conn | null {
    const path = pathOf(String(headers[':path'] ?? ''));
    const listener = this.#endpoints.get(path) ?? this.#routeStream?.(headers, path) ?? null;
    if (listener === null) {
      if (this.#unknownPath === 'reject') {
        this.#taken.add(stream);
        refuseStream(stream, 404, `no WebSocket endpoint at ${path || '(invalid target)'}`);
      }
      return null;
    }
    this.#taken.add(stream);
    if (!listener.isOk) {
      refuseStream(stream, 503, 'the WebSocket endpoint is closed');
      return null;
    }
    return listener.handleStream(stream, headers, rawHeaders);
  }

  /**
   * Starts routing the `'upgrade'` events of `server`; plain requests are not touched. On an HTTP/2 server
   * (`http2.createSecureServer`, `http2.createServer`) it also turns on SETTINGS_ENABLE_CONNECT_PROTOCOL (for
   * connections made from now on) and routes extended CONNECT streams, ahead of the server's other `'stream'`
   * listeners; with `allowHTTP1`, HTTP/1.1 clients on the same port arrive as `'upgrade'` events.
   */
  attach(server: UpgradeServer): this {
    if (this.#servers.has(server)) return this;
    const onUpgrade: UpgradeListener = (req, socket, head) => {
      this.handleUpgrade(req, socket, head);
    };
    const attached: Attached = { upgrade: onUpgrade, stream: null, connect: null };
    this.#servers.set(server, attached);
    server.on('upgrade', onUpgrade);
    if (isHttp2Server(server)) this.#attachHttp2(server, attached);
    return this;
  }

  #attachHttp2(server: Http2Server | Http2SecureServer, attached: Attached): void {
    // RFC 8441 §3: a server that sends this setting promises to serve extended CONNECT.
    server.updateSettings({ enableConnectProtocol: true });
    attached.stream = (stream, headers, _flags, rawHeaders) => {
      if (!isWebSocketConnect(headers[':method'], headers[':protocol'])) return;
      stream.on('error', ignore); // a reset is reported to the connection through 'close'
      this.handleStream(stream, headers, rawHeaders);
    };
    // With a 'request' listener, Node's compatibility layer also sees every stream, and answers a CONNECT that no
    // 'connect' listener takes with 405 and END_STREAM (nodejs/node#36977), which would end our WebSocket. This
    // listener makes the event taken; it answers only what nobody else does.
    attached.connect = (req, res) => {
      if (this.#taken.has(req.stream) || server.listenerCount('connect') > 1 || res.headersSent) return;
      const protocol = req.headers[':protocol'];
      res.statusCode = protocol === undefined ? 405 : 501;
      res.end(protocol === undefined ? 'CONNECT is not served here\n' : `protocol ${String(protocol)} not supported\n`);
    };
    server.prependListener('stream', attached.stream);
    server.on('connect', attached.connect);
  }

  /** Stops routing the upgrades and streams of `server` (of every server when omitted). Open connections are not touched. */
  detach(server?: UpgradeServer): void {
    for (const [s, attached] of [...this.#servers]) {
      if (server !== undefined && s !== server) continue;
      s.off('upgrade', attached.upgrade);
      if (attached.stream !== null) s.off('stream', attached.stream);
      if (attached.connect !== null) s.off('connect', attached.connect);
      this.#servers.delete(s);
    }
  }

  /**
   * Detaches from every server and closes the listeners this router made (from a Context target); listeners
   * passed in stay open. Connections stay open, as when a listener closes; close their contexts to end them.
   */
  async close(): Promise<void> {
    this.detach();
    const owned = [...this.#owned];
    this.#owned.clear();
    await Promise.all(owned.map((listener) => listener.close()));
  }
}

/**
 * Serves WebSocket endpoints on `server`: `attach(server, { paths: { '/chat': chatListener, '/feed': feedCtx } })`.
 * Same as `new UpgradeRouter(options).attach(server)`.
 */
export function attach(server: UpgradeServer, options: UpgradeRouterOptions): UpgradeRouter {
  return new UpgradeRouter(options).attach(server);
}

// The request path without query: origin form ("/a?b") or absolute form ("http://host/a?b"); "" when unusable.
function pathOf(target: string): string {
  let path = target;
  if (!path.startsWith('/')) {
    try {
      path = new URL(path).pathname;
    } catch {
      return '';
    }
  }
  const end = path.search(/[?#]/);
  return end >= 0 ? path.slice(0, end) : path;
}

// The HTTP/2 servers have updateSettings; http and https servers do not.
function isHttp2Server(server: UpgradeServer): server is Http2Server | Http2SecureServer {
  return typeof (server as Http2SecureServer).updateSettings === 'function';
}

function ignore(): void {}

function refuse(socket: Duplex, status: number, message: string): void {
  // Node's HTTP server removed its own error listener when it emitted 'upgrade'; a reset must not crash us.
  socket.on('error', () => undefined);
  rejectUpgrade(socket as Socket, status, message);
}
