/**
 * TLS sockets for `wss://` (noPoll manual §3, `nopoll-api.md` §3.11): the server-side TLS accept on a socket a
 * listener accepted, the client-side TLS handshake on a socket `connectClient` connected, secure-context options
 * from PEM material, the TLS version policy, and the post-handshake check gate. Certificates are chosen by the API
 * layer; this module only builds sockets from what it is given.
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import {
  connect as tlsConnect,
  TLSSocket,
  type ConnectionOptions,
  type PeerCertificate,
  type SecureContext,
  type SecureContextOptions,
} from 'node:tls';
import { TimeoutError, TlsError } from '../errors.js';

/** TLS protocol versions nopoll accepts. Older ones (SSLv3, TLS 1.0, TLS 1.1) are refused (RFC 8996). */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** PEM text, or a file to read it from. */
export type PemSource = string | Buffer | { readonly file: string };

const VERSIONS: readonly string[] = ['TLSv1.2', 'TLSv1.3'];
const REFUSED_VERSIONS: Readonly<Record<string, string>> = {
  SSLv2: 'SSL 2.0',
  SSLv3: 'SSL 3.0',
  TLSv1: 'TLS 1.0',
  'TLSv1.1': 'TLS 1.1',
};

/**
 * Checks a minimum and maximum TLS version and fills in the defaults (TLS 1.2 to TLS 1.3). The minimum is always
 * set explicitly, so a process started with `--tls-min-v1.0` still never negotiates below TLS 1.2.
 * @throws RangeError for an unknown or refused version, or a minimum above the maximum.
 */
export function resolveVersions(
  min: string | undefined,
  max: string | undefined,
): { minVersion: TlsVersion; maxVersion: TlsVersion } {
  const minVersion = checkVersion(min, 'minVersion') ?? 'TLSv1.2';
  const maxVersion = checkVersion(max, 'maxVersion') ?? 'TLSv1.3';
  if (VERSIONS.indexOf(minVersion) > VERSIONS.indexOf(maxVersion)) {
    throw new RangeError(`the minimum TLS version ${minVersion} is above the maximum ${maxVersion}`);
  }
  return { minVersion, maxVersion };
}

function checkVersion(version: string | undefined, name: string): TlsVersion | undefined {
  if (version === undefined) return undefined;
  if (VERSIONS.includes(version)) return version as TlsVersion;
  const old = REFUSED_VERSIONS[version];
  if (old !== undefined) {
    throw new RangeError(
      `${name}: ${old} is refused; nopoll speaks TLS 1.2 and TLS 1.3 only (RFC 8996 deprecates the older versions)`,
    );
  }
  throw new RangeError(`${name} must be 'TLSv1.2' or 'TLSv1.3', got ${JSON.stringify(version)}`);
}

/**
 * Reads one PEM source: text or a Buffer as given, `{ file }` from the disk.
 * @throws TypeError for a string that is not PEM (a file name must be given as `{ file }`); TlsError when the file
 * cannot be read.
 */
export function loadPem(source: PemSource, what: string): string | Buffer {
  if (typeof source === 'string') {
    // The text is not repeated in the message: it may be key material.
    if (!source.includes('-----BEGIN ')) {
      throw new TypeError(
        `${what} must be PEM text ("-----BEGIN ...") or { file: path }; a file name must be given as { file: name }`,
      );
    }
    return source;
  }
  if (Buffer.isBuffer(source)) return source;
  if (source !== null && typeof source === 'object' && typeof source.file === 'string') {
    try {
      return readFileSync(source.file);
    } catch (error) {
      throw new TlsError(`cannot read the ${what} file ${source.file}: ${(error as Error).message}`, { cause: error });
    }
  }
  throw new TypeError(`${what} must be PEM text, a Buffer or { file: path }`);
}

/** Certificates, keys and settings to build a secure context from, already loaded. */
export interface TlsMaterial {
  /** Own certificate (PEM), leaf first. */
  cert?: string | Buffer | undefined;
  /** Own private key (PEM). */
  key?: string | Buffer | undefined;
  /** Intermediate certificates sent after `cert` (noPoll's chain). */
  chain?: string | Buffer | undefined;
  /** Trusted roots for verifying the peer; Node's built-in list when absent. */
  ca?: ReadonlyArray<string | Buffer> | undefined;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string | undefined;
  /** OpenSSL cipher list (TLS 1.2 and below). */
  ciphers?: string | undefined;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
}

/** The `tls.createSecureContext` options for `material`. The chain goes after the certificate in `cert`. */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  const options: SecureContextOptions = { minVersion: material.minVersion, maxVersion: material.maxVersion };
  if (material.cert !== undefined) {
    options.cert =
      material.chain === undefined
        ? material.cert
        : Buffer.concat([pemBuffer(material.cert), NEWLINE, pemBuffer(material.chain)]);
  }
  if (material.key !== undefined) options.key = material.key;
  if (material.passphrase !== undefined) options.passphrase = material.passphrase;
  if (material.ca !== undefined) options.ca = [...material.ca];
  if (material.ciphers !== undefined) options.ciphers = material.ciphers;
  return options;
}

const NEWLINE = Buffer.from('\n');

function pemBuffer(pem: string | Buffer): Buffer {
  return typeof pem === 'string' ? Buffer.from(pem, 'utf8') : pem;
}

/**
 * A check run after a successful TLS handshake, before any WebSocket byte (noPoll's post_ssl_check): it calls
 * `proceed(true)` to go on or `proceed(false)` to drop the connection.
 */
export type TlsCheck = (socket: TLSSocket, proceed: (accepted: boolean) => void) => void;

/** How to run the server side of a TLS handshake. */
export interface ServerTlsSettings {
  /** The context presented when SNI selects nothing else. */
  secureContext: SecureContext;
  /** Request and verify a client certificate (mutual TLS): a client without a valid one is refused. */
  verifyPeer: boolean;
  /** Picks a context by the server name the client sent (SNI); undefined keeps `secureContext`. */
  sni?: ((serverName: string) => SecureContext | undefined) | undefined;
  /** ALPN protocols offered, in preference order (none by default). */
  alpnProtocols?: readonly string[] | undefined;
  /** Time for the whole TLS handshake, the client-certificate check and the post-handshake check. */
  timeoutMs: number;
}

/**
 * Wraps an accepted socket in a server-side `TLSSocket` and runs the handshake. Bytes already read from `socket`
 * must have been put back (`socket.unshift`) before the call. `done` is called once: with the secured socket after
 * the handshake, the client-certificate check (with `verifyPeer`) and `check` succeeded, or with a TlsError or a
 * TimeoutError (phase `'tls'`) after the socket was destroyed. Returns the TLS socket at once.
 */
export function acceptTls(
  socket: Socket,
  settings: ServerTlsSettings,
  check: TlsCheck | null,
  done: (error: Error | null, secured?: TLSSocket) => void,
): TLSSocket {
  const sni = settings.sni;
  const secured = new TLSSocket(socket, {
    isServer: true,
    secureContext: settings.secureContext,
    requestCert: settings.verifyPeer,
    rejectUnauthorized: settings.verifyPeer,
    ...(sni
      ? {
          SNICallback: (name: string, answer: (error: Error | null, context?: SecureContext) => void) =>
            sniAnswer(sni, name, answer),
        }
      : {}),
    ...(settings.alpnProtocols && settings.alpnProtocols.length > 0
      ? { ALPNProtocols: [...settings.alpnProtocols] }
      : {}),
  });
  const gate = handshakeGate(secured, socket, check, done);
  const timer = setTimeout(
    () => gate.fail(new TimeoutError('tls', `no TLS handshake within ${settings.timeoutMs} ms`)),
    settings.timeoutMs,
  );
  gate.onEnd(() => clearTimeout(timer));
  secured.once('secure', () => {
    // OpenSSL accepts every client chain so that JavaScript can decide; tls.Server makes that decision for its own
    // sockets, a TLSSocket made by hand must make it itself. Without the check available, refuse (fail closed).
    if (settings.verifyPeer) {
      const refusal = clientCertificateError(secured);
      if (refusal !== null) {
        gate.fail(new TlsError(`client certificate refused: ${refusal}`));
        return;
      }
      // What tls.Server reports for a verified client, so a post-handshake check can read it as usual.
      secured.authorized = true;
    }
    gate.secure();
  });
  return secured;
}

// Answers an SNI request; a context that cannot be built fails the handshake instead of escaping into OpenSSL's
// callback.
function sniAnswer(
  sni: (serverName: string) => SecureContext | undefined,
  name: string,
  answer: (error: Error | null, context?: SecureContext) => void,
): void {
  let context: SecureContext | undefined;
  try {
    context = sni(name);
  } catch (error) {
    answer(error as Error);
    return;
  }
  answer(null, context);
}

// The verification result OpenSSL recorded for the client's certificate chain, as an error code, or null when the
// chain verified. Node keeps it on the socket's native handle (`ssl.verifyError()`, what tls.Server reads).
function clientCertificateError(socket: TLSSocket): string | null {
  const cert = socket.getPeerCertificate() as PeerCertificate | null;
  if (cert === null || Object.keys(cert).length === 0) return 'the client sent no certificate';
  const handle = (socket as unknown as { ssl?: { verifyError?: () => (Error & { code?: string }) | null } }).ssl;
  if (typeof handle?.verifyError !== 'function') return 'its verification result is not available';
  const error = handle.verifyError();
  return error ? (error.code ?? error.message) : null;
}

/** How to run the client side of a TLS handshake. */
export interface ClientTlsSettings {
  /** The host connected to: the name checked against the certificate unless `serverName` is given. */
  host: string;
  /** The name sent as SNI and checked against the certificate (none is sent for an IP address). */
  serverName?: string | undefined;
  /** The context (own certificate, trusted roots, versions). */
  secureContext: SecureContext;
  /** Verify the server's chain and name; false accepts any certificate. */
  verifyPeer: boolean;
  /** Replaces the name check (Node's `tls.checkServerIdentity`): return an Error to refuse. */
  checkServerIdentity?: ((hostname: string, cert: PeerCertificate) => Error | undefined) | undefined;
  /** ALPN protocols offered (none by default). */
  alpnProtocols?: readonly string[] | undefined;
}

/**
 * Runs the client side of a TLS handshake over a connected socket. `done` is called once: with the secured socket
 * after the handshake, the server's verification (unless `verifyPeer` is false) and `check` succeeded, or with a
 * TlsError after the socket was destroyed. There is no timer here: the caller's connect timeout covers it.
 * Returns the TLS socket at once.
 */
export function startClientTls(
  socket: Socket,
  settings: ClientTlsSettings,
  check: TlsCheck | null,
  done: (error: Error | null, secured?: TLSSocket) => void,
): TLSSocket {
  const options: ConnectionOptions = {
    socket,
    host: settings.host,
    secureContext: settings.secureContext,
    rejectUnauthorized: settings.verifyPeer,
  };
  if (settings.serverName !== undefined) options.servername = settings.serverName;
  if (settings.checkServerIdentity !== undefined) options.checkServerIdentity = settings.checkServerIdentity;
  if (settings.alpnProtocols && settings.alpnProtocols.length > 0) options.ALPNProtocols = [...settings.alpnProtocols];
  const secured = tlsConnect(options);
  const gate = handshakeGate(secured, null, check, done);
  secured.once('secureConnect', () => gate.secure());
  return secured;
}

// Shared by both sides: waits for the handshake, turns errors and an early close into TlsError, runs the check.
// `tcp`, the socket under the TLS one, may report its close first: it is watched ahead of its other listeners.
function handshakeGate(
  secured: TLSSocket,
  tcp: Socket | null,
  check: TlsCheck | null,
  done: (error: Error | null, secured?: TLSSocket) => void,
): { secure(): void; fail(error: Error): void; onEnd(cleanup: () => void): void } {
  let finished = false;
  const cleanups: Array<() => void> = [];
  const end = (): void => {
    finished = true;
    secured.off('error', onError);
    secured.off('close', onClose);
    tcp?.off('close', onClose);
    for (const cleanup of cleanups) cleanup();
  };
  const fail = (error: Error): void => {
    if (finished) return;
    end();
    secured.destroy();
    done(error);
  };
  const onError = (error: Error): void => fail(tlsFailure(error));
  const onClose = (): void => fail(new TlsError('the connection closed during the TLS handshake'));
  secured.on('error', onError);
  secured.on('close', onClose);
  tcp?.prependListener('close', onClose);
  const pass = (): void => {
    if (finished) return;
    end();
    done(null, secured);
  };
  return {
    secure: () => {
      if (finished) return;
      if (check === null) return pass();
      check(secured, (accepted) => {
        if (finished) return;
        if (accepted && !secured.destroyed) pass();
        else fail(new TlsError('refused by the post-handshake check'));
      });
    },
    fail,
    onEnd: (cleanup) => cleanups.push(cleanup),
  };
}

/** A TlsError for a socket error met during (or caused by) a TLS handshake; TlsError and TimeoutError pass as is. */
export function tlsFailure(error: Error): Error {
  if (error instanceof TlsError || error instanceof TimeoutError) return error;
  return new TlsError(`TLS handshake failed: ${describeTlsError(error)}`, { cause: error });
}

/** A one-line description of a socket or OpenSSL error, with its code: "wrong version number (ERR_SSL_...)". */
export function describeTlsError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const text = firstLine(error.message);
  return typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
}

/**
 * True for an error raised by the TLS layer itself (an OpenSSL error, an alert from the peer, a certificate the
 * verification refused), as opposed to a plain socket error.
 */
export function isTlsLayerError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'))) return true;
  return (error as { library?: unknown } | null)?.library === 'SSL routines';
}

// OpenSSL messages span lines ("...:error:0A00010B:SSL routines:...:wrong version number:..."). BoringSSL (Bun)
// gives the bare reason name ("WRONG_VERSION_NUMBER"): written as OpenSSL words, the text reads the same on both.
function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  const match = /SSL routines:[^:]*:([^:]+)/.exec(line);
  const text = match?.[1] ?? line;
  return /^[A-Z0-9]+(?:_[A-Z0-9]+)+$/.test(text) ? text.toLowerCase().replaceAll('_', ' ') : text;
}
