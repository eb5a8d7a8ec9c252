/**
 * `nopoll/ws`'s `WebSocketServer`: `ws` 8's server (doc/ws.md) over a detached nopoll {@link Listener}. Upgrade
 * requests are checked by nopoll (RFC 6455 §4.2.1), then by the `ws` hooks (`path` / `shouldHandle`,
 * `verifyClient`, `handleProtocols`, `'headers'`), then accepted by the listener, whose connections become this
 * server's `WebSocket`s. With `port`, an HTTP server is created that answers plain requests with 426, as `ws` does.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server as HttpServer,
} from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Conn } from '../api/conn.js';
import { Context } from '../api/context.js';
import { Listener } from '../api/listener.js';
import { acceptKeyFor } from '../protocol/handshake/accept-key.js';
import { checkExtraHeaders } from '../protocol/handshake/headers.js';
import { checkIncomingUpgrade } from '../transport/http-upgrade.js';
import { rejectUpgrade, type AcceptReply, type PendingUpgrade } from '../transport/server-accept.js';
import { wsRequestMessage } from './errors.js';
import { connOptions, type ServerOptions } from './options.js';
import { attachServerSocket, WebSocket } from './websocket.js';

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
// Sockets already handed to a server: `ws` refuses a second handleUpgrade on the same socket.
const upgraded = new WeakSet<object>();
// Headers the 101 answer sets itself (see buildAcceptResponse): lines a 'headers' listener adds may not repeat them.
const MANAGED = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

type EmitterListener = Parameters<EventEmitter['on']>[1];

/** A WebSocket server. See the module comment and docs/ws-migration.md. */
export class WebSocketServer<
  T extends typeof WebSocket = typeof WebSocket,
  U extends typeof IncomingMessage = typeof IncomingMessage,
> extends EventEmitter {
  /** The options, with their defaults. */
  readonly options: ServerOptions<T, U>;
  /** The open connections (absent with `clientTracking: false`). */
  declare clients: Set<InstanceType<T>>;
  readonly #ctx: Context;
  readonly #listener: Listener;
  #server: HttpServer | HttpsServer | null = null;
  #removeListeners: (() => void) | null = null;
  #state = RUNNING;
  #emitCloseWhenEmpty = false;

  /**
   * Exactly one of `port`, `server` and `noServer` must be given (else `TypeError`). `callback` listens for
   * `'listening'` of the server created with `port`.
   */
  constructor(options: ServerOptions<T, U>, callback?: () => void) {
    super();
    const o: ServerOptions<T, U> = {
      allowSynchronousEvents: true,
      autoPong: true,
      clientTracking: true,
      perMessageDeflate: false,
      noServer: false,
      WebSocket: WebSocket as T,
      ...options,
    };
    if (
      (o.port == null && !o.server && !o.noServer) ||
      (o.port != null && (o.server || o.noServer)) ||
      (o.server && o.noServer)
    ) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    this.#ctx = o.nopoll?.context ?? new Context();
    this.#listener = Listener.detached(this.#ctx, connOptions(o, 'server'));
    if (o.port != null) {
      // Requests that are not upgrades get 426 Upgrade Required, as from ws.
      const server = createServer((_req, res) => {
        const body = STATUS_CODES[426]!;
        res.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain' });
        res.end(body);
      });
      server.listen(
        {
          port: o.port,
          ...(o.host != null ? { host: o.host } : {}),
          ...(o.backlog != null ? { backlog: o.backlog } : {}),
        },
        callback,
      );
      this.#server = server;
    } else if (o.server) {
      this.#server = o.server;
    }
    const server = this.#server;
    if (server !== null) {
      const onListening = (): boolean => this.emit('listening');
      const onError = (error: Error): boolean => this.emit('error', error);
      const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void =>
        this.handleUpgrade(req as InstanceType<U>, socket, head, (ws, request) => this.emit('connection', ws, request));
      server.on('listening', onListening);
      server.on('error', onError);
      server.on('upgrade', onUpgrade);
      this.#removeListeners = () => {
        server.off('listening', onListening);
        server.off('error', onError);
        server.off('upgrade', onUpgrade);
      };
    }
    if (o.perMessageDeflate === true) o.perMessageDeflate = {};
    if (o.clientTracking) this.clients = new Set();
    this.options = o;
  }

  /** nopoll extension: the listener that accepts this server's connections. */
  get listener(): Listener {
    return this.#listener;
  }

  /** nopoll extension: the context of this server's connections (its `onError`, logging, `conns`...). */
  get context(): Context {
    return this.#ctx;
  }

  /** The bound address of the HTTP server; throws in `noServer` mode. */
  address(): AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    return this.#server?.address() ?? null;
  }

  /**
   * Stops accepting connections and closes the HTTP server made for `port`; open connections stay open. `'close'`
   * is emitted once they have all closed (`cb` receives an error when the server was already closed).
   */
  close(cb?: (err?: Error) => void): void {
    if (this.#state === CLOSED) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(() => this.#emitClose());
      return;
    }
    if (cb) this.once('close', cb);
    if (this.#state === CLOSING) return;
    this.#state = CLOSING;
    void this.#listener.close();
    const server = this.#server;
    this.#removeListeners?.();
    this.#removeListeners = null;
    this.#server = null;
    if (this.options.noServer || this.options.server) {
      if (this.clients && this.clients.size > 0) this.#emitCloseWhenEmpty = true;
      else process.nextTick(() => this.#emitClose());
    } else {
      server!.close(() => this.#emitClose());
    }
  }

  #emitClose(): void {
    this.#state = CLOSED;
    this.emit('close');
  }

  /** Whether this server takes the request: by default, whether its path (query left out) is `options.path`. */
  shouldHandle(request: InstanceType<U>): boolean {
    const path = this.options.path;
    if (!path) return true;
    const url = request.url ?? '';
    const query = url.indexOf('?');
    return (query < 0 ? url : url.slice(0, query)) === path;
  }

  /**
   * Completes an upgrade (`server.on('upgrade', ...)` in `noServer` mode): the request is checked, then `path`,
   * `verifyClient` and `handleProtocols` decide; `callback` gets the socket once the handshake is done.
   */
  handleUpgrade(
    request: InstanceType<U>,
    socket: Duplex,
    head: Buffer,
    callback: (client: InstanceType<T>, request: InstanceType<U>) => void,
  ): void {
    socket.on('error', destroyOnError);
    const checked = checkIncomingUpgrade(request, head, {
      policy: { version: this.#ctx.protocolVersion, requireOrigin: this.#listener.opts.requireOrigin ?? false },
      maxHeaderCount: this.#ctx.maxHeaderCount,
    });
    if (!checked.ok)
      return this.#clientError(
        request,
        socket,
        checked.status,
        wsRequestMessage(checked.message, checked.status),
        checked.headers,
      );
    if (!this.shouldHandle(request)) return refuse(socket, 400);
    const verify = this.options.verifyClient;
    if (verify) {
      const encrypted = request.socket as Partial<TLSSocket>;
      const info = {
        origin: request.headers.origin as string,
        secure: Boolean(encrypted.authorized || encrypted.encrypted),
        req: request,
      };
      try {
        if (verify.length === 2) {
          verify(info, (result, code, message, headers) => {
            if (!result) return refuse(socket, code || 401, message, headers);
            this.#complete(request, socket, checked.upgrade, callback);
          });
          return;
        }
        if (!(verify as (i: typeof info) => boolean)(info)) return refuse(socket, 401);
      } catch (error) {
        this.#ctx.handlerError(error, null);
        return refuse(socket, 500);
      }
    }
    this.#complete(request, socket, checked.upgrade, callback);
  }

  // Refuses a request nopoll's check failed, or hands it to 'wsClientError' listeners, who then answer it.
  #clientError(
    req: InstanceType<U>,
    socket: Duplex,
    status: number,
    message: string,
    headers: Array<[string, string]>,
  ): void {
    if (this.listenerCount('wsClientError') > 0) this.emit('wsClientError', new Error(message), socket, req);
    else refuse(socket, status, message, Object.fromEntries(headers));
  }

  #complete(
    req: InstanceType<U>,
    socket: Duplex,
    upgrade: PendingUpgrade,
    callback: (client: InstanceType<T>, request: InstanceType<U>) => void,
  ): void {
    // The client may have gone (or half-closed) while verifyClient decided.
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    if (upgraded.has(socket)) {
      throw new Error(
        'server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration',
      );
    }
    if (this.#state > RUNNING) return refuse(socket, 503);
    let protocol: string | null = null;
    const offered = upgrade.request.protocols;
    if (offered.length > 0) {
      try {
        const chosen = this.options.handleProtocols ? this.options.handleProtocols(new Set(offered), req) : offered[0]!;
        if (chosen) protocol = String(chosen);
      } catch (error) {
        this.#ctx.handlerError(error, null);
        return refuse(socket, 500);
      }
    }
    socket.removeListener('error', destroyOnError);
    upgraded.add(socket);
    const key = upgrade.request.key!; // an HTTP/1.1 upgrade always has its key (only HTTP/2 has none)
    this.#listener.acceptCheckedUpgrade(socket, upgrade, {
      protocol,
      onReply: this.listenerCount('headers') > 0 ? (reply) => this.#headers(reply, key, req) : undefined,
      onReady: (conn) => this.#connected(conn, req, callback),
    });
  }

  // 'headers': listeners see the 101's lines and may add some; lines that are not valid headers are dropped.
  #headers(reply: AcceptReply, key: string, req: InstanceType<U>): void {
    const lines = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${acceptKeyFor(key)}`,
    ];
    if (reply.protocol !== null) lines.push(`Sec-WebSocket-Protocol: ${reply.protocol}`);
    if (reply.extensions) lines.push(`Sec-WebSocket-Extensions: ${reply.extensions}`);
    const fixed = lines.length;
    try {
      this.emit('headers', lines, req);
    } catch (error) {
      this.#ctx.handlerError(error, null);
    }
    const extra: Array<[string, string]> = [];
    for (const line of lines.slice(fixed)) {
      const text = String(line);
      const colon = text.indexOf(':');
      if (colon <= 0) continue;
      try {
        extra.push(...checkExtraHeaders([[text.slice(0, colon).trim(), text.slice(colon + 1).trim()]], MANAGED));
      } catch {
        /* not a valid header line: dropped rather than written raw */
      }
    }
    if (extra.length > 0) reply.headers = extra;
  }

  #connected(
    conn: Conn,
    req: InstanceType<U>,
    callback: (client: InstanceType<T>, request: InstanceType<U>) => void,
  ): void {
    const Ctor = this.options.WebSocket as unknown as new (
      address: null,
      protocols: undefined,
      options: object,
    ) => InstanceType<T>;
    const ws = new Ctor(null, undefined, this.options);
    attachServerSocket(ws, conn, { allowSynchronousEvents: this.options.allowSynchronousEvents !== false });
    const clients = this.clients as Set<InstanceType<T>> | undefined;
    if (clients !== undefined) {
      clients.add(ws);
      ws.on('close', () => {
        clients.delete(ws);
        if (this.#emitCloseWhenEmpty && clients.size === 0) process.nextTick(() => this.#emitClose());
      });
    }
    callback(ws, req);
  }
}

/** The events of `WebSocketServer`, with their arguments (as in `@types/ws`). */
export interface WebSocketServer<
  T extends typeof WebSocket = typeof WebSocket,
  U extends typeof IncomingMessage = typeof IncomingMessage,
> {
  on(
    event: 'connection',
    listener: (this: WebSocketServer<T, U>, websocket: InstanceType<T>, request: InstanceType<U>) => void,
  ): this;
  on(event: 'error', listener: (this: WebSocketServer<T, U>, error: Error) => void): this;
  on(
    event: 'headers',
    listener: (this: WebSocketServer<T, U>, headers: string[], request: InstanceType<U>) => void,
  ): this;
  on(event: 'close' | 'listening', listener: (this: WebSocketServer<T, U>) => void): this;
  on(
    event: 'wsClientError',
    listener: (this: WebSocketServer<T, U>, error: Error, socket: Duplex, request: InstanceType<U>) => void,
  ): this;
  on(event: string | symbol, listener: EmitterListener): this;
  once(
    event: 'connection',
    listener: (this: WebSocketServer<T, U>, websocket: InstanceType<T>, request: InstanceType<U>) => void,
  ): this;
  once(event: 'error', listener: (this: WebSocketServer<T, U>, error: Error) => void): this;
  once(
    event: 'headers',
    listener: (this: WebSocketServer<T, U>, headers: string[], request: InstanceType<U>) => void,
  ): this;
  once(event: 'close' | 'listening', listener: (this: WebSocketServer<T, U>) => void): this;
  once(
    event: 'wsClientError',
    listener: (this: WebSocketServer<T, U>, error: Error, socket: Duplex, request: InstanceType<U>) => void,
  ): this;
  once(event: string | symbol, listener: EmitterListener): this;
  off(
    event: 'connection',
    listener: (this: WebSocketServer<T, U>, websocket: InstanceType<T>, request: InstanceType<U>) => void,
  ): this;
  off(event: string | symbol, listener: EmitterListener): this;
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

// Answers an HTTP error and closes, with the status's reason phrase as the default text (ws's abortHandshake).
function refuse(socket: Duplex, status: number, message?: string, headers?: OutgoingHttpHeaders): void {
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) pairs.push([name, String(v)]);
  }
  const code = Number.isInteger(status) && status >= 300 && status <= 599 ? status : 500;
  const text = message || STATUS_CODES[code] || 'Error';
  try {
    rejectUpgrade(socket as Socket, code, text, pairs);
  } catch {
    rejectUpgrade(socket as Socket, code, text); // headers that cannot be written are left out
  }
}
