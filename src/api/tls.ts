/**
 * TLS (`wss://`, noPoll manual §3): the public TLS options and handler types, the context's certificate store, and
 * the glue between listeners, clients and the transport's TLS sockets (`transport/tls.ts`): which certificate a
 * connection presents (options, then the listener, then the store, with SNI picking a named store entry), the
 * context creator hook, and the post-handshake check hook.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import { createSecureContext, type PeerCertificate, type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { TimeoutError, TlsError } from '../errors.js';
import {
  acceptTls,
  describeTlsError,
  isTlsLayerError,
  loadPem,
  resolveVersions,
  secureContextOptions,
  startClientTls,
  type PemSource,
  type TlsCheck,
  type TlsMaterial,
  type TlsVersion,
} from '../transport/tls.js';
import type { Conn } from './conn.js';
import type { Context } from './context.js';
import type { Decision } from './handlers.js';
import type { Listener } from './listener.js';
import { setTlsAcceptHook } from './port-sharing.js';

export type { PemSource, TlsVersion } from '../transport/tls.js';

/**
 * noPoll's `noPollSslProtocol` values (`nopoll_conn_opts_set_ssl_protocol`), mapped onto TLS versions:
 * `TLS_FLEXIBLE` and `SSLV23` negotiate the best version both sides have (TLS 1.2 or 1.3); `TLSV1_2` pins TLS 1.2;
 * `TLSV1_3` (not in noPoll) pins TLS 1.3. `SSLV3`, `TLSV1` and `TLSV1_1` are refused with a RangeError.
 */
export const SslProtocol = {
  SSLV23: 2,
  SSLV3: 3,
  TLSV1: 4,
  TLSV1_1: 5,
  TLSV1_2: 6,
  TLS_FLEXIBLE: 7,
  TLSV1_3: 8,
} as const;
/** One of the {@link SslProtocol} values. */
export type SslProtocol = (typeof SslProtocol)[keyof typeof SslProtocol];

/**
 * TLS settings of a client connection or a listener (`ConnOptsInit.tls`). PEM inputs are text or a Buffer, or
 * `{ file: path }` to read them from the disk.
 */
export interface TlsOptions {
  /** Own certificate, leaf first: the client's certificate, or the listener's (it wins over the listener's own and the store's). */
  cert?: PemSource;
  /** Private key of `cert`. */
  key?: PemSource;
  /** Intermediate certificates sent after `cert` (noPoll's chain). */
  chain?: PemSource;
  /** Roots trusted to verify the peer. Default: Node's built-in list. */
  ca?: PemSource | readonly PemSource[];
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /**
   * Verify the peer (`nopoll_conn_opts_ssl_peer_verify`). Client: default **true**, the server's chain and its name
   * (`host`, or `serverName`) are checked; false accepts any certificate. Listener: default false; true requests
   * a client certificate and refuses clients without a valid one (mutual TLS, manual §3.1).
   */
  verifyPeer?: boolean;
  /** Client: the name sent as SNI and checked against the certificate (default: the host, none for an IP address). */
  serverName?: string;
  /**
   * Client: replaces the name check (Node's `tls.checkServerIdentity`), e.g. to pin a certificate: return an Error
   * to refuse. Runs after the chain verified, and only while `verifyPeer` is on.
   */
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
  /** Lowest TLS version (default TLS 1.2; older ones are refused). */
  minVersion?: TlsVersion;
  /** Highest TLS version (default TLS 1.3). */
  maxVersion?: TlsVersion;
  /** noPoll's protocol choice (`nopoll_conn_opts_set_ssl_protocol`); `minVersion`/`maxVersion` override it. */
  sslProtocol?: SslProtocol;
  /** OpenSSL cipher list for TLS 1.2 (Node's default when absent). */
  ciphers?: string;
  /** ALPN protocol names to offer (client) or accept (listener), in preference order. None by default. */
  alpnProtocols?: readonly string[];
}

/** A certificate with its key and optional chain, as given to a listener or the store. */
export interface CertificateInput {
  cert: PemSource;
  key: PemSource;
  chain?: PemSource | null;
}

/** An entry of the context's certificate store (`nopoll_ctx_find_certificate`), PEM already loaded. */
export interface CertificateEntry {
  /** The server name it is for, or null for the default entry. */
  readonly serverName: string | null;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly chain: string | Buffer | null;
}

/** What a {@link TlsContextCreator} is told about the connection. */
export interface TlsContextInfo {
  /** True for a client connection, false for one a listener accepted. */
  readonly isClient: boolean;
  /** The listener that accepted the connection (null for a client). */
  readonly listener: Listener | null;
  /** The TLS options in force (the client's, or the listener's). */
  readonly options: Readonly<TlsOptions>;
  /**
   * The context options nopoll would use: certificate, key and chain as chosen, trusted roots, versions, ciphers.
   * Spread them into the options returned to keep them.
   */
  readonly defaults: Readonly<SecureContextOptions>;
}

/**
 * Builds the secure context of each TLS connection, client or server (noPoll's ssl_context_creator, manual §3.3).
 * Return a `SecureContext` (used as is), `SecureContextOptions` (merged over `info.defaults`), or null/undefined
 * for the built-in context; a Promise of those is awaited. A throw or a rejection fails the connection with a
 * TlsError. Peer verification (`verifyPeer`, `checkServerIdentity`) stays as configured either way.
 */
export type TlsContextCreator = (
  conn: Conn,
  info: TlsContextInfo,
) => SecureContext | SecureContextOptions | null | undefined | Promise<SecureContext | SecureContextOptions | null | undefined>;

/**
 * Runs after every successful TLS handshake, client or server, before any WebSocket byte (noPoll's post_ssl_check,
 * manual §3.2). `socket` gives the peer certificate (`getPeerCertificate()`), cipher, protocol and the
 * authorization state. `false`, a throw or a rejection drops the connection with a TlsError.
 */
export type PostTlsCheckHandler = (conn: Conn, socket: TLSSocket) => Decision;

// ---------------------------------------------------------------------------------------------------------------
// The context's certificate store.

/**
 * The certificate store of a context (`nopoll_ctx_set_certificate` / `_find_certificate`). Entries are found by
 * server name; a listener with no certificate of its own presents the default entry, or the named entry that
 * matches the name a client asked for through SNI.
 */
export class CertificateStore {
  readonly #entries: CertificateEntry[] = [];
  #generation = 0;

  /**
   * Adds an entry, or replaces the one with the same server name (names compare case-insensitively).
   * @throws TypeError / TlsError for unusable PEM input (an unreadable file).
   */
  set(serverName: string | null, cert: PemSource, key: PemSource, chain?: PemSource | null): boolean {
    const name = serverName === null || serverName === '' ? null : serverName.toLowerCase();
    const entry: CertificateEntry = {
      serverName: name,
      cert: loadPem(cert, 'certificate'),
      key: loadPem(key, 'private key'),
      chain: chain == null ? null : loadPem(chain, 'certificate chain'),
    };
    const at = this.#entries.findIndex((e) => e.serverName === name);
    if (at >= 0) this.#entries[at] = entry;
    else this.#entries.push(entry);
    this.#generation++;
    return true;
  }

  /**
   * The entry for exactly `serverName`; with null, the default entry (stored without a name), or failing that the
   * first one, as noPoll's lookup does.
   */
  find(serverName: string | null = null): CertificateEntry | null {
    if (serverName === null || serverName === '') {
      return this.#entries.find((e) => e.serverName === null) ?? this.#entries[0] ?? null;
    }
    const name = serverName.toLowerCase();
    return this.#entries.find((e) => e.serverName === name) ?? null;
  }

  /** The named entry for a name a client sent through SNI: an exact name, else a `*.` wildcard one label deep. */
  match(serverName: string): CertificateEntry | null {
    const name = serverName.toLowerCase();
    const exact = this.#entries.find((e) => e.serverName === name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    if (dot <= 0) return null;
    const wildcard = `*${name.slice(dot)}`;
    return this.#entries.find((e) => e.serverName === wildcard) ?? null;
  }

  /** Removes the entry for `serverName` (null: the default entry). */
  remove(serverName: string | null): boolean {
    const name = serverName === null || serverName === '' ? null : serverName.toLowerCase();
    const at = this.#entries.findIndex((e) => e.serverName === name);
    if (at < 0) return false;
    this.#entries.splice(at, 1);
    this.#generation++;
    return true;
  }

  /** Every entry, in insertion order. */
  get entries(): readonly CertificateEntry[] {
    return this.#entries;
  }

  /** Whether an entry has a server name (only then is SNI consulted). */
  get hasNamed(): boolean {
    return this.#entries.some((e) => e.serverName !== null);
  }

  /** Changes whenever an entry is added, replaced or removed. */
  get generation(): number {
    return this.#generation;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Options.

/** TlsOptions with PEM loaded and versions checked. */
interface ResolvedTls {
  material: TlsMaterial;
  verifyPeer: boolean | undefined;
  serverName: string | undefined;
  checkServerIdentity: TlsOptions['checkServerIdentity'];
  alpnProtocols: readonly string[] | undefined;
}

/**
 * The TLS versions an {@link SslProtocol} stands for.
 * @throws RangeError for SSLv3, TLS 1.0, TLS 1.1 and unknown values.
 */
export function sslProtocolVersions(protocol: SslProtocol): { minVersion?: TlsVersion; maxVersion?: TlsVersion } {
  switch (protocol) {
    case SslProtocol.SSLV23:
    case SslProtocol.TLS_FLEXIBLE:
      return {};
    case SslProtocol.TLSV1_2:
      return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' };
    case SslProtocol.TLSV1_3:
      return { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' };
    case SslProtocol.SSLV3:
      throw new RangeError('SslProtocol.SSLV3 is refused: SSL 3.0 is broken (RFC 7568); use TLS_FLEXIBLE, TLSV1_2 or TLSV1_3');
    case SslProtocol.TLSV1:
    case SslProtocol.TLSV1_1:
      throw new RangeError(
        `SslProtocol.${protocol === SslProtocol.TLSV1 ? 'TLSV1' : 'TLSV1_1'} is refused: TLS 1.0 and 1.1 are deprecated (RFC 8996); use TLS_FLEXIBLE, TLSV1_2 or TLSV1_3`,
      );
    default:
      throw new RangeError(`unknown SslProtocol ${String(protocol)}`);
  }
}

/**
 * Checks TLS options and loads their PEM inputs.
 * @throws TypeError / RangeError for unusable options; TlsError for an unreadable file.
 */
function resolveTls(options: TlsOptions | undefined): ResolvedTls {
  const o = options ?? {};
  if ((o.cert === undefined) !== (o.key === undefined)) throw new TypeError('tls.cert and tls.key go together: give both or neither');
  const pinned = o.sslProtocol === undefined ? {} : sslProtocolVersions(o.sslProtocol);
  const { minVersion, maxVersion } = resolveVersions(o.minVersion ?? pinned.minVersion, o.maxVersion ?? pinned.maxVersion);
  const caList = o.ca === undefined ? undefined : Array.isArray(o.ca) ? (o.ca as readonly PemSource[]) : [o.ca as PemSource];
  if (o.alpnProtocols !== undefined && (!Array.isArray(o.alpnProtocols) || o.alpnProtocols.some((p) => typeof p !== 'string' || p === ''))) {
    throw new TypeError('tls.alpnProtocols must be a list of non-empty strings');
  }
  return {
    material: {
      cert: o.cert === undefined ? undefined : loadPem(o.cert, 'certificate'),
      key: o.key === undefined ? undefined : loadPem(o.key, 'private key'),
      chain: o.chain === undefined ? undefined : loadPem(o.chain, 'certificate chain'),
      ca: caList?.map((ca) => loadPem(ca, 'CA certificate')),
      passphrase: o.passphrase,
      ciphers: o.ciphers,
      minVersion,
      maxVersion,
    },
    verifyPeer: o.verifyPeer,
    serverName: o.serverName,
    checkServerIdentity: o.checkServerIdentity,
    alpnProtocols: o.alpnProtocols,
  };
}

// A SecureContext carries its native context; options never have that field.
function isSecureContext(value: unknown): value is SecureContext {
  return typeof value === 'object' && value !== null && typeof (value as { context?: unknown }).context === 'object';
}

/** Builds a context, turning OpenSSL's complaints (a key that does not match, bad PEM) into a TlsError. */
function buildContext(options: SecureContextOptions, what: string): SecureContext {
  try {
    return createSecureContext(options);
  } catch (error) {
    throw new TlsError(`cannot use the ${what}: ${(error as Error).message}`, { cause: error });
  }
}

// Calls the context creator (if any) and reports the context to use: null means the built-in one.
function createContext(
  ctx: Context,
  conn: Conn,
  info: TlsContextInfo,
  then: (error: Error | null, context: SecureContext | null) => void,
): void {
  const creator = ctx.tlsContextCreator;
  if (creator === null) return then(null, null);
  const refused = (error: unknown): void => {
    ctx.handlerError(error, conn);
    then(new TlsError(`the TLS context creator failed: ${String((error as Error)?.message ?? error)}`, { cause: error }), null);
  };
  const settle = (value: SecureContext | SecureContextOptions | null | undefined): void => {
    if (value === null || value === undefined) return then(null, null);
    if (isSecureContext(value)) return then(null, value);
    let context: SecureContext;
    try {
      const merged: SecureContextOptions = { ...info.defaults, ...value };
      // The version policy holds for what the creator returns too.
      const versions = resolveVersions(merged.minVersion, merged.maxVersion);
      context = buildContext({ ...merged, ...versions }, 'options the TLS context creator returned');
    } catch (error) {
      return then(error instanceof TlsError ? error : new TlsError(`the TLS context creator returned unusable options: ${(error as Error).message}`, { cause: error }), null);
    }
    then(null, context);
  };
  let result: ReturnType<TlsContextCreator>;
  try {
    result = creator(conn, info);
  } catch (error) {
    return refused(error);
  }
  if (result instanceof Promise) result.then(settle, refused);
  else settle(result);
}

// The post-handshake check, read when the handshake completes.
function postCheck(ctx: Context, conn: Conn): TlsCheck {
  return (socket, proceed) => {
    const handler = ctx.postTlsCheck;
    if (handler === null) return proceed(true);
    conn.decide((c) => handler(c, socket), proceed);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Listeners.

/** A listener's TLS state, kept here so the Listener class only forwards to it. */
interface ListenerTls {
  /** Listens for wss:// (accepted sockets are wrapped). Detached listeners are false but can still accept TLS. */
  enabled: boolean;
  /** Its certificate (`nopoll_listener_set_certificate`). */
  certificate: CertificateEntry | null;
  certificateGeneration: number;
  /** The listener options' TLS part, resolved once. */
  resolved: ResolvedTls | null;
  /** The built-in contexts, valid while `key` matches. */
  cache: { key: string; context: SecureContext | null; defaults: SecureContextOptions; sni: Map<CertificateEntry, SecureContext> } | null;
}

const listenerTls = new WeakMap<Listener, ListenerTls>();

function stateOf(listener: Listener): ListenerTls {
  let state = listenerTls.get(listener);
  if (state === undefined) {
    state = { enabled: false, certificate: null, certificateGeneration: 0, resolved: null, cache: null };
    listenerTls.set(listener, state);
  }
  return state;
}

/** A TLS listener prepared before its socket is bound (so bad options fail the `listen` call). */
export interface PreparedListenerTls {
  resolved: ResolvedTls;
  certificate: CertificateEntry | null;
}

/**
 * Checks a listener's TLS options and loads its certificate files.
 * @throws TypeError / RangeError / TlsError as {@link resolveTls}.
 */
export function prepareListenerTls(options: TlsOptions | undefined, certificate: CertificateInput | undefined): PreparedListenerTls {
  return { resolved: resolveTls(options), certificate: certificate ? certificateEntry(certificate) : null };
}

/** @internal Marks a new listener as a TLS one. */
export function enableListenerTls(listener: Listener, prepared: PreparedListenerTls): void {
  const state = stateOf(listener);
  state.enabled = true;
  state.resolved = prepared.resolved;
  state.certificate = prepared.certificate;
  state.certificateGeneration++;
}

/** Whether the listener wraps every accepted socket in TLS. */
export function isTlsListener(listener: Listener): boolean {
  return listenerTls.get(listener)?.enabled ?? false;
}

/** Sets the listener's certificate (`nopoll_listener_set_certificate`). */
export function setListenerCertificate(listener: Listener, certificate: CertificateInput): void {
  const state = stateOf(listener);
  state.certificate = certificateEntry(certificate);
  state.certificateGeneration++;
}

/** The listener's own certificate, or null. */
export function listenerCertificate(listener: Listener): CertificateEntry | null {
  return listenerTls.get(listener)?.certificate ?? null;
}

function certificateEntry(input: CertificateInput): CertificateEntry {
  if (input === null || typeof input !== 'object') throw new TypeError('a certificate is { cert, key, chain? }');
  return {
    serverName: null,
    cert: loadPem(input.cert, 'certificate'),
    key: loadPem(input.key, 'private key'),
    chain: input.chain == null ? null : loadPem(input.chain, 'certificate chain'),
  };
}

// The listener's built-in context options and contexts, rebuilt when a certificate changed.
function listenerContexts(listener: Listener, state: ListenerTls): NonNullable<ListenerTls['cache']> {
  const store = listener.ctx.certificateStore;
  const key = `${store.generation}/${state.certificateGeneration}`;
  if (state.cache !== null && state.cache.key === key) return state.cache;
  const resolved = (state.resolved ??= resolveTls(listener.opts.tls));
  const own = resolved.material.cert !== undefined;
  const chosen: { cert: string | Buffer; key: string | Buffer; chain: string | Buffer | null } | null = own
    ? { cert: resolved.material.cert!, key: resolved.material.key!, chain: resolved.material.chain ?? null }
    : (state.certificate ?? store.find(null));
  const defaults = secureContextOptions({
    ...resolved.material,
    cert: chosen?.cert,
    key: chosen?.key,
    chain: chosen?.chain ?? undefined,
  });
  const context = chosen === null ? null : buildContext(defaults, 'listener certificate');
  state.cache = { key, context, defaults, sni: new Map() };
  return state.cache;
}

/**
 * Runs the TLS side of an accept (noPoll's `nopoll_conn_accept_complete` with TLS on): wraps `socket` (after
 * putting `head` back), presents the certificate, verifies the client when the listener's `verifyPeer` is on,
 * runs the post-handshake check, then hands the secured socket to `proceed` for the WebSocket handshake. On a
 * failure the connection fails with a TlsError or a TimeoutError (phase `'tls'`).
 */
export function acceptTlsConn(listener: Listener, conn: Conn, socket: Socket, head: Buffer | null, proceed: (secured: TLSSocket) => void): void {
  acceptListenerTls(listener, conn, socket, head, null, proceed);
}

/**
 * The TLS side of an accept on a listener that serves HTTP/2 (RFC 8441): as {@link acceptTlsConn}, with ALPN
 * offering `h2` and `http/1.1`, before any connection exists (an HTTP/2 connection carries many). `proceed` reads
 * `secured.alpnProtocol`. The post-handshake check is left to each connection ({@link checkAcceptedTls}); a
 * context creator, which is given a connection, cannot run here: with one set the socket is refused (fail closed).
 * Failures are logged and the socket destroyed.
 */
export function acceptHttp2Tls(listener: Listener, socket: Socket, head: Buffer | null, proceed: (secured: TLSSocket) => void): void {
  acceptListenerTls(listener, null, socket, head, H2_ALPN, proceed);
}

/**
 * Runs the post-handshake check for a connection that arrived over a TLS socket accepted by
 * {@link acceptHttp2Tls}, then `proceed`; a refusal fails the connection with a TlsError.
 */
export function checkAcceptedTls(conn: Conn, socket: TLSSocket, proceed: () => void): void {
  postCheck(conn.ctx, conn)(socket, (accepted) => {
    if (!conn.isOk) return;
    if (accepted && !socket.destroyed) proceed();
    else conn.fail(new TlsError('refused by the post-handshake check'));
  });
}

// ALPN of HTTP/2 with HTTP/1.1 beside it (RFC 9113 §3.2), in preference order.
const H2_ALPN: readonly string[] = ['h2', 'http/1.1'];

// The server TLS accept for a connection (`conn`), or for a socket that has none yet (HTTP/2, `conn` null).
function acceptListenerTls(
  listener: Listener,
  conn: Conn | null,
  socket: Socket,
  head: Buffer | null,
  alpn: readonly string[] | null,
  proceed: (secured: TLSSocket) => void,
): void {
  const ctx = listener.ctx;
  const peer = conn !== null ? `${conn.host}:${conn.port}` : `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
  const isOk = (): boolean => (conn !== null ? conn.isOk : !socket.destroyed);
  const fail = (error: Error): void => {
    if (conn !== null) return conn.fail(error);
    ctx.log('debug', `TLS accept from ${peer} failed: ${error.message}`);
    socket.destroy();
  };
  if (head !== null && head.length > 0) {
    socket.pause();
    socket.unshift(head);
  }
  const state = stateOf(listener);
  let contexts: NonNullable<ListenerTls['cache']>;
  try {
    contexts = listenerContexts(listener, state);
  } catch (error) {
    ctx.log('critical', `TLS listener ${listener.host}:${listener.port}: ${(error as Error).message}`);
    fail(error instanceof TlsError ? error : new TlsError((error as Error).message, { cause: error }));
    return;
  }
  const resolved = state.resolved!;
  const info: TlsContextInfo = { isClient: false, listener, options: listener.opts.tls ?? {}, defaults: contexts.defaults };
  // One time limit for the context creator, the handshake and the post-handshake check.
  const timeoutMs = listener.opts.handshakeTimeoutMs ?? ctx.handshakeTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const creatorTimer =
    ctx.tlsContextCreator === null
      ? null
      : setTimeout(() => fail(new TimeoutError('tls', `the TLS context creator did not answer within ${timeoutMs} ms`)), timeoutMs);
  const withContext = (error: Error | null, created: SecureContext | null): void => {
    if (creatorTimer !== null) clearTimeout(creatorTimer);
    if (!isOk()) return;
    if (error) return fail(error);
    const secureContext = created ?? contexts.context;
    if (secureContext === null) {
      ctx.log('critical', `TLS listener ${listener.host}:${listener.port} has no certificate`);
      return fail(new TlsError('no certificate for this TLS listener: set tls.cert in its options, listener.setCertificate() or ctx.setCertificate()'));
    }
    const store = ctx.certificateStore;
    // SNI picks a named store entry, unless the context creator chose the context.
    const sni =
      created === null && store.hasNamed
        ? (name: string): SecureContext | undefined => {
            const entry = store.match(name);
            if (entry === null) return undefined;
            let context = contexts.sni.get(entry);
            if (context === undefined) {
              context = buildContext(
                secureContextOptions({ ...resolved.material, cert: entry.cert, key: entry.key, chain: entry.chain ?? undefined }),
                `store certificate for ${entry.serverName}`,
              );
              contexts.sni.set(entry, context);
            }
            return context;
          }
        : undefined;
    let secured: TLSSocket;
    try {
      secured = acceptTls(
        socket,
        {
          secureContext,
          verifyPeer: resolved.verifyPeer ?? false,
          sni,
          alpnProtocols: alpn ?? resolved.alpnProtocols,
          timeoutMs: Math.max(1, deadline - Date.now()),
        },
        conn !== null ? postCheck(ctx, conn) : null,
        (failure, ok) => {
          if (failure || !ok) {
            ctx.log('debug', `TLS accept from ${peer} failed: ${failure?.message}`);
            fail(failure ?? new TlsError('TLS handshake failed'));
            return;
          }
          if (isOk()) proceed(ok);
        },
      );
    } catch (failure) {
      // Node refused to wrap the socket (it may have gone meanwhile): end this connection, not the process.
      fail(new TlsError(`cannot start TLS: ${(failure as Error).message}`, { cause: failure }));
      return;
    }
    conn?.attach(secured, true);
  };
  if (conn === null) {
    if (ctx.tlsContextCreator !== null) {
      ctx.log('critical', `TLS listener ${listener.host}:${listener.port}: a TLS context creator cannot serve an HTTP/2 listener; connection refused`);
      return withContext(new TlsError('the TLS context creator is not supported on an HTTP/2 listener'), null);
    }
    return withContext(null, null);
  }
  createContext(ctx, conn, info, withContext);
}

// ---------------------------------------------------------------------------------------------------------------
// Clients.

/** A `wss://` client's TLS step, prepared before the connection exists. */
export interface ClientTlsPlan {
  /**
   * Binds the plan to its connection: the `upgrade` for `connectClient` and the error mapping for its result.
   * For an HTTP/2 session (`http2`), ALPN offers `h2` and `http/1.1` and the TLS socket is not attached to the
   * connection: it carries the session, shared by several connections.
   */
  bind(conn: Conn, timeoutMs: number, http2?: boolean): {
    upgrade: (socket: Socket, done: (error: Error | null, upgraded?: Socket) => void) => void;
    /** The error to report for a failed attempt: TLS-stage failures become TlsError or TimeoutError('tls'). */
    explain(error: Error): Error;
  };
}

/**
 * Checks a client's TLS options, loads their PEM inputs and builds the default context (so mistakes throw from
 * `connect()`).
 * @throws TypeError / RangeError for unusable options; TlsError for an unreadable file or unusable PEM.
 */
export function prepareClientTls(ctx: Context, options: TlsOptions | undefined, host: string): ClientTlsPlan {
  const resolved = resolveTls(options);
  const defaults = secureContextOptions(resolved.material);
  const builtIn = ctx.tlsContextCreator === null ? buildContext(defaults, 'client TLS options') : null;
  return {
    bind(conn, timeoutMs, http2 = false) {
      let tcpConnected = false;
      let secure = false;
      return {
        upgrade(socket, done) {
          tcpConnected = true;
          const info: TlsContextInfo = { isClient: true, listener: null, options: options ?? {}, defaults };
          createContext(ctx, conn, info, (error, created) => {
            if (error) return done(error);
            let context: SecureContext;
            try {
              context = created ?? builtIn ?? buildContext(defaults, 'client TLS options');
            } catch (failure) {
              return done(failure as Error);
            }
            if (socket.destroyed) return done(new TlsError('the connection closed before the TLS handshake'));
            try {
              startClientTls(
                socket,
                {
                  host,
                  serverName: resolved.serverName,
                  secureContext: context,
                  verifyPeer: resolved.verifyPeer ?? true,
                  checkServerIdentity: resolved.checkServerIdentity,
                  alpnProtocols: http2 ? H2_ALPN : resolved.alpnProtocols,
                },
                postCheck(ctx, conn),
                (failure, ok) => {
                  if (ok) secure = true;
                  done(failure, ok);
                  // Attached once connectClient listens on it, so that its view of an early close comes first, as
                  // on a plain connection. Until then `conn.socket` is the TCP socket, which carries the TLS one.
                  if (ok && conn.isOk && !http2) conn.attach(ok, true);
                },
              );
            } catch (failure) {
              done(new TlsError(`cannot start TLS: ${(failure as Error).message}`, { cause: failure }));
            }
          });
        },
        explain(error) {
          if (error instanceof TlsError) return error;
          if (tcpConnected && !secure) {
            if (error instanceof TimeoutError) return new TimeoutError('tls', `no TLS handshake within ${timeoutMs} ms`);
            return new TlsError(`the TLS handshake did not complete: ${error.message}`, { cause: error });
          }
          // After the handshake, the TLS layer can still refuse: a TLS 1.3 server rejects a client certificate
          // with an alert that arrives once the client has sent its request.
          const cause = (error as { cause?: unknown }).cause;
          if (secure && (isTlsLayerError(cause) || isTlsLayerError(error))) {
            const source = isTlsLayerError(cause) ? (cause as Error) : error;
            return new TlsError(`the TLS peer refused the connection: ${describeTlsError(source)}`, { cause: source });
          }
          return error;
        },
      };
    },
  };
}

// Port sharing (manual §2.2) hands TLS connections to `listener.acceptComplete(socket, head, { tls: true })`,
// which completes them through this hook (the bytes read while sniffing are already back in the socket).
setTlsAcceptHook((listener, socket) => listener.acceptTlsSocket(socket));
