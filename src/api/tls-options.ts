/**
 * TLS (`wss://`, noPoll manual §3): the public TLS options and handler types, and what turns them into Node secure
 * contexts: option checks and PEM loading, the context creator hook (manual §3.3) and the post-handshake check
 * hook (manual §3.2). Listeners and clients apply them in listener-tls.ts and client-tls.ts.
 * @packageDocumentation
 */
import {
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
  type SecureContextOptions,
  type TLSSocket,
} from 'node:tls';
import { TlsError } from '../errors.js';
import {
  loadPem,
  resolveVersions,
  type PemSource,
  type TlsCheck,
  type TlsMaterial,
  type TlsVersion,
} from '../transport/tls.js';
import type { Conn } from './conn.js';
import type { Context } from './context.js';
import type { Decision } from './handlers.js';
import type { Listener } from './listener.js';

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
) =>
  | SecureContext
  | SecureContextOptions
  | null
  | undefined
  | Promise<SecureContext | SecureContextOptions | null | undefined>;

/**
 * Runs after every successful TLS handshake, client or server, before any WebSocket byte (noPoll's post_ssl_check,
 * manual §3.2). `socket` gives the peer certificate (`getPeerCertificate()`), cipher, protocol and the
 * authorization state. `false`, a throw or a rejection drops the connection with a TlsError.
 */
export type PostTlsCheckHandler = (conn: Conn, socket: TLSSocket) => Decision;

// ---------------------------------------------------------------------------------------------------------------
// Options.

/** TlsOptions with PEM loaded and versions checked. */
export interface ResolvedTls {
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
      throw new RangeError(
        'SslProtocol.SSLV3 is refused: SSL 3.0 is broken (RFC 7568); use TLS_FLEXIBLE, TLSV1_2 or TLSV1_3',
      );
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
 * @internal Checks TLS options and loads their PEM inputs.
 * @throws TypeError / RangeError for unusable options; TlsError for an unreadable file.
 */
export function resolveTls(options: TlsOptions | undefined): ResolvedTls {
  const o = options ?? {};
  if ((o.cert === undefined) !== (o.key === undefined))
    throw new TypeError('tls.cert and tls.key go together: give both or neither');
  const pinned = o.sslProtocol === undefined ? {} : sslProtocolVersions(o.sslProtocol);
  const { minVersion, maxVersion } = resolveVersions(
    o.minVersion ?? pinned.minVersion,
    o.maxVersion ?? pinned.maxVersion,
  );
  const caList =
    o.ca === undefined ? undefined : Array.isArray(o.ca) ? (o.ca as readonly PemSource[]) : [o.ca as PemSource];
  if (
    o.alpnProtocols !== undefined &&
    (!Array.isArray(o.alpnProtocols) || o.alpnProtocols.some((p) => typeof p !== 'string' || p === ''))
  ) {
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

/** @internal Builds a context, turning OpenSSL's complaints (a key that does not match, bad PEM) into a TlsError. */
export function buildContext(options: SecureContextOptions, what: string): SecureContext {
  try {
    return createSecureContext(options);
  } catch (error) {
    throw new TlsError(`cannot use the ${what}: ${(error as Error).message}`, { cause: error });
  }
}

/** @internal Calls the context creator (if any) and reports the context to use: null means the built-in one. */
export function createContext(
  ctx: Context,
  conn: Conn,
  info: TlsContextInfo,
  then: (error: Error | null, context: SecureContext | null) => void,
): void {
  const creator = ctx.tlsContextCreator;
  if (creator === null) return then(null, null);
  const refused = (error: unknown): void => {
    ctx.handlerError(error, conn);
    then(
      new TlsError(`the TLS context creator failed: ${String((error as Error)?.message ?? error)}`, { cause: error }),
      null,
    );
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
      return then(
        error instanceof TlsError
          ? error
          : new TlsError(`the TLS context creator returned unusable options: ${(error as Error).message}`, {
              cause: error,
            }),
        null,
      );
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

/** @internal The post-handshake check, read when the handshake completes. */
export function postCheck(ctx: Context, conn: Conn): TlsCheck {
  return (socket, proceed) => {
    const handler = ctx.postTlsCheck;
    if (handler === null) return proceed(true);
    conn.decide((c) => handler(c, socket), proceed);
  };
}
