/**
 * Client connections: noPoll's `nopoll_conn_new`, `_new6`, `_new_opts` and `_new_with_socket` as one call.
 * @packageDocumentation
 */
import { isIP, type Socket } from 'node:net';
import { connectClient, type ClientConnected } from '../transport/client-connect.js';
import { HandshakeError } from '../errors.js';
import { checkServerResponse } from '../protocol/handshake/client-handshake.js';
import { formatExtensions } from '../protocol/handshake/extension-header.js';
import type { ResponseHead } from '../protocol/handshake/http-head-parser.js';
import { PERMESSAGE_DEFLATE } from '../protocol/extensions/deflate-params.js';
import { clientDeflateOffer, clientDeflateSession } from './deflate-options.js';
import { Conn } from './conn.js';
import { extraHeaderPairs, optsValues, sessionSettings, type ConnOptsInit, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import type { OnReadyHandler } from './handlers.js';
import { prepareClientTls } from './tls.js';

/** Where a client connects. */
export interface ConnectTarget {
  /** Host name or address. */
  host: string;
  /** Port (default 80, 443 with `tls`). */
  port?: number | string;
  /** Request target: path and query (default "/"). */
  path?: string;
  /** Connect over IPv6 (noPoll's `*6` variants); by default the resolver picks. */
  ipv6?: boolean;
  /** Host header name, when it differs from `host` (noPoll's host_name); the port is appended when not 80. */
  hostName?: string;
  /** A socket the caller already connected (`nopoll_conn_new_with_socket`; with `tls`, `nopoll_conn_tls_new_with_socket`). */
  socket?: Socket;
  /** Connect with TLS, as a `wss://` URL does (noPoll's `nopoll_conn_tls_new`); settings come from the `tls` option. */
  tls?: boolean;
}

/**
 * Starts a client connection and returns it at once, as noPoll does; `await conn.waitUntilReady()` for the
 * handshake. Accepts a `ws://` or `wss://` URL or a {@link ConnectTarget}.
 * @throws TypeError or RangeError for an unusable URL or option; TlsError for unusable TLS material (a certificate
 * file that cannot be read, a key that does not match).
 */
export function connect(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike): Conn {
  const t = normalizeTarget(target);
  const o = optsValues(opts);
  const secure = t.tls === true;
  const defaultPort = secure ? 443 : 80;
  const port = Number(t.port ?? defaultPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`invalid port ${String(t.port)}`);
  const path = t.path ?? '/';
  if (!path.startsWith('/')) throw new TypeError(`the request path must start with "/": ${path}`);
  const name = t.hostName ?? t.host;
  const hostHeader = (isIP(name) === 6 ? `[${name}]` : name) + (port === defaultPort ? '' : `:${port}`);
  const origin = o.origin === false || o.origin === undefined ? null : o.origin;
  const protocols = o.protocols ? [...o.protocols] : [];
  const extraHeaders = extraHeaderPairs(o.extraHeaders);
  const tlsPlan = secure ? prepareClientTls(ctx, o.tls, t.host) : null;
  // permessage-deflate is offered unless turned off (RFC 7692 §5); an invalid option throws here, before anything starts.
  const deflateOffer = clientDeflateOffer(o.perMessageDeflate);
  const conn = new Conn(ctx, 'client', null, t.host, port, o.maxFrameSize ?? ctx.maxFrameSize);
  Object.assign(conn.handshake, {
    requestedUrl: path,
    hostHeader,
    origin,
    cookie: o.cookie ?? null,
    requestedProtocols: protocols,
  });
  let pending: ReturnType<typeof connectClient>;
  const timeoutMs = o.connectTimeoutMs ?? ctx.connectTimeoutMs;
  const tls = tlsPlan?.bind(conn, timeoutMs) ?? null;
  try {
    pending = connectClient(
    {
      host: t.host,
      port,
      family: t.ipv6 ? 6 : 0,
      localAddress: o.localAddress,
      socket: t.socket,
      upgrade: tls?.upgrade,
      request: {
        host: hostHeader,
        path,
        version: ctx.protocolVersion,
        origin,
        protocols,
        ...(o.cookie !== undefined ? { cookie: o.cookie } : {}),
        ...(deflateOffer !== null ? { extensions: formatExtensions([deflateOffer.offer]) } : {}),
        extraHeaders,
      },
      extensionsOffered: deflateOffer !== null ? [PERMESSAGE_DEFLATE] : [],
      timeoutMs,
      limits: { maxHeadBytes: ctx.maxHeadBytes, maxHeaderCount: ctx.maxHeaderCount },
    },
    (error, connected) => {
      if (error || !connected) {
        const failure = error ?? new Error('handshake failed');
        conn.fail(tls ? tls.explain(failure) : failure);
        return;
      }
      startClientSession(conn, connected, deflateOffer, o, ctx);
    },
  );
  } catch (error) {
    // A bad option (extra header with CR/LF, invalid subprotocol...) is the caller's mistake: leave nothing behind.
    ctx.unregister(conn);
    throw error;
  }
  // A TLS step that ran at once (over a socket already connected) has attached its TLS socket already.
  if (conn.socket === null) conn.attachSocket(pending.socket, secure);
  return conn;
}

// The server's 101 was checked: record its headers, check the compression it agreed to, start the session.
function startClientSession(
  conn: Conn,
  connected: Omit<ClientConnected, 'response'> & { response: { status: number } },
  deflateOffer: ReturnType<typeof clientDeflateOffer>,
  o: ConnOptsInit,
  ctx: Context,
): void {
  conn.handshake.headers = connected.result.headers;
  // RFC 7692 §5: a response that accepts permessage-deflate with invalid parameters fails the connection.
  const deflate = clientDeflateSession(deflateOffer, connected.result.extensions);
  if (!deflate.ok) {
    connected.socket.destroy();
    conn.fail(new HandshakeError(deflate.error, connected.response.status));
    return;
  }
  conn.startSession(connected.socket, connected.rest, {
    deflate: deflate.deflate,
    acceptedProtocol: connected.result.protocol,
    ...sessionSettings(o, ctx),
  });
}

/** @internal A client handshake another HTTP client ran (see {@link adoptUpgradedClient}). */
export interface UpgradedClient {
  /** Host and port connected to, path and `Host` value sent. */
  host: string;
  port: number;
  path: string;
  hostHeader: string;
  origin: string | null;
  /** Subprotocols offered, and the `Sec-WebSocket-Key` sent. */
  protocols: string[];
  key: string;
  /** Whether the socket is TLS. */
  tls: boolean;
  /** The socket after the response head, the response head, and the bytes that followed it. */
  socket: Socket;
  response: ResponseHead;
  rest: Buffer;
}

/**
 * @internal For `nopoll/ws`, whose client runs the HTTP upgrade with Node's `http.request`: a client connection on
 * the upgraded socket. The response is checked here as `connect` checks it (RFC 6455 §4.1, RFC 7692 §5), with the
 * compression offer that `clientDeflateOffer(opts.perMessageDeflate)` made; a failure fails the connection (see
 * `conn.closeInfo.error`). `onReady` becomes the connection's handler, so it runs before any message is delivered.
 * Returns the connection, open or failed.
 */
export function adoptUpgradedClient(ctx: Context, h: UpgradedClient, opts?: ConnOptsLike, onReady?: OnReadyHandler): Conn {
  const o = optsValues(opts);
  const deflateOffer = clientDeflateOffer(o.perMessageDeflate);
  const conn = new Conn(ctx, 'client', null, h.host, h.port, o.maxFrameSize ?? ctx.maxFrameSize);
  if (onReady !== undefined) conn.onReady = onReady;
  Object.assign(conn.handshake, {
    requestedUrl: h.path,
    hostHeader: h.hostHeader,
    origin: h.origin,
    requestedProtocols: h.protocols,
  });
  conn.attachSocket(h.socket, h.tls);
  const checked = checkServerResponse(h.response, h.key, {
    protocols: h.protocols,
    extensionsOffered: deflateOffer !== null ? [PERMESSAGE_DEFLATE] : [],
  });
  if (!checked.ok) conn.fail(checked.error);
  else startClientSession(conn, { socket: h.socket, result: checked.result, response: h.response, rest: h.rest }, deflateOffer, o, ctx);
  return conn;
}

function normalizeTarget(target: string | URL | ConnectTarget): ConnectTarget {
  if (typeof target !== 'string' && !(target instanceof URL)) return target;
  const url = typeof target === 'string' ? new URL(target) : target;
  const tls = url.protocol === 'wss:' || url.protocol === 'https:';
  if (!tls && url.protocol !== 'ws:' && url.protocol !== 'http:') throw new TypeError(`unsupported URL scheme ${url.protocol}`);
  if (url.hash) throw new TypeError('a WebSocket URL has no fragment (RFC 6455 §3)');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port ? Number(url.port) : tls ? 443 : 80, path: (url.pathname || '/') + url.search, tls };
}
