/**
 * The opening handshake over HTTP/2 (RFC 8441, "Bootstrapping WebSockets with HTTP/2"): an extended CONNECT
 * request (`:method CONNECT`, `:protocol websocket`) on a stream, answered with a 2xx HEADERS frame. Only the
 * carrier differs from RFC 6455 §4: there is no `Sec-WebSocket-Key` / `Accept` (§5), no `Upgrade` or `Connection`
 * (connection-specific fields do not exist in HTTP/2, RFC 9113 §8.2.2), and the WebSocket fields (version, origin,
 * subprotocols, extensions) are checked by the same code as over HTTP/1.1. Pure: header lists in, results out.
 * @packageDocumentation
 */
import { HandshakeError } from '../../errors.js';
import { WEBSOCKET_VERSION } from '../constants.js';
import { parseExtensions } from './extension-header.js';
import {
  checkAgreement,
  webSocketRequestFields,
  type ClientHandshakeResult,
  type ClientRequestOptions,
} from './client-handshake.js';
import { assertHeaderValue, checkExtraHeaders, isToken, type HeaderInput, type HeaderList } from './headers.js';
import {
  announcedBody,
  bad,
  checkWebSocketFields,
  type ServerCheckResult,
  type ServerHandshakePolicy,
} from './server-handshake.js';

/** The `:protocol` value of a WebSocket (RFC 8441 §5; the HTTP/1.1 Upgrade token of RFC 6455 §11.2). */
export const WEBSOCKET_PROTOCOL = 'websocket';

/** What an HTTP/2 request stream is, as far as WebSockets care. */
export type StreamKind = 'websocket' | 'other-protocol' | 'connect' | 'request';

/**
 * Tells a WebSocket extended CONNECT from the rest: `'websocket'` (CONNECT with `:protocol websocket`, compared
 * case-insensitively as the Upgrade token is), `'other-protocol'` (CONNECT with another `:protocol`, which RFC 9220
 * §3 answers with 501), `'connect'` (a classic CONNECT, RFC 9113 §8.5) or `'request'` (any other method).
 */
export function streamKind(headers: HeaderList): StreamKind {
  const method = headers.get(':method');
  const protocol = headers.get(':protocol');
  if (isWebSocketConnect(method, protocol)) return 'websocket';
  if (method !== 'CONNECT') return 'request';
  return protocol === null ? 'connect' : 'other-protocol';
}

/** True for `:method` CONNECT with `:protocol` `websocket` (RFC 8441 §4, §5), the token compared case-insensitively. */
export function isWebSocketConnect(method: unknown, protocol: unknown): boolean {
  return method === 'CONNECT' && typeof protocol === 'string' && protocol.toLowerCase() === WEBSOCKET_PROTOCOL;
}

// The HTTP/2 fields that would say "upgrade this connection": meaningless (and malformed, RFC 9113 §8.2.2) on a stream.
const CONNECTION_SPECIFIC = ['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding'];

/**
 * Checks an extended CONNECT request (RFC 8441 §4, §5) made of its header fields, pseudo-header fields included,
 * in this order: exactly one `:method` CONNECT (405, `Allow: GET` as over HTTP/1.1) and one `:protocol`
 * `websocket` (501 for another protocol, RFC 9220 §3); exactly one `:scheme`, `http` or `https` (400); exactly one
 * `:path` in origin form without a fragment (400, RFC 8441 §4 makes it mandatory); at most one non-empty
 * `:authority` (400; it stands for Host, RFC 9113 §8.3.1, and a `Host` field is used when it is absent); no
 * connection-specific field (400); no body announced (400). Then the WebSocket fields, exactly as over HTTP/1.1
 * (`checkWebSocketFields`): version (400, 426), Origin (403), subprotocols and extensions (400).
 * `Sec-WebSocket-Key` is not required nor processed (RFC 8441 §5); the request info's `key` is null.
 * Throws `TypeError` only for an invalid policy.
 */
export function checkExtendedConnect(h: HeaderList, policy: ServerHandshakePolicy = {}): ServerCheckResult {
  const methods = h.getAll(':method');
  if (methods.length !== 1 || methods[0] !== 'CONNECT') {
    return {
      ok: false,
      status: 405,
      message: `method ${methods.join(', ') || '(none)'} does not open a WebSocket`,
      headers: [['Allow', 'GET']],
    };
  }
  const protocols = h.getAll(':protocol');
  if (protocols.length !== 1)
    return bad(protocols.length === 0 ? 'a CONNECT without :protocol does not open a WebSocket' : 'repeated :protocol');
  if (protocols[0]!.toLowerCase() !== WEBSOCKET_PROTOCOL) {
    return { ok: false, status: 501, message: `protocol ${protocols[0]} not supported`, headers: [] };
  }
  const schemes = h.getAll(':scheme');
  if (schemes.length !== 1 || (schemes[0] !== 'https' && schemes[0] !== 'http'))
    return bad('the :scheme of a WebSocket is http or https');
  const paths = h.getAll(':path');
  const path = paths[0];
  if (paths.length !== 1 || path === undefined || !path.startsWith('/'))
    return bad('exactly one :path in origin form is required');
  if (path.includes('#')) return bad(':path holds a fragment');
  const authorities = h.getAll(':authority');
  if (authorities.length > 1 || authorities[0] === '') return bad('at most one non-empty :authority is allowed');
  let host = authorities[0] ?? null;
  if (host === null) {
    const hosts = h.getAll('host');
    if (hosts.length > 1 || hosts[0] === '') return bad('at most one non-empty Host is allowed');
    host = hosts[0] ?? null;
  }
  for (const name of CONNECTION_SPECIFIC) {
    if (h.has(name)) return bad(`the connection-specific field ${name} is not allowed in HTTP/2`);
  }
  const body = announcedBody(h);
  if (body !== null) return bad(body);
  return checkWebSocketFields(h, policy, { path, host, key: null });
}

/** What a client puts into its extended CONNECT. */
export type ExtendedConnectOptions = Omit<ClientRequestOptions, 'key'> & {
  /** `http` or `https`: the scheme of the target URI (`ws` maps to `http`, `wss` to `https`, RFC 8441 §5). */
  scheme: 'http' | 'https';
};

// Names the request builder writes itself; an extra header may not repeat them. `sec-websocket-key` is refused too:
// it has no meaning here (RFC 8441 §5), and sending it would only mislead.
const MANAGED = [
  'host',
  'upgrade',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'sec-websocket-key',
  'sec-websocket-accept',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
];

/**
 * The header fields of an extended CONNECT (RFC 8441 §4, §5), pseudo-header fields first: `:method CONNECT`,
 * `:protocol websocket`, `:scheme`, `:path`, `:authority` (the Host value), `sec-websocket-version`, then Origin,
 * Cookie, subprotocols, extensions and the extra headers (names lower-cased, as HTTP/2 requires, RFC 9113 §8.2).
 * Throws `TypeError` on any invalid option (as the HTTP/1.1 request builder), and for an extra header that HTTP/2
 * forbids or the builder writes.
 */
export function buildExtendedConnect(o: ExtendedConnectOptions): Array<[string, string]> {
  assertHeaderValue(o.host, 'host');
  if (o.host.trim().length === 0) throw new TypeError('host must not be empty');
  if (typeof o.path !== 'string' || !/^\/[\x21-\x7e]*$/.test(o.path) || o.path.includes('#')) {
    throw new TypeError(`path must start with '/' and hold only visible ASCII without '#': ${JSON.stringify(o.path)}`);
  }
  if (o.scheme !== 'http' && o.scheme !== 'https')
    throw new TypeError(`scheme must be http or https: ${String(o.scheme)}`);
  const version = o.version ?? WEBSOCKET_VERSION;
  if (!Number.isInteger(version) || version < 0 || version > 255)
    throw new TypeError(`invalid WebSocket version: ${String(version)}`);
  const fields: Array<[string, string]> = [
    [':method', 'CONNECT'],
    [':protocol', WEBSOCKET_PROTOCOL],
    [':scheme', o.scheme],
    [':path', o.path],
    [':authority', o.host],
    ['sec-websocket-version', String(version)],
  ];
  for (const [name, value] of webSocketRequestFields(o, new Set(MANAGED))) fields.push([name.toLowerCase(), value]);
  return fields;
}

/**
 * Checks the answer to an extended CONNECT: a 2xx status opens the tunnel (RFC 9110 §9.3.6, RFC 8441 §5: "200"),
 * anything else refuses it; then the agreed subprotocol and extensions, as over HTTP/1.1 (`checkAgreement`). A
 * `Sec-WebSocket-Accept`, should a server send one, is ignored (RFC 8441 §5). A failure is a `HandshakeError`
 * carrying the status received.
 */
export function checkExtendedConnectResponse(
  status: number,
  headers: HeaderList,
  opts: { protocols?: readonly string[]; extensionsOffered?: readonly string[] },
): { ok: true; result: ClientHandshakeResult } | { ok: false; error: HandshakeError } {
  if (!Number.isInteger(status) || status < 200 || status > 299) {
    return {
      ok: false,
      error: new HandshakeError(`server answered ${status} to the extended CONNECT instead of 200`, status),
    };
  }
  return checkAgreement(headers, status, opts);
}

/**
 * The header fields of a successful answer (RFC 8441 §5): `:status 200`, the chosen subprotocol (a single token),
 * the accepted extensions (a raw value that must parse per RFC 6455 §9.1) and extra fields, names lower-cased.
 * Throws `TypeError` on an invalid subprotocol, extension value or extra header.
 */
export function buildExtendedConnectAnswer(
  opts: { protocol?: string | null; extensions?: string | null; headers?: HeaderInput } = {},
): Array<[string, string]> {
  const fields: Array<[string, string]> = [[':status', '200']];
  if (opts.protocol !== null && opts.protocol !== undefined) {
    if (!isToken(opts.protocol)) throw new TypeError(`invalid subprotocol: ${JSON.stringify(opts.protocol)}`);
    fields.push(['sec-websocket-protocol', opts.protocol]);
  }
  if (opts.extensions !== null && opts.extensions !== undefined && opts.extensions !== '') {
    assertHeaderValue(opts.extensions, 'extensions');
    if (parseExtensions(opts.extensions) === null) throw new TypeError(`malformed extensions: ${opts.extensions}`);
    fields.push(['sec-websocket-extensions', opts.extensions]);
  }
  for (const [name, value] of checkExtraHeaders(opts.headers, new Set([...MANAGED, 'sec-websocket-accept']))) {
    fields.push([name.toLowerCase(), value]);
  }
  return fields;
}

/**
 * The header fields of a refusal: `:status`, a plain-text content type, and the extra fields (names lower-cased);
 * the body is `message + "\n"`. `status` must be an integer from 300 to 599 (RFC 8441 §5 leaves the choice to
 * HTTP; a 2xx would open the tunnel). Throws `TypeError` otherwise.
 */
export function buildExtendedConnectRefusal(
  status: number,
  headers?: ReadonlyArray<readonly [string, string]>,
): Array<[string, string]> {
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw new TypeError(`a rejection status must be an integer from 300 to 599: ${String(status)}`);
  }
  const fields: Array<[string, string]> = [
    [':status', String(status)],
    ['content-type', 'text/plain; charset=utf-8'],
  ];
  for (const [name, value] of checkExtraHeaders(
    headers,
    new Set(['content-type', 'content-length', ...CONNECTION_SPECIFIC]),
  )) {
    fields.push([name.toLowerCase(), value]);
  }
  return fields;
}
