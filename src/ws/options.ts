/**
 * The options of `nopoll/ws`, shaped as `ws` 8 documents them (doc/ws.md), and how each one maps onto nopoll's
 * own settings. Options nopoll has no use for are accepted and ignored; docs/ws-migration.md says why for each.
 * @packageDocumentation
 */
import type { Agent, ClientRequest, IncomingMessage, OutgoingHttpHeaders, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { createConnection } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { ZlibOptions } from 'node:zlib';
import type { ConnOptsInit } from '../api/conn-opts.js';
import type { Context } from '../api/context.js';
import type { PerMessageDeflateOptions as NopollDeflateOptions } from '../api/deflate-options.js';
import { MAX_FRAME_BYTES_LIMIT } from '../protocol/limits.js';
import type { WebSocket } from './websocket.js';

/** A received message: a Buffer, an ArrayBuffer or a list of Buffers, per `binaryType` (`ws`'s `RawData`). */
export type RawData = Buffer | ArrayBuffer | Buffer[];
/** What a message event may carry (`ws`'s `Data`). */
export type Data = string | Buffer | ArrayBuffer | Buffer[];
/** Certificate and key material (`ws`'s `CertMeta`). */
export type CertMeta = string | string[] | Buffer | Buffer[];

/** permessage-deflate settings as `ws` takes them (RFC 7692). */
export interface PerMessageDeflateOptions {
  serverNoContextTakeover?: boolean | undefined;
  clientNoContextTakeover?: boolean | undefined;
  serverMaxWindowBits?: number | undefined;
  clientMaxWindowBits?: number | boolean | undefined;
  /** `level` and `memLevel` are used; zlib's other tuning is nopoll's own (see docs/compression.md). */
  zlibDeflateOptions?: ZlibOptions | undefined;
  /** Ignored: nopoll inflates with its own limits. */
  zlibInflateOptions?: ZlibOptions | undefined;
  /** Messages smaller than this are sent uncompressed (default 1024). */
  threshold?: number | undefined;
  /** Ignored: nopoll's zlib concurrency is process-wide (`setDeflateConcurrency`). */
  concurrencyLimit?: number | undefined;
}

/** nopoll's own settings, reachable from `nopoll/ws` (a nopoll extension of `ws`'s options). */
export interface NopollOptions {
  /** The context the connections belong to (default: one per server, one shared by every client). */
  context?: Context | undefined;
  /** Connection options: heartbeat (`pingIntervalMs`, `pongTimeoutMs`), `idleTimeoutMs`, write limit, TLS... */
  opts?: ConnOptsInit | undefined;
}

/** The client's request, as `verifyClient` receives it. */
export interface VerifyClientInfo<Request extends IncomingMessage = IncomingMessage> {
  /** The `Origin` header (`Sec-WebSocket-Origin` for version 8), or undefined. */
  origin: string;
  /** Whether the request came over TLS. */
  secure: boolean;
  req: Request;
}

/** Decides synchronously whether to accept a handshake (`false`: 401). */
export type VerifyClientCallbackSync<Request extends IncomingMessage = IncomingMessage> = (
  info: VerifyClientInfo<Request>,
) => boolean;

/** Decides asynchronously; a refusal may choose the HTTP status, reason text and headers. */
export type VerifyClientCallbackAsync<Request extends IncomingMessage = IncomingMessage> = (
  info: VerifyClientInfo<Request>,
  callback: (result: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void,
) => void;

/** Called with the request before it is sent; it must call `request.end()`. */
export type FinishRequestCallback = (request: ClientRequest, websocket: WebSocket) => void;

/** Options of `new WebSocketServer(options)`. */
export interface ServerOptions<
  T extends typeof WebSocket = typeof WebSocket,
  U extends typeof IncomingMessage = typeof IncomingMessage,
> {
  /** Address to bind with `port`. */
  host?: string | undefined;
  /** Port of the HTTP server created and bound for you. One of `port`, `server` or `noServer`. */
  port?: number | undefined;
  /** TCP backlog of that server. */
  backlog?: number | undefined;
  /** An HTTP(S) server of yours whose upgrades this server handles. */
  server?: HttpServer<U> | HttpsServer<U> | undefined;
  /** No server: call `handleUpgrade` yourself. */
  noServer?: boolean | undefined;
  /** Accept only this path (query ignored); others get 400. */
  path?: string | undefined;
  /** Keep `clients` (default true). */
  clientTracking?: boolean | undefined;
  verifyClient?: VerifyClientCallbackAsync<InstanceType<U>> | VerifyClientCallbackSync<InstanceType<U>> | undefined;
  /** Chooses the subprotocol (`false`: none); default the client's first. */
  handleProtocols?: ((protocols: Set<string>, request: InstanceType<U>) => string | false) | undefined;
  /** Accept compression (default false). */
  perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
  /** Largest message accepted, in bytes (default nopoll's 16 MiB; 0: no limit). */
  maxPayload?: number | undefined;
  /** Time allowed for the closing handshake, ms (default nopoll's 5000). */
  closeTimeout?: number | undefined;
  /** `false`: one message, ping or pong event per event-loop turn (default true). */
  allowSynchronousEvents?: boolean | undefined;
  /** Ignored: nopoll always answers pings (RFC 6455 §5.5.2). */
  autoPong?: boolean | undefined;
  /** Ignored: nopoll always validates UTF-8, as it arrives (RFC 6455 §8.1). */
  skipUTF8Validation?: boolean | undefined;
  /** Ignored: nopoll's memory follows bytes, never chunk or fragment counts. */
  maxBufferedChunks?: number | undefined;
  /** Ignored (see `maxBufferedChunks`). */
  maxFragments?: number | undefined;
  /** Ignored: nopoll bounds unread pongs by bytes. */
  maxPendingAutoPongs?: number | undefined;
  /** The class of the server-side sockets; it must extend `WebSocket`. */
  WebSocket?: T | undefined;
  /** nopoll extension: the context and connection options used underneath. */
  nopoll?: NopollOptions | undefined;
}

/** Options of `new WebSocket(address, protocols, options)`; any `http.request` / `https.request` option also goes. */
export interface ClientOptions extends SecureContextOptions {
  protocol?: string | undefined;
  /** Follow 3xx redirects (default false), at most `maxRedirects` (default 10). */
  followRedirects?: boolean | undefined;
  maxRedirects?: number | undefined;
  /** Ignored: nopoll masks with its own random keys (RFC 6455 §5.3). */
  generateMask?(mask: Buffer): void;
  /** Time allowed for the opening handshake, ms (default nopoll's `connectTimeoutMs`, 20000). */
  handshakeTimeout?: number | undefined;
  /** Offer compression (default true). */
  perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
  localAddress?: string | undefined;
  /** `Sec-WebSocket-Version`: 13 (default) or 8. */
  protocolVersion?: number | undefined;
  /** Extra request headers. */
  headers?: { [key: string]: string } | undefined;
  /** `Origin` header (`Sec-WebSocket-Origin` with version 8). */
  origin?: string | undefined;
  agent?: Agent | undefined;
  host?: string | undefined;
  family?: number | undefined;
  checkServerIdentity?(servername: string, cert: CertMeta): boolean | Error | undefined;
  rejectUnauthorized?: boolean | undefined;
  servername?: string | undefined;
  /** See {@link ServerOptions.allowSynchronousEvents}. */
  allowSynchronousEvents?: boolean | undefined;
  /** See {@link ServerOptions.autoPong}. */
  autoPong?: boolean | undefined;
  /** See {@link ServerOptions.maxPayload}. */
  maxPayload?: number | undefined;
  /** See {@link ServerOptions.closeTimeout}. */
  closeTimeout?: number | undefined;
  maxBufferedChunks?: number | undefined;
  maxFragments?: number | undefined;
  maxPendingAutoPongs?: number | undefined;
  skipUTF8Validation?: boolean | undefined;
  /** Opens the connection (default `net.connect`, or `tls.connect` for `wss:`). */
  createConnection?: typeof createConnection | undefined;
  finishRequest?: FinishRequestCallback | undefined;
  /** nopoll extension: the context and connection options used underneath. */
  nopoll?: NopollOptions | undefined;
}

/**
 * `ws`'s permessage-deflate options as nopoll's. ws keeps the compression context between messages unless told not
 * to, so its options map to nopoll's `contextTakeover: true` (nopoll's own API compresses without context by
 * default): the same offer and the same answer on the wire as ws.
 * @throws TypeError for a value that is neither boolean nor object.
 */
export function deflateOption(
  value: boolean | PerMessageDeflateOptions | undefined,
): false | NopollDeflateOptions | undefined {
  if (value === undefined) return undefined;
  if (value === false) return false;
  if (value === true) return { contextTakeover: true };
  if (typeof value !== 'object' || value === null)
    throw new TypeError('perMessageDeflate must be a boolean or an object');
  const out: NopollDeflateOptions = { contextTakeover: true };
  if (value.serverNoContextTakeover !== undefined) out.serverNoContextTakeover = value.serverNoContextTakeover;
  if (value.clientNoContextTakeover !== undefined) out.clientNoContextTakeover = value.clientNoContextTakeover;
  if (value.serverMaxWindowBits !== undefined) out.serverMaxWindowBits = value.serverMaxWindowBits;
  if (value.clientMaxWindowBits !== undefined) out.clientMaxWindowBits = value.clientMaxWindowBits;
  if (value.threshold !== undefined) out.threshold = value.threshold;
  const zlib = value.zlibDeflateOptions;
  if (zlib?.level !== undefined) out.level = zlib.level;
  if (zlib?.memLevel !== undefined) out.memLevel = zlib.memLevel;
  return out;
}

/**
 * The nopoll connection options for a server or a client: `nopoll.opts` first, then what the `ws` options set
 * (`maxPayload` is both the frame and the message limit, 0 the largest nopoll allows; `closeTimeout`; compression).
 */
export function connOptions(
  o: {
    maxPayload?: number | undefined;
    closeTimeout?: number | undefined;
    perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
    nopoll?: NopollOptions | undefined;
  },
  side: 'client' | 'server',
): ConnOptsInit {
  const opts: ConnOptsInit = { ...o.nopoll?.opts };
  if (o.maxPayload !== undefined) {
    const limit = o.maxPayload > 0 ? o.maxPayload : Number.MAX_SAFE_INTEGER;
    opts.maxMessageSize = limit;
    opts.maxFrameSize = Math.min(limit, MAX_FRAME_BYTES_LIMIT);
  }
  if (o.closeTimeout !== undefined) opts.closeTimeoutMs = o.closeTimeout;
  const deflate = deflateOption(o.perMessageDeflate);
  if (deflate !== undefined) opts.perMessageDeflate = deflate;
  else if (opts.perMessageDeflate === undefined)
    opts.perMessageDeflate = side === 'client' ? { contextTakeover: true } : false;
  if (side === 'server') opts.protocols = []; // the server layer chooses the subprotocol itself
  return opts;
}

/** Options of `send`. */
export interface SendOptions {
  /** Binary or text; default: binary unless `data` is a string. */
  binary?: boolean | undefined;
  /** With compression agreed: `false` sends uncompressed, `true` compresses; default: by size (nopoll's threshold). */
  compress?: boolean | undefined;
  /** `false`: a fragment, more follow (default true). */
  fin?: boolean | undefined;
  /** Ignored: clients always mask and servers never do (RFC 6455 §5.1). */
  mask?: boolean | undefined;
}

/** Called once the data was written out, or with the error that prevented it. */
export type SendCallback = (err?: Error) => void;

/** @internal How a connection's events are delivered. */
export interface SocketSettings {
  allowSynchronousEvents: boolean;
}
