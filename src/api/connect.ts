/**
 * Client connections: noPoll's `nopoll_conn_new`, `_new6`, `_new_opts` and `_new_with_socket` as one call, plus
 * what production clients need around the handshake (docs/client.md): unix sockets, proxies, redirects.
 * @packageDocumentation
 */
import { isIP, type Socket } from 'node:net';
import { connectClient } from '../transport/client-connect.js';
import { HandshakeError } from '../errors.js';
import { formatExtensions } from '../protocol/handshake/extension-header.js';
import { PERMESSAGE_DEFLATE } from '../protocol/extensions/deflate-params.js';
import { clientDeflateOffer, clientDeflateSession } from './deflate-options.js';
import { Conn } from './conn.js';
import { extraHeaderPairs, optsValues, sessionSettings, type ConnOptsInit, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import { chooseProxy, proxyTunnel } from './proxy.js';
import { CREDENTIAL_HEADERS, DEFAULT_MAX_REDIRECTS, nextRedirect, originOf, parseEndpoint, type Endpoint, type RedirectPolicy } from './redirect.js';
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
  /**
   * Connect to this unix domain socket instead of `host`:`port` (what a `ws+unix:` URL says); `host` then only
   * names the Host header (and the name TLS checks, unless `tls.serverName` is set).
   */
  socketPath?: string;
}

// One handshake attempt's settings that a redirect may change (the rest comes from the options as given).
interface Attempt {
  endpoint: Endpoint;
  hostName: string | undefined;
  ipv6: boolean;
  socket: Socket | undefined;
  cookie: string | undefined;
  extraHeaders: Array<[string, string]>;
  redirects: number;
}

/**
 * Starts a client connection and returns it at once, as noPoll does; `await conn.waitUntilReady()` for the
 * handshake. Accepts a `ws://`, `wss://`, `ws+unix://` or `wss+unix://` URL, or a {@link ConnectTarget}.
 * @throws TypeError or RangeError for an unusable URL or option; TlsError for unusable TLS material (a certificate
 * file that cannot be read, a key that does not match).
 */
export function connect(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike): Conn {
  const o = optsValues(opts);
  const attempt = firstAttempt(target, o);
  const policy: RedirectPolicy = {
    follow: o.followRedirects === true,
    max: o.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
    allowInsecure: o.allowInsecureRedirect === true,
  };
  const conn = new Conn(ctx, 'client', null, attempt.endpoint.host, attempt.endpoint.port, o.maxFrameSize ?? ctx.maxFrameSize);
  try {
    start(ctx, conn, o, attempt, policy);
  } catch (error) {
    // A bad option (extra header with CR/LF, invalid subprotocol...) is the caller's mistake: leave nothing behind.
    ctx.unregister(conn);
    throw error;
  }
  return conn;
}

// Runs one handshake attempt on `conn`; a redirect starts the next one. Throws only for unusable options.
function start(ctx: Context, conn: Conn, o: ConnOptsInit, attempt: Attempt, policy: RedirectPolicy): void {
  const { endpoint } = attempt;
  const { secure, port, path } = endpoint;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`invalid port ${String(port)}`);
  if (!path.startsWith('/')) throw new TypeError(`the request path must start with "/": ${path}`);
  const defaultPort = secure ? 443 : 80;
  const name = attempt.hostName ?? endpoint.host;
  const hostHeader = (isIP(name) === 6 ? `[${name}]` : name) + (port === defaultPort ? '' : `:${port}`);
  const origin = o.origin === false || o.origin === undefined ? null : o.origin;
  const protocols = o.protocols ? [...o.protocols] : [];
  const extraHeaders = [...attempt.extraHeaders];
  if (endpoint.authorization !== undefined && !extraHeaders.some(([k]) => k.toLowerCase() === 'authorization')) {
    extraHeaders.push(['Authorization', endpoint.authorization]);
  }
  const tlsPlan = secure ? prepareClientTls(ctx, o.tls, endpoint.host) : null;
  // permessage-deflate is offered unless turned off (RFC 7692 §5); an invalid option throws here, before anything starts.
  const deflateOffer = clientDeflateOffer(o.perMessageDeflate);
  const timeoutMs = o.connectTimeoutMs ?? ctx.connectTimeoutMs;
  const limits = { maxHeadBytes: ctx.maxHeadBytes, maxHeaderCount: ctx.maxHeaderCount };
  const family = attempt.ipv6 ? 6 : 0;
  // A caller's socket or a unix socket is used as is; otherwise a proxy may carry the connection.
  const plan = attempt.socket !== undefined || endpoint.socketPath !== undefined ? null : chooseProxy(o.proxy, o.proxyEnv, endpoint);
  const proxy = plan === null ? null : proxyTunnel(plan, { host: endpoint.host, port, family }, limits, timeoutMs);
  conn.host = endpoint.host;
  conn.port = port;
  Object.assign(conn.handshake, {
    requestedUrl: path,
    hostHeader,
    origin,
    cookie: attempt.cookie ?? null,
    requestedProtocols: protocols,
  });
  const tls = tlsPlan?.bind(conn, timeoutMs) ?? null;
  const tlsUpgrade = tls?.upgrade;
  const upgrade =
    proxy === null
      ? tlsUpgrade
      : (socket: Socket, done: (error: Error | null, upgraded?: Socket) => void): void =>
          proxy.step(socket, (error, tunnel) => (error || !tunnel || !tlsUpgrade ? done(error, tunnel) : tlsUpgrade(tunnel, done)));
  const pending = connectClient(
    {
      host: plan?.host ?? endpoint.host,
      port: plan?.port ?? port,
      family: plan === null ? family : 0,
      path: endpoint.socketPath,
      localAddress: o.localAddress,
      socket: attempt.socket,
      upgrade,
      request: {
        host: hostHeader,
        path,
        version: ctx.protocolVersion,
        origin,
        protocols,
        ...(attempt.cookie !== undefined ? { cookie: attempt.cookie } : {}),
        ...(deflateOffer !== null ? { extensions: formatExtensions([deflateOffer.offer]) } : {}),
        extraHeaders,
      },
      extensionsOffered: deflateOffer !== null ? [PERMESSAGE_DEFLATE] : [],
      timeoutMs,
      limits,
    },
    (error, connected, response) => {
      if (error || !connected) {
        let failure = error ?? new Error('handshake failed');
        if (tls) failure = tls.explain(failure);
        if (proxy) failure = proxy.explain(failure);
        const redirect = attempt.socket === undefined ? nextRedirect(endpoint, response, policy, attempt.redirects) : null;
        if (redirect === null) return conn.fail(failure);
        if ('error' in redirect) return conn.fail(redirect.error);
        try {
          start(ctx, conn, o, redirected(attempt, redirect.next), policy);
        } catch (refused) {
          conn.fail(refused as Error);
        }
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
      conn.startSession(connected.socket, connected.rest, {
        deflate: deflate.deflate,
        acceptedProtocol: connected.result.protocol,
        ...sessionSettings(o, ctx),
      });
    },
  );
  // A TLS step that ran at once (over a socket already connected) has attached its TLS socket already.
  if (attempt.redirects > 0 || conn.socket === null) conn.attachSocket(pending.socket, secure);
}

// The first attempt, from the target and options as given.
function firstAttempt(target: string | URL | ConnectTarget, o: ConnOptsInit): Attempt {
  let endpoint: Endpoint;
  let hostName: string | undefined;
  let ipv6 = false;
  let socket: Socket | undefined;
  if (typeof target === 'string' || target instanceof URL) {
    endpoint = parseEndpoint(typeof target === 'string' ? new URL(target) : target);
  } else {
    const secure = target.tls === true;
    endpoint = {
      secure,
      host: target.host,
      port: Number(target.port ?? (secure ? 443 : 80)),
      socketPath: target.socketPath,
      path: target.path ?? '/',
      authorization: undefined,
    };
    hostName = target.hostName;
    ipv6 = target.ipv6 === true;
    socket = target.socket;
  }
  return { endpoint, hostName, ipv6, socket, cookie: o.cookie, extraHeaders: extraHeaderPairs(o.extraHeaders), redirects: 0 };
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
    extraHeaders: sameOrigin ? previous.extraHeaders : previous.extraHeaders.filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())),
    redirects: previous.redirects + 1,
  };
}
