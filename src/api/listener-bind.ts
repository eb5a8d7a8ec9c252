/**
 * Binding a listener (`nopoll_listener_new`, `_new6`, `_new_opts`): the address or unix path checked, the options,
 * TLS files and HTTP/2 settings validated before anything is bound, then the `net.Server` listening.
 * @packageDocumentation
 */
import { createServer, isIP, type Server } from 'node:net';
import { ConnectError } from '../errors.js';
import { listenUnix } from '../transport/unix-listen.js';
import { optsValues, type ConnOptsInit, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import type { CertificateInput } from './certificate-store.js';
import { resolveHttp2Listen, type Http2ListenOptions, type ResolvedHttp2Listen } from './http2-options.js';
import { prepareListenerTls, type PreparedListenerTls } from './listener-tls.js';

/** Where and how to listen. */
export interface ListenOptions {
  /** Address to bind (default `0.0.0.0`, or `::` with `ipv6`). */
  host?: string;
  /** Port; 0 picks a free one, read it back from {@link Listener.port}. Not with `path`. */
  port?: number | string;
  /**
   * Listen on this unix domain socket path instead of a TCP port (clients connect with `ws+unix:` URLs); `tls`
   * works the same. A stale socket file left at the path by a process that died is removed first (see
   * `removeStaleSocket`); Node removes the file when the listener closes.
   */
  path?: string;
  /** With `path`: remove a socket file nobody accepts on before listening (default true). Other files are never removed. */
  removeStaleSocket?: boolean;
  /** With `path`: make the socket file readable and writable by every user (default: the process's umask decides). */
  socketAccessAll?: boolean;
  /** IPv6 listener (noPoll's `nopoll_listener_new6`); `0.0.0.0` is refused then. */
  ipv6?: boolean;
  /** Options applied to every accepted connection (frame limit, Origin policy, subprotocols, timeouts). */
  opts?: ConnOptsLike;
  /** TCP backlog (default 511). */
  backlog?: number;
  /**
   * Accept `wss://` (noPoll's `nopoll_listener_tls_new`): every accepted socket runs a TLS handshake first. The
   * certificate comes from `opts.tls`, else `certificate` / {@link Listener.setCertificate}, else the context's store.
   */
  tls?: boolean;
  /** The listener's own certificate (`nopoll_listener_set_certificate`); needs `tls`. */
  certificate?: CertificateInput;
  /**
   * Serve WebSockets over HTTP/2 too (RFC 8441 extended CONNECT), on the same port as HTTP/1.1: with `tls`, ALPN
   * offers `h2` and `http/1.1`; without, a client that opens with the HTTP/2 preface (prior knowledge) gets
   * HTTP/2. `true` takes the defaults; see {@link Http2ListenOptions} and docs/http2.md.
   */
  http2?: boolean | Http2ListenOptions;
}

/** @internal A bound server and what the listener needs from the options. */
export interface BoundListener {
  server: Server;
  host: string;
  port: number;
  path: string | null;
  opts: ConnOptsInit;
  tls: PreparedListenerTls | null;
  http2: ResolvedHttp2Listen | null;
}

/**
 * @internal Checks `options` and binds a server. Resolves once it listens.
 * @throws TypeError for a bad host or port; rejects with ConnectError when the address cannot be bound.
 */
export async function bindListener(ctx: Context, options: ListenOptions): Promise<BoundListener> {
  const path = options.path;
  let host = '';
  let port = 0;
  if (path !== undefined) {
    if (typeof path !== 'string' || path === '') throw new TypeError('the socket path must be a non-empty string');
    if (options.port !== undefined || options.host !== undefined || options.ipv6 !== undefined) {
      throw new TypeError('a unix socket listener takes a path, not a host, port or ipv6');
    }
  } else {
    if (options.port === undefined) throw new TypeError('a listener needs a port or a path');
    port =
      typeof options.port === 'string' ? (/^\d{1,5}$/.test(options.port) ? Number(options.port) : NaN) : options.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new TypeError(`invalid port ${String(options.port)}`);
    host = options.host ?? (options.ipv6 ? '::' : '0.0.0.0');
    if (options.ipv6 && isIP(host) === 4) throw new TypeError(`${host} is not an IPv6 address`);
    if (options.ipv6 === false && isIP(host) === 6) throw new TypeError(`${host} is not an IPv4 address`);
  }
  if (options.certificate !== undefined && options.tls !== true)
    throw new TypeError('a listener certificate needs tls: true');
  // Options (limits, compression), TLS options and certificate files are checked before anything is bound.
  optsValues(options.opts);
  const tls = options.tls === true ? prepareListenerTls(optsValues(options.opts).tls, options.certificate) : null;
  const handshakeTimeoutMs = optsValues(options.opts).handshakeTimeoutMs ?? ctx.handshakeTimeoutMs;
  const http2 = options.http2
    ? resolveHttp2Listen(options.http2, {
        maxHeadBytes: ctx.maxHeadBytes,
        maxHeaderCount: ctx.maxHeaderCount,
        handshakeTimeoutMs,
      })
    : null;
  const server = createServer({ noDelay: true });
  const where = path ?? `${host}:${port}`;
  const backlog = options.backlog ?? 511;
  await new Promise<void>((resolve, reject) => {
    const done = (error: Error | null): void => {
      if (error) reject(new ConnectError(`cannot listen on ${where}: ${error.message}`, { cause: error }));
      else resolve();
    };
    if (path === undefined) {
      server.once('error', done);
      server.listen({ host, port, backlog, ipv6Only: options.ipv6 === true }, () => {
        server.off('error', done);
        done(null);
      });
      return;
    }
    const all = options.socketAccessAll === true;
    listenUnix(
      server,
      { path, backlog, removeStale: options.removeStaleSocket ?? true, readableAll: all, writableAll: all },
      done,
    );
  });
  // Accept failures (EMFILE...) must not crash the process; they are logged.
  server.on('error', (error) => ctx.log('critical', `listener ${where}: ${error.message}`));
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return { server, host, port: bound, path: path ?? null, opts: { ...optsValues(options.opts) }, tls, http2 };
}
