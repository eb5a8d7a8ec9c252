/**
 * Proxies for client connections (docs/client.md): the public `proxy` option, the choice of a proxy for one
 * connection (the option, else the environment when `proxyEnv` opts in), and the tunnel step that runs once TCP
 * to the proxy is up: TLS to an `https://` proxy, then HTTP CONNECT or SOCKS5 (the byte-level work is in
 * `transport/proxy-*.ts`). The WebSocket server's own TLS runs after it, inside the tunnel, verified end to end.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import { ConnectError, HandshakeError, ProxyError, TimeoutError } from '../errors.js';
import type { HeadLimits } from '../protocol/handshake/http-head-parser.js';
import { proxyFromEnv, type ProxyEnv } from '../transport/proxy-env.js';
import { httpConnect } from '../transport/proxy-http.js';
import { checkSocksCredentials, socks5Connect } from '../transport/proxy-socks5.js';
import { prepareProxyTls } from './client-tls.js';
import type { TlsOptions } from './tls-options.js';

/** A proxy with settings beyond its URL (the `proxy` option's object form). */
export interface ProxyOptions {
  /**
   * `http://host:port` (HTTP CONNECT), `https://host:port` (TLS to the proxy, then CONNECT), `socks5://host:port`
   * (SOCKS5, the server's name resolved here) or `socks5h://host:port` (resolved by the proxy). Credentials in the
   * URL (`http://user:pass@host:port`, percent-encoded) are used unless `username`/`password` are given. Default
   * ports: 80, 443, 1080.
   */
  url: string | URL;
  /** Proxy user name: HTTP Basic (RFC 7617) or SOCKS5 username/password (RFC 1929). */
  username?: string;
  /** Proxy password. */
  password?: string;
  /** Extra header fields of the CONNECT request (HTTP and HTTPS proxies). */
  headers?: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>;
  /**
   * TLS to an `https://` proxy (its CA, `verifyPeer`, a client certificate...). The proxy's certificate is verified
   * against its host name by default. The WebSocket server's TLS settings stay in the connection's `tls` option.
   */
  tls?: TlsOptions;
}

/** The `proxy` option: a proxy URL, or {@link ProxyOptions}. */
export type ProxyOption = string | URL | ProxyOptions;

/** @internal A proxy to use for one connection attempt, checked. */
export interface ProxyPlan {
  /** The URL without credentials, for messages. */
  readonly label: string;
  readonly scheme: 'http' | 'https' | 'socks5' | 'socks5h';
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly tls: TlsOptions | undefined;
}

const DEFAULT_PORTS = { http: 80, https: 443, socks5: 1080, socks5h: 1080 } as const;

/**
 * Checks a `proxy` option the way a connection will (use it to refuse a bad configuration early).
 * @throws TypeError for an unusable URL or scheme (SOCKS4 is not supported), RangeError for unusable credentials.
 */
export function checkProxy(option: ProxyOption): void {
  parseProxy(option);
}

/**
 * @internal Parses and checks a proxy option. A string without a scheme is an HTTP proxy (`host:port`), as curl
 * reads it.
 * @throws TypeError for an unusable URL or scheme (SOCKS4 is not supported), RangeError for unusable credentials.
 */
export function parseProxy(option: ProxyOption): ProxyPlan {
  const given = typeof option === 'string' || option instanceof URL ? { url: option } : option;
  let text = String(given.url).trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`invalid proxy URL ${JSON.stringify(String(given.url))}`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'socks5' && scheme !== 'socks5h') {
    throw new TypeError(
      `unsupported proxy scheme ${url.protocol} (use http:, https:, socks5: or socks5h:; SOCKS4 is not supported)`,
    );
  }
  if (url.hostname === '') throw new TypeError(`the proxy URL ${JSON.stringify(String(given.url))} has no host`);
  const username = given.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
  const password =
    given.password ?? (url.password ? decodeURIComponent(url.password) : username !== undefined ? '' : undefined);
  if (scheme.startsWith('socks')) checkSocksCredentials(username, password);
  else if (username?.includes(':'))
    throw new RangeError('a proxy user name for HTTP Basic may not contain ":" (RFC 7617 §2)');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[scheme];
  const headers =
    given.headers === undefined ? [] : Array.isArray(given.headers) ? given.headers : Object.entries(given.headers);
  return {
    label: `${scheme}://${url.hostname}:${port}`,
    scheme,
    host,
    port,
    username,
    password,
    headers: headers as ReadonlyArray<readonly [string, string]>,
    tls: given.tls,
  };
}

/**
 * @internal The proxy for a connection to `target`: the `proxy` option, else (when `proxyEnv` opts in) the
 * environment's, or null to connect directly. `false` forbids a proxy, environment included.
 */
export function chooseProxy(
  proxy: ProxyOption | false | undefined,
  proxyEnv: boolean | ProxyEnv | undefined,
  target: { secure: boolean; host: string; port: number },
): ProxyPlan | null {
  if (proxy === false) return null;
  if (proxy !== undefined) return parseProxy(proxy);
  if (proxyEnv === undefined || proxyEnv === false) return null;
  const env = proxyEnv === true ? process.env : proxyEnv;
  const found = proxyFromEnv(env, target.secure, target.host, target.port);
  return found === null ? null : parseProxy(found);
}

/** @internal The tunnel step of one attempt, and the mapping of its failures. */
export interface ProxyTunnel {
  /** Where TCP goes: the proxy. */
  readonly host: string;
  readonly port: number;
  /** Runs on the socket connected to the proxy; reports the socket that carries the tunnel. */
  step(socket: Socket, done: (error: Error | null, tunnel?: Socket) => void): void;
  /** The error to report for a failed attempt: failures before the tunnel opened name the proxy. */
  explain(error: Error): Error;
}

/**
 * @internal Prepares the tunnel through `plan` to `target`.
 * @throws TypeError / RangeError / TlsError for unusable proxy TLS options.
 */
export function proxyTunnel(
  plan: ProxyPlan,
  target: { host: string; port: number; family: 0 | 4 | 6 },
  limits: HeadLimits,
  timeoutMs: number,
): ProxyTunnel {
  const label = plan.label;
  const tls = plan.scheme === 'https' ? prepareProxyTls(plan.tls, plan.host) : null;
  let stage: 'connecting' | 'tunnel' | 'open' = 'connecting';
  let reported: Error | null = null;

  const open = (carrier: Socket, done: (error: Error | null, tunnel?: Socket) => void): void => {
    const finish = (error: Error | null): void => {
      if (error) {
        reported = error;
        done(error);
        return;
      }
      stage = 'open';
      done(null, carrier);
    };
    if (plan.scheme === 'socks5' || plan.scheme === 'socks5h') {
      socks5Connect(
        carrier,
        {
          host: target.host,
          port: target.port,
          remoteDns: plan.scheme === 'socks5h',
          family: target.family,
          username: plan.username,
          password: plan.password,
          proxy: label,
        },
        finish,
      );
      return;
    }
    const authorization =
      plan.username === undefined
        ? undefined
        : `Basic ${Buffer.from(`${plan.username}:${plan.password ?? ''}`, 'utf8').toString('base64')}`;
    httpConnect(
      carrier,
      { host: target.host, port: target.port, authorization, headers: plan.headers, limits, proxy: label },
      finish,
    );
  };

  return {
    host: plan.host,
    port: plan.port,
    step(socket, done) {
      stage = 'tunnel';
      if (tls === null) return open(socket, done);
      tls(socket, (error, secured) => {
        if (error || !secured) {
          reported = new ProxyError(
            'tls',
            label,
            `TLS with the proxy ${label} failed: ${error?.message ?? 'no socket'}`,
            { cause: error },
          );
          done(reported);
          return;
        }
        // Errors of the TLS layer to the proxy surface as the close of what runs over it; none may go unheard.
        secured.on('error', ignore);
        open(secured as unknown as Socket, done);
      });
    },
    explain(error) {
      if (error === reported || error instanceof ProxyError || stage === 'open') return error;
      if (error instanceof TimeoutError)
        return new TimeoutError('proxy', `no tunnel through the proxy ${label} within ${timeoutMs} ms`);
      if (stage === 'connecting' && error instanceof ConnectError) {
        const cause = (error.cause as Error | undefined) ?? error;
        return new ProxyError('connect', label, `cannot connect to the proxy ${label}: ${cause.message}`, { cause });
      }
      if (error instanceof HandshakeError || error instanceof ConnectError) {
        return new ProxyError(
          'protocol',
          label,
          `the proxy ${label} closed the connection before the tunnel was open`,
          { cause: error },
        );
      }
      return error;
    },
  };
}

const ignore = (): void => undefined;
