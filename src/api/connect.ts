/**
 * Client connections: noPoll's `nopoll_conn_new`, `_new6`, `_new_opts` and `_new_with_socket` as one call.
 * @packageDocumentation
 */
import { isIP, type Socket } from 'node:net';
import { connectClient } from '../transport/client-connect.js';
import { Conn } from './conn.js';
import { extraHeaderPairs, optsValues, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';

/** Where a client connects. */
export interface ConnectTarget {
  /** Host name or address. */
  host: string;
  /** Port (default 80). */
  port?: number | string;
  /** Request target: path and query (default "/"). */
  path?: string;
  /** Connect over IPv6 (noPoll's `*6` variants); by default the resolver picks. */
  ipv6?: boolean;
  /** Host header name, when it differs from `host` (noPoll's host_name); the port is appended when not 80. */
  hostName?: string;
  /** A socket the caller already connected (`nopoll_conn_new_with_socket`). */
  socket?: Socket;
}

/**
 * Starts a client connection and returns it at once, as noPoll does; `await conn.waitUntilReady()` for the
 * handshake. Accepts a `ws://` URL or a {@link ConnectTarget}.
 * @throws TypeError for an unusable URL or option.
 */
export function connect(ctx: Context, target: string | URL | ConnectTarget, opts?: ConnOptsLike): Conn {
  const t = normalizeTarget(target);
  const o = optsValues(opts);
  const port = Number(t.port ?? 80);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`invalid port ${String(t.port)}`);
  const path = t.path ?? '/';
  if (!path.startsWith('/')) throw new TypeError(`the request path must start with "/": ${path}`);
  const name = t.hostName ?? t.host;
  const hostHeader = (isIP(name) === 6 ? `[${name}]` : name) + (port === 80 ? '' : `:${port}`);
  const origin = o.origin === false || o.origin === undefined ? null : o.origin;
  const protocols = o.protocols ? [...o.protocols] : [];
  const extraHeaders = extraHeaderPairs(o.extraHeaders);
  const conn = new Conn(ctx, 'client', null, t.host, port, o.maxFrameSize ?? ctx.maxFrameSize);
  Object.assign(conn.handshake, {
    requestedUrl: path,
    hostHeader,
    origin,
    cookie: o.cookie ?? null,
    requestedProtocols: protocols,
  });
  let pending: ReturnType<typeof connectClient>;
  try {
    pending = connectClient(
    {
      host: t.host,
      port,
      family: t.ipv6 ? 6 : 0,
      localAddress: o.localAddress,
      socket: t.socket,
      request: {
        host: hostHeader,
        path,
        version: ctx.protocolVersion,
        origin,
        protocols,
        ...(o.cookie !== undefined ? { cookie: o.cookie } : {}),
        extraHeaders,
      },
      extensionsOffered: [],
      timeoutMs: o.connectTimeoutMs ?? ctx.connectTimeoutMs,
      limits: { maxHeadBytes: ctx.maxHeadBytes, maxHeaderCount: ctx.maxHeaderCount },
    },
    (error, connected) => {
      if (error || !connected) {
        conn.fail(error ?? new Error('handshake failed'));
        return;
      }
      conn.handshake.headers = connected.result.headers;
      conn.startSession(connected.socket, connected.rest, {
        acceptedProtocol: connected.result.protocol,
        maxMessageSize: o.maxMessageSize ?? ctx.maxMessageSize,
        closeTimeoutMs: o.closeTimeoutMs ?? ctx.closeTimeoutMs,
        deliverFrames: o.deliverFragments ?? false,
        keepHeaders: o.keepHeaders ?? false,
      });
    },
  );
  } catch (error) {
    // A bad option (extra header with CR/LF, invalid subprotocol...) is the caller's mistake: leave nothing behind.
    ctx.unregister(conn);
    throw error;
  }
  conn.attachSocket(pending.socket, false);
  return conn;
}

function normalizeTarget(target: string | URL | ConnectTarget): ConnectTarget {
  if (typeof target !== 'string' && !(target instanceof URL)) return target;
  const url = typeof target === 'string' ? new URL(target) : target;
  if (url.protocol === 'wss:' || url.protocol === 'https:') throw new TypeError('wss:// is not supported yet (TLS comes in a later release)');
  if (url.protocol !== 'ws:' && url.protocol !== 'http:') throw new TypeError(`unsupported URL scheme ${url.protocol}`);
  if (url.hash) throw new TypeError('a WebSocket URL has no fragment (RFC 6455 §3)');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port ? Number(url.port) : 80, path: (url.pathname || '/') + url.search };
}
