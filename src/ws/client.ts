/**
 * The opening handshake of a `nopoll/ws` client. As in `ws`, the upgrade request goes through Node's
 * `http.request` / `https.request`, so every documented client option works: extra headers, `origin`, TLS
 * options, `agent`, `createConnection`, `ws+unix:` sockets, redirects with `'redirect'`, `'upgrade'` and
 * `'unexpected-response'` with Node's own request and response objects. The 101 answer is then checked by nopoll
 * (RFC 6455 §4.1, RFC 7692) and the socket becomes a nopoll connection.
 * @packageDocumentation
 */
import {
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type RequestOptions,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP, type NetConnectOpts, type Socket } from 'node:net';
import { unescape } from 'node:querystring';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Conn } from '../api/conn.js';
import type { ConnOptsInit } from '../api/conn-opts.js';
import { adoptUpgradedClient } from '../api/adopt-client.js';
import { Context } from '../api/context.js';
import { clientDeflateOffer } from '../api/deflate-options.js';
import { generateKey } from '../protocol/handshake/accept-key.js';
import { formatExtensions } from '../protocol/handshake/extension-header.js';
import { HeaderList, isToken } from '../protocol/handshake/headers.js';
import { wsResponseMessage } from './errors.js';
import { connOptions, type ClientOptions, type SocketSettings } from './options.js';
import type { WebSocket } from './websocket.js';

/** What the handshake needs from its socket object. */
export interface ClientHost {
  readonly ws: WebSocket;
  setUrl(url: string): void;
  /** The handshake completed: runs before any message of the connection is delivered. */
  opened(conn: Conn, settings: SocketSettings): void;
  /** The attempt failed: `'error'` then `'close'`. */
  failed(error: Error): void;
  /** `readyState` becomes CLOSING. */
  closing(): void;
}

/** A handshake in progress. */
export interface ClientAttempt {
  /** Gives up (`close()` or `terminate()` while connecting, a timeout): `'error'` with `message`, then `'close'`. */
  abort(message: string): void;
}

let sharedContext: Context | null = null;

/**
 * Starts the handshake. Throws what `ws` throws at once: `RangeError` for a `protocolVersion` other than 8 or 13,
 * `SyntaxError` for an invalid URL or subprotocol (and nopoll's `RangeError` / `TypeError` for an invalid option).
 */
export function startClient(
  host: ClientHost,
  address: string | URL,
  protocols: unknown[],
  options: ClientOptions,
): ClientAttempt {
  const version = options.protocolVersion ?? 13;
  if (version !== 8 && version !== 13)
    throw new RangeError(`Unsupported protocol version: ${version} (supported versions: 8, 13)`);
  const seen = new Set<string>();
  for (const p of protocols) {
    if (typeof p !== 'string' || !isToken(p) || seen.has(p))
      throw new SyntaxError('An invalid or duplicated subprotocol was specified');
    seen.add(p);
  }
  const attempt = new Attempt(host, [...seen], options, version);
  attempt.request(address);
  return attempt;
}

class Attempt implements ClientAttempt {
  readonly #host: ClientHost;
  readonly #protocols: string[];
  readonly #options: ClientOptions;
  readonly #version: number;
  readonly #ctx: Context;
  readonly #connOpts: ConnOptsInit;
  readonly #offer: string | null;
  #req: ClientRequest | null = null;
  #timer: NodeJS.Timeout | null = null;
  #done = false;
  #redirects = 0;
  // With followRedirects: the first URL's host, scheme and kind, and a lower-cased copy of the headers.
  #first: { host: string; secure: boolean; ipc: boolean } | null = null;
  #headers: Record<string, string>;

  constructor(host: ClientHost, protocols: string[], options: ClientOptions, version: number) {
    this.#host = host;
    this.#protocols = protocols;
    this.#options = options;
    this.#version = version;
    this.#ctx = options.nopoll?.context ?? (sharedContext ??= new Context());
    this.#connOpts = connOptions(options, 'client');
    const offer = clientDeflateOffer(this.#connOpts.perMessageDeflate);
    this.#offer = offer === null ? null : formatExtensions([offer.offer]);
    this.#headers = { ...options.headers };
    if (options.followRedirects === true) {
      this.#headers = {};
      for (const [name, value] of Object.entries(options.headers ?? {})) this.#headers[name.toLowerCase()] = value;
    }
  }

  /** Sends the upgrade request to `address` (again after a redirect). */
  request(address: string | URL): void {
    const first = this.#redirects === 0;
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      return this.#invalid(new SyntaxError(`Invalid URL: ${String(address)}`), first);
    }
    if (url.protocol === 'http:') url.protocol = 'ws:';
    else if (url.protocol === 'https:') url.protocol = 'wss:';
    this.#host.setUrl(url.href);
    const secure = url.protocol === 'wss:';
    const ipc = url.protocol === 'ws+unix:';
    let invalid: string | null = null;
    if (url.protocol !== 'ws:' && !secure && !ipc)
      invalid = 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"';
    else if (ipc && !url.pathname) invalid = "The URL's pathname is empty";
    else if (url.hash) invalid = 'The URL contains a fragment identifier';
    if (invalid !== null) return this.#invalid(new SyntaxError(invalid), first);

    const o = this.#options;
    const key = generateKey();
    const defaultPort = secure ? 443 : 80;
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    let path = url.pathname + url.search;
    let socketPath: string | undefined;
    if (ipc) {
      const colon = path.indexOf(':');
      socketPath = colon < 0 ? path : path.slice(0, colon);
      path = colon < 0 ? '/' : path.slice(colon + 1);
    }
    let auth = url.username || url.password ? `${unescape(url.username)}:${unescape(url.password)}` : undefined;
    const headers: OutgoingHttpHeaders = {
      ...this.#headers,
      'Sec-WebSocket-Version': this.#version,
      'Sec-WebSocket-Key': key,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
    };
    if (this.#offer !== null) headers['Sec-WebSocket-Extensions'] = this.#offer;
    if (this.#protocols.length > 0) headers['Sec-WebSocket-Protocol'] = this.#protocols.join(',');
    if (o.origin) headers[this.#version < 13 ? 'Sec-WebSocket-Origin' : 'Origin'] = o.origin;

    if (o.followRedirects === true) {
      const here = ipc ? (socketPath ?? '') : url.host;
      if (first) {
        this.#first = { host: here, secure, ipc };
      } else if (this.#host.ws.listenerCount('redirect') === 0) {
        // As curl does: credentials do not follow a redirect to another host, or from wss: to ws:.
        const start = this.#first!;
        const sameHost = start.ipc === ipc && start.host === here;
        if (!sameHost || (start.secure && !secure)) {
          delete headers.authorization;
          delete headers.cookie;
          if (!sameHost) delete headers.host;
          auth = undefined;
        }
      }
      // The first Authorization wins over credentials in a later URL.
      if (auth !== undefined && this.#headers.authorization === undefined) {
        this.#headers.authorization = headers.authorization = `Basic ${Buffer.from(auth).toString('base64')}`;
      }
    }

    const requestOptions: RequestOptions & ConnectionOptions = {
      ...(o as RequestOptions & ConnectionOptions),
      method: 'GET',
      host: hostname,
      hostname: undefined,
      port: Number(url.port) || defaultPort,
      defaultPort,
      path,
      socketPath,
      protocol: undefined,
      timeout: undefined,
      headers,
      auth,
      createConnection: (o.createConnection ??
        (secure ? connectTls : connectTcp)) as RequestOptions['createConnection'],
    };
    const req = (secure ? httpsRequest : httpRequest)(requestOptions);
    this.#req = req;
    if (!first) this.#host.ws.emit('redirect', url.href, req);
    this.#arm();
    req.on('error', (error) => {
      if (this.#req !== req) return;
      this.#req = null;
      this.#fail(error);
    });
    req.on('response', (res) => this.#response(req, res, url));
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#upgrade(req, res, socket, head, url, key, secure, path),
    );
    if (o.finishRequest) o.finishRequest(req, this.#host.ws);
    else req.end();
  }

  abort(message: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#disarm();
    this.#host.closing();
    const req = this.#req;
    this.#req = null;
    req?.destroy();
    req?.socket?.destroy();
    process.nextTick(() => this.#host.failed(new Error(message)));
  }

  // The first URL throws at once; a redirect's is reported as an error event.
  #invalid(error: SyntaxError, first: boolean): void {
    if (first) throw error;
    this.#fail(error);
  }

  #fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#disarm();
    this.#host.failed(error);
  }

  // The time allowed for the handshake, from each request (a redirect starts it again).
  #arm(): void {
    this.#disarm();
    const ms = this.#options.handshakeTimeout ?? this.#connOpts.connectTimeoutMs ?? this.#ctx.connectTimeoutMs;
    if (ms > 0) this.#timer = setTimeout(() => this.abort('Opening handshake has timed out'), ms);
  }

  #disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #response(req: ClientRequest, res: IncomingMessage, url: URL): void {
    if (this.#req !== req) return;
    const location = res.headers.location;
    const status = res.statusCode ?? 0;
    if (location !== undefined && this.#options.followRedirects === true && status >= 300 && status < 400) {
      if (++this.#redirects > (this.#options.maxRedirects ?? 10)) return this.abort('Maximum redirects exceeded');
      this.#req = null;
      req.destroy();
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return this.#fail(new SyntaxError(`Invalid URL: ${location}`));
      }
      this.request(next);
    } else if (!this.#host.ws.emit('unexpected-response', req, res)) {
      this.abort(`Unexpected server response: ${status}`);
    }
  }

  #upgrade(
    req: ClientRequest,
    res: IncomingMessage,
    socket: Socket,
    head: Buffer,
    url: URL,
    key: string,
    secure: boolean,
    path: string,
  ): void {
    this.#host.ws.emit('upgrade', res);
    // A listener of 'upgrade' may have closed the socket.
    if (this.#done || this.#req !== req) {
      socket.destroy();
      return;
    }
    this.#req = null;
    this.#done = true;
    this.#disarm();
    socket.setTimeout(0);
    socket.setNoDelay(true);
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
    const settings: SocketSettings = { allowSynchronousEvents: this.#options.allowSynchronousEvents !== false };
    const conn = adoptUpgradedClient(
      this.#ctx,
      {
        host: url.hostname,
        port: Number(url.port) || (secure ? 443 : 80),
        path,
        hostHeader: String(req.getHeader('host') ?? url.host),
        origin: this.#options.origin ?? null,
        protocols: this.#protocols,
        key,
        tls: secure,
        socket,
        response: {
          version: `HTTP/${res.httpVersion}`,
          status: res.statusCode ?? 0,
          reason: res.statusMessage ?? '',
          headers: new HeaderList(pairs),
        },
        rest: head,
      },
      this.#connOpts,
      (ready) => this.#host.opened(ready, settings),
    );
    if (conn.state === 'closed') {
      const cause = conn.closeInfo?.error ?? new Error('invalid handshake response');
      this.#host.closing();
      setImmediate(() => this.#host.failed(new Error(wsResponseMessage(cause, this.#offer !== null), { cause })));
    }
  }
}

function connectTcp(options: NetConnectOpts & { socketPath?: string }): Socket {
  return netConnect({ ...options, path: options.socketPath } as NetConnectOpts);
}

function connectTls(options: ConnectionOptions & { path?: string }): Socket {
  const given = options.servername;
  const servername =
    given || given === '' ? given : options.host !== undefined && isIP(options.host) === 0 ? options.host : '';
  return tlsConnect({ ...options, path: undefined, servername } as ConnectionOptions);
}
