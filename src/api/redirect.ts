/**
 * Following redirects in the opening handshake (docs/client.md): off by default; with `followRedirects`, a 301,
 * 302, 303, 307 or 308 answer with a Location leads to a new handshake there, at most `maxRedirects` times (ws's
 * default, 10). A redirect that leaves the origin (scheme, host and port; or the socket path) drops the
 * credentials meant for it: `Authorization`, `Cookie` and `Proxy-Authorization` headers, the `cookie` option and
 * URL credentials. A `wss:` to `ws:` downgrade is refused unless `allowInsecureRedirect`; a network server may not
 * send the client to a unix socket.
 * @packageDocumentation
 */
import { HandshakeError, RedirectError } from '../errors.js';
import type { ResponseHead } from '../protocol/handshake/http-head-parser.js';

/** @internal Where one handshake goes: a resolved `ws:`/`wss:`/`ws+unix:` URL. */
export interface Endpoint {
  secure: boolean;
  /** Host name or address (`localhost` for a unix socket). */
  host: string;
  port: number;
  /** Unix socket path, for `ws+unix:` / `wss+unix:`. */
  socketPath: string | undefined;
  /** Request target: path and query. */
  path: string;
  /** `Authorization` from URL credentials (`ws://user:pass@host/`), HTTP Basic. */
  authorization: string | undefined;
}

/** @internal The redirect settings of one connection. */
export interface RedirectPolicy {
  follow: boolean;
  max: number;
  allowInsecure: boolean;
}

const FOLLOWED = new Set([301, 302, 303, 307, 308]);
/** Default `maxRedirects`, as ws. */
export const DEFAULT_MAX_REDIRECTS = 10;

/**
 * @internal Parses a WebSocket URL: `ws:`, `wss:` (and `http:`/`https:`, which mean the same), `ws+unix:` and
 * `wss+unix:` (`ws+unix:///path/to/socket:/request/path`, as ws spells it).
 * @throws TypeError for another scheme, a fragment, or a unix URL without a socket path.
 */
export function parseEndpoint(url: URL): Endpoint {
  const scheme = url.protocol;
  const unix = scheme === 'ws+unix:' || scheme === 'wss+unix:';
  const secure = scheme === 'wss:' || scheme === 'https:' || scheme === 'wss+unix:';
  if (!unix && !secure && scheme !== 'ws:' && scheme !== 'http:')
    throw new TypeError(`unsupported URL scheme ${scheme}`);
  if (url.hash) throw new TypeError('a WebSocket URL has no fragment (RFC 6455 §3)');
  const authorization = url.username
    ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`, 'utf8').toString('base64')}`
    : undefined;
  if (unix) {
    // The socket path ends at the first ':'; what follows is the request path (default "/").
    const colon = url.pathname.indexOf(':');
    const socketPath = decodeURIComponent(colon < 0 ? url.pathname : url.pathname.slice(0, colon));
    if (socketPath === '' || socketPath === '/') throw new TypeError(`no socket path in ${url.href}`);
    const path = (colon < 0 ? '/' : url.pathname.slice(colon + 1) || '/') + url.search;
    return { secure, host: 'localhost', port: secure ? 443 : 80, socketPath, path, authorization };
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    secure,
    host,
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    socketPath: undefined,
    path: (url.pathname || '/') + url.search,
    authorization,
  };
}

/** @internal The origin of an endpoint, for "does this redirect leave it" (RFC 6454 §4 plus the socket path). */
export function originOf(endpoint: Endpoint): string {
  const scheme = endpoint.secure ? 'wss' : 'ws';
  return endpoint.socketPath !== undefined
    ? `${scheme}+unix:${endpoint.socketPath}`
    : `${scheme}://${endpoint.host.toLowerCase()}:${endpoint.port}`;
}

/**
 * @internal Decides what a refused handshake leads to: null when it is not a redirect to follow (the caller reports
 * `error` as is, or the HandshakeError returned), or the next endpoint. `redirects` counts those already followed.
 */
export function nextRedirect(
  current: Endpoint,
  response: ResponseHead | undefined,
  policy: RedirectPolicy,
  redirects: number,
): { next: Endpoint } | { error: Error } | null {
  if (response === undefined || !FOLLOWED.has(response.status)) return null;
  const location = response.headers.get('location');
  if (location === null) return null;
  const status = response.status;
  if (!policy.follow) {
    return {
      error: new HandshakeError(`server redirected (${status}) to ${location}; set followRedirects to follow`, status),
    };
  }
  if (redirects >= policy.max) {
    return {
      error: new RedirectError(
        `more than ${policy.max} redirects (the last to ${location})`,
        status,
        location,
        redirects,
      ),
    };
  }
  let next: Endpoint;
  try {
    next = parseEndpoint(resolveLocation(current, location));
  } catch (error) {
    return {
      error: new RedirectError(
        `cannot follow the redirect to ${location}: ${(error as Error).message}`,
        status,
        location,
        redirects,
      ),
    };
  }
  if (current.secure && !next.secure && !policy.allowInsecure) {
    return {
      error: new RedirectError(
        `refused a redirect from wss: to ws: (${location}); set allowInsecureRedirect to allow it`,
        status,
        location,
        redirects,
      ),
    };
  }
  if (next.socketPath !== undefined && current.socketPath === undefined) {
    return {
      error: new RedirectError(
        `refused a redirect from a network server to a unix socket (${location})`,
        status,
        location,
        redirects,
      ),
    };
  }
  return { next };
}

// A Location is absolute or relative (RFC 9110 §10.2.2). Relative to a unix socket URL, only the request path
// changes; `http:`/`https:` Locations map to `ws:`/`wss:`.
function resolveLocation(current: Endpoint, location: string): URL {
  if (current.socketPath !== undefined && !/^[a-z][a-z0-9+.-]*:/i.test(location)) {
    const relative = new URL(location, `http://localhost${current.path}`);
    const scheme = current.secure ? 'wss+unix' : 'ws+unix';
    return new URL(`${scheme}://${encodeURI(current.socketPath)}:${relative.pathname}${relative.search}`);
  }
  const base = `${current.secure ? 'wss' : 'ws'}://${current.host.includes(':') ? `[${current.host}]` : current.host}:${current.port}${current.path}`;
  const url = new URL(location, base);
  url.hash = '';
  return url;
}

/** Header names that carry credentials, dropped when a redirect leaves the origin (as curl and ws do). */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'proxy-authorization']);
