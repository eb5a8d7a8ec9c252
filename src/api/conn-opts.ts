/**
 * Options for a client connection or a listener: noPoll's `noPollConnOpts`, as a plain object with the same setters.
 * @packageDocumentation
 */
import { MAX_FRAME_BYTES_LIMIT } from '../protocol/limits.js';
import { resolveDeflateOption, type PerMessageDeflateOptions } from './deflate-options.js';
import type { ProxyEnv } from '../transport/proxy-env.js';
import { checkHttp2Mode, type Http2Mode } from './http2-options.js';
import type { ProxyOption } from './proxy.js';
import { sslProtocolVersions, type PemSource, type SslProtocol, type TlsOptions } from './tls-options.js';

/** Everything a connection or listener can be configured with. All fields are optional. */
export interface ConnOptsInit {
  /** Client: `Cookie` request header. */
  cookie?: string;
  /**
   * Client: extra request headers, as an object, as pairs, or in noPoll's raw form `"\r\nName: value\r\nName2: v"`.
   */
  extraHeaders?: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]> | string;
  /** Client: `Origin` header to send; `false` sends none. Default: none (RFC 6455 §4.1 makes it optional for non-browsers). */
  origin?: string | false;
  /** Client: subprotocols to request. Listener: subprotocols supported (chosen in the client's order). */
  protocols?: readonly string[];
  /** Largest frame payload accepted (1 to 2147483646); overrides the context. */
  maxFrameSize?: number;
  /** Largest whole message accepted; overrides the context. */
  maxMessageSize?: number;
  /** Deliver each frame to `onMessage` as it arrives (noPoll's behaviour) instead of whole messages. */
  deliverFragments?: boolean;
  /**
   * Most bytes the connection may hold unsent (`pendingWriteBytes`) before a send hits the write limit (default
   * 64 MiB). A message is always accepted when nothing is pending, whatever its size. See `writeLimitPolicy`.
   */
  maxPendingWriteBytes?: number;
  /**
   * What a send past `maxPendingWriteBytes` does: `'close'` (default) refuses it (-1) and closes the connection with
   * 1008; `'refuse'` sends nothing and returns 0, so the caller waits (`flushWrites()`) and sends again.
   */
  writeLimitPolicy?: 'refuse' | 'close';
  /**
   * Largest message received in streaming mode (`onMessageStream`, `read()`), where nothing is assembled and
   * `maxFrameSize` / `maxMessageSize` do not apply. Default: no limit (the consumer is responsible).
   */
  maxStreamBytes?: number;
  /** Listener: refuse handshakes without an `Origin` header (noPoll's default; ours is to accept them). */
  requireOrigin?: boolean;
  /** Client: time for TCP connect plus handshake, in ms (context default 20 s). */
  connectTimeoutMs?: number;
  /** Listener: time a client has to send its whole handshake request, in ms (context default 10 s). */
  handshakeTimeoutMs?: number;
  /** Time to wait for the peer's side of the closing handshake, in ms (context default 5 s). */
  closeTimeoutMs?: number;
  /** Close with 1001 after this many ms without receiving anything (0: off; context default 0). */
  idleTimeoutMs?: number;
  /** Heartbeat: ping after this many ms without receiving anything (0: off; context default 0). */
  pingIntervalMs?: number;
  /** Heartbeat: drop the connection (1006) when nothing arrives this long after a ping (0: the interval). */
  pongTimeoutMs?: number;
  /**
   * Slow-message protection: while a message (or frame) is under way, the peer must send at least this many bytes
   * per second, measured over `messageRateWindowMs`; slower, the connection is closed with 1008 (TimeoutError,
   * phase 'message'). Time the application or decompression holds the input does not count. 0 turns it off.
   * Context default 512 bytes/s.
   */
  minMessageRate?: number;
  /** The window of `minMessageRate`, in ms (context default 20000). */
  messageRateWindowMs?: number;
  /**
   * Listener: most connections at once (handshaking or open). Past it, a new TCP connection is answered
   * `503 Service Unavailable` and closed before its request is read. Default (or 0): no limit.
   */
  maxConnections?: number;
  /** Keep `conn.handshake.headers` after `onReady` (default false: dropped to save memory per connection). */
  keepHeaders?: boolean;
  /** Client: local address to bind (noPoll binds to an interface name; Node binds to an address). */
  localAddress?: string;
  /**
   * permessage-deflate compression (RFC 7692, see `docs/compression.md`). Client: offer it (default `true`, as
   * browsers do; the server decides). Listener: accept a client's offer (default `false`: compression costs CPU
   * and memory on every connection, so a server turns it on knowingly). An object turns it on with parameters.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** TLS settings: a `wss://` client's, or a TLS listener's (see `docs/tls.md`). */
  tls?: TlsOptions;
  /**
   * Client: connect through this proxy (`http://`, `https://`, `socks5://`, `socks5h://`; see `docs/client.md`).
   * `false` connects directly even when `proxyEnv` would pick one. Not used for unix sockets or a caller's socket.
   */
  proxy?: ProxyOption | false;
  /**
   * Client: take the proxy from the environment when no `proxy` is given (off by default): `ws_proxy`/`wss_proxy`,
   * `http_proxy`/`https_proxy`, `all_proxy` and `no_proxy`, lowercase or uppercase, as curl and undici read them.
   * `true` reads `process.env`; an object is read instead of it.
   */
  proxyEnv?: boolean | ProxyEnv;
  /** Client: follow 301, 302, 303, 307 and 308 answers to the handshake (default false). */
  followRedirects?: boolean;
  /** Client: most redirects followed before failing with a RedirectError (default 10). */
  maxRedirects?: number;
  /** Client: allow a redirect from `wss:` to `ws:` (default false: refused with a RedirectError). */
  allowInsecureRedirect?: boolean;
  /**
   * Client: open the WebSocket over HTTP/2 (RFC 8441, see `docs/http2.md`). `false` (default): HTTP/1.1. `true`:
   * HTTP/2 or fail. `'auto'`: HTTP/2 when the server offers WebSockets over it, else HTTP/1.1. WebSockets to one
   * origin share one HTTP/2 connection.
   */
  http2?: Http2Mode;
}

/** A validated option set with noPoll's setter names. Pass it, or a plain {@link ConnOptsInit}, where options go. */
export class ConnOpts {
  /** The options as set. */
  readonly values: ConnOptsInit;
  #reuse = false;
  #refs = 1;

  /** Creates an option set (`nopoll_conn_opts_new`). */
  constructor(init: ConnOptsInit = {}) {
    this.values = { ...init };
    delete this.values.maxFrameSize;
    if (init.maxFrameSize !== undefined) this.setMaxFrameSize(init.maxFrameSize);
  }

  /** Sets the client `Cookie` header (`nopoll_conn_opts_set_cookie`); null clears it. */
  setCookie(cookie: string | null): this {
    if (cookie === null) delete this.values.cookie;
    else this.values.cookie = cookie;
    return this;
  }

  /** Sets extra request headers (`nopoll_conn_opts_set_extra_headers`). */
  setExtraHeaders(headers: NonNullable<ConnOptsInit['extraHeaders']>): this {
    this.values.extraHeaders = headers;
    return this;
  }

  /** Client: send an Origin header or not (`nopoll_conn_opts_add_origin_header`). */
  setOrigin(origin: string | false): this {
    this.values.origin = origin;
    return this;
  }

  /** Listener: accept handshakes without Origin (`nopoll_conn_opts_skip_origin_check`). */
  skipOriginCheck(skip: boolean): this {
    this.values.requireOrigin = !skip;
    return this;
  }

  /** Sets the frame limit (`nopoll_conn_opts_set_max_frame_size`); values outside 1..2147483646 are ignored, as in noPoll. */
  setMaxFrameSize(bytes: number): this {
    if (Number.isInteger(bytes) && bytes >= 1 && bytes <= MAX_FRAME_BYTES_LIMIT) this.values.maxFrameSize = bytes;
    return this;
  }

  /**
   * Picks the TLS versions by noPoll's protocol value (`nopoll_conn_opts_set_ssl_protocol`).
   * @throws RangeError for `SSLV3`, `TLSV1`, `TLSV1_1` (refused) and unknown values.
   */
  setSslProtocol(protocol: SslProtocol): this {
    sslProtocolVersions(protocol);
    this.values.tls = { ...this.values.tls, sslProtocol: protocol };
    return this;
  }

  /**
   * Sets the own certificate, its key, an optional chain and an optional CA to verify the peer with
   * (`nopoll_conn_opts_set_ssl_certs`). PEM text, a Buffer or `{ file: path }`; files are read when used. All four
   * are replaced, as in noPoll: null or undefined clears one.
   */
  setSslCerts(cert: PemSource | null, key: PemSource | null, chain?: PemSource | null, ca?: PemSource | null): this {
    const tls: TlsOptions = { ...this.values.tls };
    for (const [name, value] of [
      ['cert', cert],
      ['key', key],
      ['chain', chain],
      ['ca', ca],
    ] as const) {
      if (value == null) delete tls[name];
      else tls[name] = value;
    }
    this.values.tls = tls;
    return this;
  }

  /**
   * Turns peer verification on or off (`nopoll_conn_opts_ssl_peer_verify`): a client verifies the server unless
   * told not to; a listener verifies client certificates (mutual TLS) only when told to.
   */
  sslPeerVerify(verify: boolean): this {
    this.values.tls = { ...this.values.tls, verifyPeer: verify };
    return this;
  }

  /** Keeps the object usable across calls (`nopoll_conn_opts_set_reuse`). Objects are never consumed here; kept for parity. */
  setReuse(reuse: boolean): this {
    this.#reuse = reuse;
    return this;
  }

  /** Whether reuse was set. */
  get reuse(): boolean {
    return this.#reuse;
  }

  /** Reference count, for noPoll parity only (tests 44 and 46 check it). */
  get refCount(): number {
    return this.#refs;
  }

  /** Adds a reference (counter only). */
  ref(): this {
    this.#refs++;
    return this;
  }

  /** Drops a reference (counter only). */
  unref(): void {
    if (this.#refs > 0) this.#refs--;
  }
}

/** Accepts either form. */
export type ConnOptsLike = ConnOpts | ConnOptsInit;

/**
 * The plain values of either form.
 * @throws RangeError for a limit or timeout in a plain object that is not a positive integer (a ConnOpts setter
 * ignores such values instead, as noPoll does).
 */
export function optsValues(opts: ConnOptsLike | null | undefined): ConnOptsInit {
  if (!opts) return {};
  const deflate = opts instanceof ConnOpts ? opts.values.perMessageDeflate : opts.perMessageDeflate;
  if (deflate !== undefined) resolveDeflateOption(deflate, 'server');
  checkHttp2Mode(opts instanceof ConnOpts ? opts.values.http2 : opts.http2);
  if (opts instanceof ConnOpts) return opts.values;
  if (opts.writeLimitPolicy !== undefined && opts.writeLimitPolicy !== 'refuse' && opts.writeLimitPolicy !== 'close') {
    throw new RangeError(`writeLimitPolicy must be 'refuse' or 'close', got ${String(opts.writeLimitPolicy)}`);
  }
  for (const name of [
    'maxFrameSize',
    'maxMessageSize',
    'connectTimeoutMs',
    'handshakeTimeoutMs',
    'closeTimeoutMs',
    'maxPendingWriteBytes',
    'maxStreamBytes',
  ] as const) {
    const value = opts[name];
    const max = name === 'maxFrameSize' ? MAX_FRAME_BYTES_LIMIT : Number.MAX_SAFE_INTEGER;
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > max)) {
      throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${String(value)}`);
    }
  }
  for (const name of [
    'idleTimeoutMs',
    'pingIntervalMs',
    'pongTimeoutMs',
    'maxConnections',
    'minMessageRate',
    'messageRateWindowMs',
    'maxRedirects',
  ] as const) {
    const value = opts[name];
    const max = name === 'maxConnections' ? Number.MAX_SAFE_INTEGER : 2 ** 31 - 1;
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > max)) {
      throw new RangeError(`${name} must be an integer from 0 to ${max}, got ${String(value)}`);
    }
  }
  return opts;
}

/** Turns noPoll's raw extra-header string (`"\r\nName: value..."`) or an object into header pairs. */
export function extraHeaderPairs(headers: ConnOptsInit['extraHeaders']): Array<[string, string]> {
  if (headers === undefined) return [];
  if (typeof headers === 'string') {
    const pairs: Array<[string, string]> = [];
    for (const line of headers.split(/\r?\n/)) {
      if (line.trim() === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new TypeError(`extra header line without a name: ${JSON.stringify(line)}`);
      pairs.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
    return pairs;
  }
  if (Array.isArray(headers)) return headers.map(([k, v]) => [k, v] as [string, string]);
  return Object.entries(headers as Record<string, string>);
}

/** What a session takes from the options, with the context's defaults filled in: the same for clients and listeners. */
export interface SessionSettings {
  maxMessageSize: number;
  closeTimeoutMs: number;
  deliverFrames: boolean;
  keepHeaders: boolean;
  maxPendingWriteBytes?: number | undefined;
  writeLimitPolicy?: 'refuse' | 'close' | undefined;
  maxStreamBytes?: number | undefined;
  /** Idle timeout and heartbeat (0 or absent: off; see transport/keepalive.ts). */
  idleTimeoutMs?: number | undefined;
  pingIntervalMs?: number | undefined;
  pongTimeoutMs?: number | undefined;
  /** Slow-message protection (see transport/rate-guard.ts). */
  minMessageRate: number;
  messageRateWindowMs: number;
}

/** The context defaults {@link sessionSettings} falls back on. */
export interface SessionDefaults {
  maxMessageSize: number;
  closeTimeoutMs: number;
  idleTimeoutMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  minMessageRate: number;
  messageRateWindowMs: number;
}

/** Resolves the session settings of one connection: its options first, then the context's defaults. */
export function sessionSettings(o: ConnOptsInit, ctx: SessionDefaults): SessionSettings {
  return {
    maxMessageSize: o.maxMessageSize ?? ctx.maxMessageSize,
    closeTimeoutMs: o.closeTimeoutMs ?? ctx.closeTimeoutMs,
    deliverFrames: o.deliverFragments ?? false,
    keepHeaders: o.keepHeaders ?? false,
    maxPendingWriteBytes: o.maxPendingWriteBytes,
    writeLimitPolicy: o.writeLimitPolicy,
    maxStreamBytes: o.maxStreamBytes,
    idleTimeoutMs: o.idleTimeoutMs ?? ctx.idleTimeoutMs,
    pingIntervalMs: o.pingIntervalMs ?? ctx.pingIntervalMs,
    pongTimeoutMs: o.pongTimeoutMs ?? ctx.pongTimeoutMs,
    minMessageRate: o.minMessageRate ?? ctx.minMessageRate,
    messageRateWindowMs: o.messageRateWindowMs ?? ctx.messageRateWindowMs,
  };
}
