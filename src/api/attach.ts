/**
 * WebSocket endpoints on an existing `http.Server` / `https.Server` (and so on Express, Fastify, Koa, which run on
 * one): upgrade requests are routed by path to listeners, everything else stays plain HTTP. Each endpoint is a
 * {@link Listener} without a socket of its own, with its own options and, through its context, its own handlers;
 * its connections can also be taken with `listener.accept()`.
 * @packageDocumentation
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
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
  /**
   * An upgrade request for which there is no endpoint: `'reject'` (default) answers 404 and closes the
   * connection; `'ignore'` leaves it untouched for the server's other `'upgrade'` listeners, one of which must
   * then answer it (Node leaves an upgrade nobody answers open).
   */
  unknownPath?: 'reject' | 'ignore';
}

type UpgradeServer = HttpServer | HttpsServer;
type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Routes upgrade requests by path to WebSocket endpoints. See the module comment. */
export class UpgradeRouter {
  readonly #endpoints = new Map<string, Listener>();
  readonly #owned = new Set<Listener>();
  readonly #servers = new Map<UpgradeServer, UpgradeListener>();
  readonly #route: UpgradeRouterOptions['route'];
  readonly #unknownPath: 'reject' | 'ignore';

  constructor(options: UpgradeRouterOptions = {}) {
    this.#route = options.route;
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

  /** Starts routing the `'upgrade'` events of `server`. Plain requests are not touched. */
  attach(server: UpgradeServer): this {
    if (this.#servers.has(server)) return this;
    const onUpgrade: UpgradeListener = (req, socket, head) => {
      this.handleUpgrade(req, socket, head);
    };
    this.#servers.set(server, onUpgrade);
    server.on('upgrade', onUpgrade);
    return this;
  }

  /** Stops routing the upgrades of `server` (of every server when omitted). Open connections are not touched. */
  detach(server?: UpgradeServer): void {
    for (const [s, onUpgrade] of [...this.#servers]) {
      if (server !== undefined && s !== server) continue;
      s.off('upgrade', onUpgrade);
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

function refuse(socket: Duplex, status: number, message: string): void {
  // Node's HTTP server removed its own error listener when it emitted 'upgrade'; a reset must not crash us.
  socket.on('error', () => undefined);
  rejectUpgrade(socket as Socket, status, message);
}
