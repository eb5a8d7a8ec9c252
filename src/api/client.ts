/**
 * Client connections: noPoll's `nopoll_conn_new`, `_new6`, `_new_opts` and `_new_with_socket` as one call
 * (`Conn.connect`): the target and options are checked and resolved first ({@link planClient}), then the
 * connection is started on them ({@link startClient}). Around the handshake, what production clients need
 * (docs/client.md): unix sockets, proxies (`proxy.ts`), redirects (`redirect.ts`).
 * @packageDocumentation
 */
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connectClient } from '../transport/client-connect.js';
import { HandshakeError } from '../errors.js';
import type { ClientHandshakeResult } from '../protocol/handshake/client-handshake.js';
import { formatExtensions } from '../protocol/handshake/extension-header.js';
import { PERMESSAGE_DEFLATE } from '../protocol/extensions/deflate-params.js';
import { clientDeflateOffer, clientDeflateSession } from './deflate-options.js';
import { startHttp2Client } from './http2-client.js';
import { checkHttp2Mode, type Http2Mode } from './http2-options.js';
import type { Conn } from './conn.js';
import { extraHeaderPairs, optsValues, sessionSettings, type ConnOptsInit, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import { chooseProxy, proxyTunnel, type ProxyTunnel } from './proxy.js';
import {
  CREDENTIAL_HEADERS,
  DEFAULT_MAX_REDIRECTS,
  nextRedirect,
  originOf,
  parseEndpoint,
  type Endpoint,
  type RedirectPolicy,
} from './redirect.js';
import { prepareClientTls } from './client-tls.js';

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
  /**
   * Connect to this unix domain socket instead of `host`:`port` (what a `ws+unix:` URL says); `host` then only
   * names the Host header (and the name TLS checks, unless `tls.serverName` is set).
   */
  socketPath?: string;
}

// What one handshake attempt goes to; a redirect makes the next one.
interface Attempt {
  endpoint: Endpoint;
  hostName: string | undefined;
  ipv6: boolean;
  socket: Socket | undefined;
  cookie: string | undefined;
  extraHeaders: Array<[string, string]>;
  redirects: number;
}

/** @internal A client connection resolved from its target and options, ready to start. */
export interface ClientPlan {
  host: string;
  port: number;
  maxFrameSize: number;
  secure: boolean;
  attempt: Attempt;
  hostHeader: string;
  origin: string | null;
  protocols: string[];
  extraHeaders: Array<[string, string]>;
  tlsPlan: ReturnType<typeof prepareClientTls> | null;
  proxy: ProxyTunnel | null;
  deflateOffer: ReturnType<typeof clientDeflateOffer>;
  /** The `Sec-WebSocket-Extensions` offer the request carries (from `deflateOffer`), if any. */
  offerHeader: string | undefined;
  timeoutMs: number;
  options: ConnOptsInit;
  redirect: RedirectPolicy;
  settings: ReturnType<typeof sessionSettings>;
  /** HTTP/2 (RFC 8441): no, only, or preferred. */
  http2: Http2Mode;
  /** The TLS options object given (connections sharing an HTTP/2 connection must have given the same one). */
  tlsOptions: object | undefined;
  /** The request target and Cookie of this attempt; where to connect from, and whether over IPv6. */
  path: string;
  cookie: string | undefined;
  localAddress: string | undefined;
  ipv6: boolean;
}

/**
 * @internal Checks and resolves a client's target and options, before anything starts.
 * @throws TypeError or RangeError for an unusable URL or option; TlsError for unusable TLS material (a
 * certificate file that cannot be read, a key that does not match).
 */
export function planClient(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike): ClientPlan {
  const o = optsValues(opts);
  return planAttempt(ctx, o, firstAttempt(target, o), {
    follow: o.followRedirects === true,
    max: o.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
    allowInsecure: o.allowInsecureRedirect === true,
  });
}

// Resolves one attempt: Host header, credentials, TLS, compression offer, proxy. Throws for unusable options.
function planAttempt(ctx: Context, o: ConnOptsInit, attempt: Attempt, redirect: RedirectPolicy): ClientPlan {
  const { endpoint } = attempt;
  const { secure, port, path } = endpoint;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`invalid port ${String(port)}`);
  if (!path.startsWith('/')) throw new TypeError(`the request path must start with "/": ${path}`);
  const name = attempt.hostName ?? endpoint.host;
  const extraHeaders = [...attempt.extraHeaders];
  if (endpoint.authorization !== undefined && !extraHeaders.some(([k]) => k.toLowerCase() === 'authorization')) {
    extraHeaders.push(['Authorization', endpoint.authorization]);
  }
  const timeoutMs = o.connectTimeoutMs ?? ctx.connectTimeoutMs;
  // A caller's socket or a unix socket is used as is; otherwise a proxy may carry the connection.
  const proxyPlan =
    attempt.socket !== undefined || endpoint.socketPath !== undefined
      ? null
      : chooseProxy(o.proxy, o.proxyEnv, endpoint);
  const limits = { maxHeadBytes: ctx.maxHeadBytes, maxHeaderCount: ctx.maxHeaderCount };
  let http2 = checkHttp2Mode(o.http2);
  // HTTP/2 opens its own TCP (or TLS) connection to the origin: not over a caller's socket, a unix socket or a proxy's
  // tunnel. 'auto' then simply uses HTTP/1.1.
  const ownConnection = attempt.socket === undefined && endpoint.socketPath === undefined && proxyPlan === null;
  if (!ownConnection) {
    if (http2 === true)
      throw new TypeError('http2 needs a connection of its own (not target.socket, a unix socket or a proxy)');
    http2 = false;
  }
  // permessage-deflate is offered unless turned off (RFC 7692 §5); an invalid option throws here.
  const deflateOffer = clientDeflateOffer(o.perMessageDeflate);
  return {
    host: endpoint.host,
    port,
    maxFrameSize: o.maxFrameSize ?? ctx.maxFrameSize,
    secure,
    attempt,
    hostHeader: (isIP(name) === 6 ? `[${name}]` : name) + (port === (secure ? 443 : 80) ? '' : `:${port}`),
    origin: o.origin === false || o.origin === undefined ? null : o.origin,
    protocols: o.protocols ? [...o.protocols] : [],
    path,
    cookie: attempt.cookie,
    extraHeaders,
    tlsPlan: secure ? prepareClientTls(ctx, o.tls, endpoint.host) : null,
    proxy:
      proxyPlan === null
        ? null
        : proxyTunnel(proxyPlan, { host: endpoint.host, port, family: attempt.ipv6 ? 6 : 0 }, limits, timeoutMs),
    deflateOffer,
    offerHeader: deflateOffer === null ? undefined : formatExtensions([deflateOffer.offer]),
    timeoutMs,
    localAddress: o.localAddress,
    ipv6: attempt.ipv6 === true,
    options: o,
    redirect,
    settings: sessionSettings(o, ctx),
    http2,
    tlsOptions: o.tls,
  };
}

/**
 * @internal Starts the connection `conn` (made for `plan`): connect (through a proxy's tunnel when one applies), TLS
 * when asked, the opening handshake, then the session; a redirect to follow starts it again at the new place.
 * Failures end the connection with why. Over HTTP/2 when the plan asks for it (see http2-client.ts), which comes
 * back here to fall back to HTTP/1.1.
 */
export function startClient(conn: Conn, plan: ClientPlan): void {
  conn.host = plan.host;
  conn.port = plan.port;
  conn.recordHandshake({
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
  const { attempt, hostHeader, origin, protocols, deflateOffer, proxy } = plan;
  const { endpoint } = attempt;
  const tls = plan.tlsPlan?.bind(conn, plan.timeoutMs) ?? null;
  const tlsUpgrade = tls?.upgrade;
  // Through a proxy: its tunnel first, then the server's TLS inside it (verified end to end).
  const upgrade =
    proxy === null
      ? tlsUpgrade
      : (socket: Socket, done: (error: Error | null, upgraded?: Socket) => void): void =>
          proxy.step(socket, (error, tunnel) =>
            error || !tunnel || !tlsUpgrade ? done(error, tunnel) : tlsUpgrade(tunnel, done),
          );
  let pending: ReturnType<typeof connectClient>;
  try {
    pending = connectClient(
      {
        host: proxy?.host ?? endpoint.host,
        port: proxy?.port ?? endpoint.port,
        family: proxy === null && attempt.ipv6 ? 6 : 0,
        path: endpoint.socketPath,
        localAddress: plan.options.localAddress,
        socket: attempt.socket,
        upgrade,
        request: {
          host: hostHeader,
          path: endpoint.path,
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
      (error, connected, response) => {
        if (error || !connected) {
          let failure = error ?? new Error('handshake failed');
          if (tls) failure = tls.explain(failure);
          if (proxy) failure = proxy.explain(failure);
          const redirect =
            attempt.socket === undefined ? nextRedirect(endpoint, response, plan.redirect, attempt.redirects) : null;
          if (redirect === null) return conn.fail(failure);
          if ('error' in redirect) return conn.fail(redirect.error);
          try {
            startClient(conn, planAttempt(ctx, plan.options, redirected(attempt, redirect.next), plan.redirect));
          } catch (refused) {
            conn.fail(refused as Error);
          }
          return;
        }
        startClientSession(conn, connected, deflateOffer, plan.settings);
      },
    );
  } catch (error) {
    // A bad option (extra header with CR/LF, invalid subprotocol...) is the caller's mistake: leave nothing behind.
    ctx.unregister(conn);
    throw error;
  }
  // A TLS step that ran at once (over a socket already connected) has attached its TLS socket already; after a
  // redirect, the new attempt's socket replaces the last one.
  if (attempt.redirects > 0 || conn.stream === null) conn.attach(pending.socket, plan.secure);
}

// The first attempt, from the target and options as given.
/**
 * @internal The server's 101 was checked: record its headers, check the compression it agreed to (RFC 7692 §5: a
 * response that accepts permessage-deflate with invalid parameters fails the connection), start the session.
 */
export function startClientSession(
  conn: Conn,
  connected: { socket: Duplex; result: ClientHandshakeResult; response: { status: number }; rest: Buffer },
  deflateOffer: ReturnType<typeof clientDeflateOffer>,
  settings: ReturnType<typeof sessionSettings>,
): void {
  conn.recordHandshake({ headers: connected.result.headers });
  const deflate = clientDeflateSession(deflateOffer, connected.result.extensions);
  if (!deflate.ok) {
    connected.socket.destroy();
    conn.fail(new HandshakeError(deflate.error, connected.response.status));
    return;
  }
  conn.start(connected.socket, connected.rest, {
    deflate: deflate.deflate,
    acceptedProtocol: connected.result.protocol,
    ...settings,
  });
}

function firstAttempt(target: string | URL | ConnectTarget, o: ConnOptsInit): Attempt {
  const base = { cookie: o.cookie, extraHeaders: extraHeaderPairs(o.extraHeaders), redirects: 0 };
  if (typeof target === 'string' || target instanceof URL) {
    const endpoint = parseEndpoint(typeof target === 'string' ? new URL(target) : target);
    return { endpoint, hostName: undefined, ipv6: false, socket: undefined, ...base };
  }
  const secure = target.tls === true;
  const endpoint: Endpoint = {
    secure,
    host: target.host,
    port: Number(target.port ?? (secure ? 443 : 80)),
    socketPath: target.socketPath,
    path: target.path ?? '/',
    authorization: undefined,
  };
  return { endpoint, hostName: target.hostName, ipv6: target.ipv6 === true, socket: target.socket, ...base };
}

// The attempt after a redirect: a new endpoint; credentials dropped when it leaves the origin.
function redirected(previous: Attempt, next: Endpoint): Attempt {
  const sameOrigin = originOf(previous.endpoint) === originOf(next);
  return {
    endpoint: sameOrigin ? { ...next, authorization: next.authorization ?? previous.endpoint.authorization } : next,
    hostName: sameOrigin ? previous.hostName : undefined,
    ipv6: sameOrigin && previous.ipv6,
    socket: undefined,
    cookie: sameOrigin ? previous.cookie : undefined,
    extraHeaders: sameOrigin
      ? previous.extraHeaders
      : previous.extraHeaders.filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())),
    redirects: previous.redirects + 1,
  };
}
