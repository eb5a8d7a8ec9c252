/**
 * Client connections: noPoll's `nopoll_conn_new`, `_new6`, `_new_opts` and `_new_with_socket` as one call
 * (`Conn.connect`): the target and options are checked and resolved first ({@link planClient}), then the
 * connection is started on them ({@link startClient}).
 * @packageDocumentation
 */
import { isIP, type Socket } from 'node:net';
import { connectClient } from '../transport/client-connect.js';
import { HandshakeError } from '../errors.js';
import { formatExtensions } from '../protocol/handshake/extension-header.js';
import { PERMESSAGE_DEFLATE } from '../protocol/extensions/deflate-params.js';
import { clientDeflateOffer, clientDeflateSession } from './deflate-options.js';
import { startHttp2Client } from './http2-client.js';
import { checkHttp2Mode, type Http2Mode } from './http2-options.js';
import type { Conn } from './conn.js';
import { extraHeaderPairs, optsValues, sessionSettings, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
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

/** @internal A client connection resolved from its target and options, ready to start. */
export interface ClientPlan {
  host: string;
  port: number;
  maxFrameSize: number;
  secure: boolean;
  target: ConnectTarget;
  hostHeader: string;
  path: string;
  origin: string | null;
  protocols: string[];
  cookie: string | undefined;
  extraHeaders: Array<[string, string]>;
  tlsPlan: ReturnType<typeof prepareClientTls> | null;
  deflateOffer: ReturnType<typeof clientDeflateOffer>;
  /** The `Sec-WebSocket-Extensions` offer the request carries (from `deflateOffer`), if any. */
  offerHeader: string | undefined;
  timeoutMs: number;
  localAddress: string | undefined;
  settings: ReturnType<typeof sessionSettings>;
  /** HTTP/2 (RFC 8441): no, only, or preferred. */
  http2: Http2Mode;
  /** The TLS options object given (connections sharing an HTTP/2 connection must have given the same one). */
  tlsOptions: object | undefined;
}

/**
 * @internal Checks and resolves a client's target and options, before anything starts.
 * @throws TypeError or RangeError for an unusable URL or option; TlsError for unusable TLS material (a
 * certificate file that cannot be read, a key that does not match).
 */
export function planClient(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike): ClientPlan {
  const t = normalizeTarget(target);
  const o = optsValues(opts);
  const secure = t.tls === true;
  const defaultPort = secure ? 443 : 80;
  const port = Number(t.port ?? defaultPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`invalid port ${String(t.port)}`);
  const path = t.path ?? '/';
  if (!path.startsWith('/')) throw new TypeError(`the request path must start with "/": ${path}`);
  const name = t.hostName ?? t.host;
  const http2 = checkHttp2Mode(o.http2);
  // permessage-deflate is offered unless turned off (RFC 7692 §5); an invalid option throws here.
  const deflateOffer = clientDeflateOffer(o.perMessageDeflate);
  if (http2 !== false && t.socket !== undefined) throw new TypeError('http2 cannot run over a socket given by the caller (target.socket)');
  return {
    host: t.host,
    port,
    maxFrameSize: o.maxFrameSize ?? ctx.maxFrameSize,
    secure,
    target: t,
    hostHeader: (isIP(name) === 6 ? `[${name}]` : name) + (port === defaultPort ? '' : `:${port}`),
    path,
    origin: o.origin === false || o.origin === undefined ? null : o.origin,
    protocols: o.protocols ? [...o.protocols] : [],
    cookie: o.cookie,
    extraHeaders: extraHeaderPairs(o.extraHeaders),
    tlsPlan: secure ? prepareClientTls(ctx, o.tls, t.host) : null,
    deflateOffer,
    offerHeader: deflateOffer === null ? undefined : formatExtensions([deflateOffer.offer]),
    timeoutMs: o.connectTimeoutMs ?? ctx.connectTimeoutMs,
    localAddress: o.localAddress,
    settings: sessionSettings(o, ctx),
    http2,
    tlsOptions: o.tls,
  };
}

/**
 * @internal Starts the connection `conn` (made for `plan`): connect, TLS when asked, the opening handshake, then
 * the session. Failures end the connection with why. Over HTTP/2 when the plan asks for it (see http2-client.ts),
 * which comes back here to fall back to HTTP/1.1.
 */
export function startClient(conn: Conn, plan: ClientPlan): void {
  Object.assign(conn.handshake, {
    requestedUrl: plan.path,
    hostHeader: plan.hostHeader,
    origin: plan.origin,
    cookie: plan.cookie ?? null,
    requestedProtocols: plan.protocols,
  });
  if (plan.http2 === false) startHttp1Client(conn, plan);
  else startHttp2Client(conn, plan, startHttp1Client);
}

// The RFC 6455 upgrade over a connection of its own.
function startHttp1Client(conn: Conn, plan: ClientPlan): void {
  const ctx = conn.ctx;
  const { hostHeader, path, origin, protocols, deflateOffer } = plan;
  const tls = plan.tlsPlan?.bind(conn, plan.timeoutMs) ?? null;
  let pending: ReturnType<typeof connectClient>;
  try {
    pending = connectClient(
      {
        host: plan.host,
        port: plan.port,
        family: plan.target.ipv6 ? 6 : 0,
        localAddress: plan.localAddress,
        socket: plan.target.socket,
        upgrade: tls?.upgrade,
        request: {
          host: hostHeader,
          path,
          version: ctx.protocolVersion,
          origin,
          protocols,
          ...(plan.cookie !== undefined ? { cookie: plan.cookie } : {}),
          ...(plan.offerHeader !== undefined ? { extensions: plan.offerHeader } : {}),
          extraHeaders: plan.extraHeaders,
        },
        extensionsOffered: deflateOffer !== null ? [PERMESSAGE_DEFLATE] : [],
        timeoutMs: plan.timeoutMs,
        limits: { maxHeadBytes: ctx.maxHeadBytes, maxHeaderCount: ctx.maxHeaderCount },
      },
      (error, connected) => {
        if (error || !connected) {
          const failure = error ?? new Error('handshake failed');
          conn.fail(tls ? tls.explain(failure) : failure);
          return;
        }
        conn.handshake.headers = connected.result.headers;
        // RFC 7692 §5: a response that accepts permessage-deflate with invalid parameters fails the connection.
        const deflate = clientDeflateSession(deflateOffer, connected.result.extensions);
        if (!deflate.ok) {
          connected.socket.destroy();
          conn.fail(new HandshakeError(deflate.error, connected.response.status));
          return;
        }
        conn.start(connected.socket, connected.rest, { deflate: deflate.deflate, acceptedProtocol: connected.result.protocol, ...plan.settings });
      },
    );
  } catch (error) {
    // A bad option (extra header with CR/LF, invalid subprotocol...) is the caller's mistake: leave nothing behind.
    ctx.unregister(conn);
    throw error;
  }
  // A TLS step that ran at once (over a socket already connected) has attached its TLS socket already.
  if (conn.stream === null) conn.attach(pending.socket, plan.secure);
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
