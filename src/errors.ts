/**
 * Every error nopoll produces. A leaf module: it imports nothing, so each layer may use it.
 *
 * Errors caused by the peer carry the close code sent (or that should be sent) on the wire; errors caused by the
 * caller are plain `TypeError`/`RangeError` thrown at the API boundary.
 * @packageDocumentation
 */

/** Stable machine-readable error codes, one per failure kind. */
export type ErrorCode =
  | 'NOPOLL_ERR_INVALID_OPCODE'
  | 'NOPOLL_ERR_UNEXPECTED_RSV'
  | 'NOPOLL_ERR_MASK_REQUIRED'
  | 'NOPOLL_ERR_UNEXPECTED_MASK'
  | 'NOPOLL_ERR_CONTROL_FRAME_TOO_LONG'
  | 'NOPOLL_ERR_FRAGMENTED_CONTROL'
  | 'NOPOLL_ERR_UNEXPECTED_CONTINUATION'
  | 'NOPOLL_ERR_EXPECTED_CONTINUATION'
  | 'NOPOLL_ERR_INVALID_CLOSE_CODE'
  | 'NOPOLL_ERR_INVALID_CLOSE_BODY'
  | 'NOPOLL_ERR_INVALID_LENGTH'
  | 'NOPOLL_ERR_INVALID_UTF8'
  | 'NOPOLL_ERR_INVALID_COMPRESSED_DATA'
  | 'NOPOLL_ERR_MESSAGE_TOO_BIG'
  | 'NOPOLL_ERR_POLICY_VIOLATION'
  | 'NOPOLL_ERR_HANDSHAKE'
  | 'NOPOLL_ERR_CLOSED'
  | 'NOPOLL_ERR_INVALID_STATE'
  | 'NOPOLL_ERR_TIMEOUT'
  | 'NOPOLL_ERR_ABORTED'
  | 'NOPOLL_ERR_TLS'
  | 'NOPOLL_ERR_CONNECT'
  | 'NOPOLL_ERR_PROXY'
  | 'NOPOLL_ERR_REDIRECT'
  | 'NOPOLL_ERR_BACKPLANE';

/** Base class of every nopoll error. */
export class NopollError extends Error {
  /** Stable code identifying the failure. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The peer broke RFC 6455 (§5, §7). `closeCode` is the status sent in the close frame that fails the connection
 * (1002 unless a subclass says otherwise).
 */
export class ProtocolError extends NopollError {
  /** Close code to send to the peer (RFC 6455 §7.4.1). */
  readonly closeCode: number;
  constructor(code: ErrorCode, message: string, closeCode = 1002) {
    super(code, message);
    this.closeCode = closeCode;
  }
}

/** A text message or close reason was not valid UTF-8 (RFC 6455 §8.1): close code 1007. */
export class InvalidPayloadError extends ProtocolError {
  constructor(message: string) {
    super('NOPOLL_ERR_INVALID_UTF8', message, 1007);
  }
}

/** A frame or message exceeded the configured limit (checked from the header, before buffering): close code 1009. */
export class MessageTooBigError extends ProtocolError {
  /** The limit that was exceeded, in bytes. */
  readonly limit: number;
  constructor(message: string, limit: number) {
    super('NOPOLL_ERR_MESSAGE_TOO_BIG', message, 1009);
    this.limit = limit;
  }
}

/** The peer violated a local policy (RFC 6455 §7.4.1 code 1008). */
export class PolicyViolationError extends ProtocolError {
  constructor(message: string) {
    super('NOPOLL_ERR_POLICY_VIOLATION', message, 1008);
  }
}

/**
 * The opening handshake failed (RFC 6455 §4). On a server, `status` is the HTTP status answered (400, 403, 426,
 * 431, ...); on a client, it is the status received (or 0 when the response could not be parsed).
 */
export class HandshakeError extends NopollError {
  /** HTTP status sent (server) or received (client); 0 when none. */
  readonly status: number;
  constructor(message: string, status = 0, options?: { cause?: unknown }) {
    super('NOPOLL_ERR_HANDSHAKE', message, options);
    this.status = status;
  }
}

/**
 * An operation needed an open connection, a wait was cut short because the connection ended, or the socket failed
 * (ECONNRESET...: `cause` is Node's error). When the connection failed, `cause` is the error that failed it.
 */
export class ConnectionClosedError extends NopollError {
  /** Close code seen (1005 no code, 1006 abnormal). */
  readonly closeCode: number;
  /** Close reason seen. */
  readonly reason: string;
  constructor(message: string, closeCode = 1006, reason = '', options?: { cause?: unknown }) {
    super('NOPOLL_ERR_CLOSED', message, options);
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/** An operation is not allowed in the connection's current state (for example sending before the handshake). */
export class InvalidStateError extends NopollError {
  constructor(message: string) {
    super('NOPOLL_ERR_INVALID_STATE', message);
  }
}

/** A wait ran out of time. `phase` says which wait. */
export class TimeoutError extends NopollError {
  /**
   * Which wait timed out: 'handshake' (client connect + handshake, or a server waiting for the request), 'tls' (a TLS
   * handshake), 'close' (the closing handshake), 'idle' (nothing received), 'heartbeat' (a ping unanswered), 'sniff'
   * (a connection on a shared port that no protocol claimed in time), 'proxy' (no tunnel through a proxy within the
   * connect timeout), and the waits with `timeoutMs`: 'ready', 'read', 'flush', 'accept', 'drain'.
   */
  readonly phase: string;
  constructor(phase: string, message?: string) {
    super('NOPOLL_ERR_TIMEOUT', message ?? `${phase} timed out`);
    this.phase = phase;
  }
}

/** A wait was cancelled through its `AbortSignal`. */
export class AbortError extends NopollError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super('NOPOLL_ERR_ABORTED', message, options);
  }
}

/** The TCP connection could not be established. */
export class ConnectError extends NopollError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOPOLL_ERR_CONNECT', message, options);
  }
}

/**
 * The TLS handshake failed (the peer's certificate was refused, no version or cipher in common, not TLS at all), the
 * post-handshake check or the context creator refused the connection, or TLS material was unusable. `cause` holds
 * Node's error when there is one (its `code`, e.g. `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`).
 */
export class TlsError extends NopollError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOPOLL_ERR_TLS', message, options);
  }
}

/**
 * What went wrong with a proxy: `'connect'` it could not be reached, `'tls'` the TLS handshake with an `https://`
 * proxy failed, `'auth'` it wants credentials or refused the ones given (HTTP 407, a SOCKS5 authentication
 * refusal), `'refused'` it would not open the tunnel (HTTP 403 or another non-2xx answer, a SOCKS5 reply other than
 * success), `'protocol'` it answered something that is not HTTP or SOCKS5, or closed before answering.
 */
export type ProxyFailure = 'connect' | 'tls' | 'auth' | 'refused' | 'protocol';

/**
 * A proxy (HTTP CONNECT, HTTPS, SOCKS5) did not open the tunnel to the WebSocket server. `proxy` names it without
 * its credentials; `status` is the HTTP status it answered to CONNECT and `socksReply` the SOCKS5 reply code
 * (RFC 1928 §6: 1 general failure ... 8 address type not supported), each 0 when there was none.
 */
export class ProxyError extends NopollError {
  /** The kind of failure. */
  readonly failure: ProxyFailure;
  /** The proxy's URL, credentials removed. */
  readonly proxy: string;
  /** HTTP status of the proxy's answer to CONNECT (407, 403, 502...); 0 when none. */
  readonly status: number;
  /** SOCKS5 reply code (RFC 1928 §6), or 0xff when no authentication method was acceptable; 0 when none. */
  readonly socksReply: number;
  constructor(
    failure: ProxyFailure,
    proxy: string,
    message: string,
    details: { status?: number; socksReply?: number; cause?: unknown } = {},
  ) {
    super('NOPOLL_ERR_PROXY', message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.failure = failure;
    this.proxy = proxy;
    this.status = details.status ?? 0;
    this.socksReply = details.socksReply ?? 0;
  }
}

/**
 * A redirect could not be followed: more than `maxRedirects`, a `wss:` to `ws:` downgrade not allowed, a Location
 * that is not a WebSocket URL, or a redirect from a network server to a unix socket. A redirect that is not
 * followed at all (`followRedirects` off) is a {@link HandshakeError} with the 3xx status.
 */
export class RedirectError extends NopollError {
  /** The 3xx status received. */
  readonly status: number;
  /** The Location received (as sent, possibly relative). */
  readonly location: string;
  /** Redirects followed before this one. */
  readonly redirects: number;
  constructor(message: string, status: number, location: string, redirects: number) {
    super('NOPOLL_ERR_REDIRECT', message);
    this.status = status;
    this.location = location;
    this.redirects = redirects;
  }
}

/**
 * A pub/sub backplane (Redis...) could not take or deliver a message: it is unreachable, closed, refused a command,
 * or its outgoing queue is full. `cause` holds the client's error when there is one.
 */
export class BackplaneError extends NopollError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOPOLL_ERR_BACKPLANE', message, options);
  }
}
