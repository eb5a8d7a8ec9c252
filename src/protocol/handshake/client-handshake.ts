/**
 * The client's half of the opening handshake (RFC 6455 §4.1): writing the upgrade request and checking the
 * server's response. Pure: bytes in, results out.
 * @packageDocumentation
 */

import { Buffer } from 'node:buffer';
import { HandshakeError } from '../../errors.js';
import { WEBSOCKET_VERSION } from '../constants.js';
import { acceptKeyFor, isValidKey } from './accept-key.js';
import { parseExtensions, type ExtensionOffer } from './extension-header.js';
import {
  assertHeaderValue,
  checkExtraHeaders,
  HeaderList,
  isToken,
  parseTokenList,
  serializeHead,
  splitList,
  type HeaderInput,
} from './headers.js';
import type { ResponseHead } from './http-head-parser.js';

/** What goes into the client's upgrade request. */
export interface ClientRequestOptions {
  /** `Host` header value; include `:port` when it is not the scheme's default (RFC 6455 §4.1 item 4). */
  host: string;
  /** Request target including the query, starting with `/` (the /resource name/ of RFC 6455 §3). */
  path: string;
  /** `Sec-WebSocket-Key`, normally from `generateKey()`. */
  key: string;
  /** `Sec-WebSocket-Version`; default 13. */
  version?: number;
  /** `Origin`; omitted when null or undefined. */
  origin?: string | null;
  /** Subprotocols offered, most preferred first: distinct tokens. Omitted when empty. */
  protocols?: readonly string[];
  /** `Cookie` header value. */
  cookie?: string;
  /** Raw `Sec-WebSocket-Extensions` offer; must parse per RFC 6455 §9.1. */
  extensions?: string;
  /** More header fields: token names, no control characters in values, none the handshake writes itself. */
  extraHeaders?: HeaderInput;
}

/** What a successful handshake agreed on. */
export interface ClientHandshakeResult {
  /** Subprotocol chosen by the server, or null. */
  protocol: string | null;
  /** Extensions the server accepted, in its order (the order they apply, RFC 6455 §9.1). */
  extensions: ExtensionOffer[];
  /** Every header field of the response. */
  headers: HeaderList;
}

/** Header names this module writes itself, lower-cased: an extra header may not repeat them. */
const MANAGED = [
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'sec-websocket-accept',
];

/** Throws `TypeError` unless `v` is a `Sec-WebSocket-Version` number: 1*DIGIT in 0-255 (RFC 6455 §4.1). */
function assertVersion(v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new TypeError(`invalid WebSocket version: ${String(v)}`);
}

/**
 * Builds the upgrade request (RFC 6455 §4.1): `GET path HTTP/1.1`, Host, Upgrade, Connection, Sec-WebSocket-Key,
 * Sec-WebSocket-Version, then Origin, Cookie, Sec-WebSocket-Protocol, Sec-WebSocket-Extensions and the extra
 * headers, as latin1 bytes ending with the empty line. Throws `TypeError` on any invalid option.
 */
export function buildClientRequest(o: ClientRequestOptions): Buffer {
  assertHeaderValue(o.host, 'host');
  if (o.host.trim().length === 0) throw new TypeError('host must not be empty');
  // The target is sent as-is on the request line: ASCII without spaces, so the caller percent-encodes.
  if (typeof o.path !== 'string' || !/^\/[\x21-\x7e]*$/.test(o.path) || o.path.includes('#')) {
    throw new TypeError(`path must start with '/' and hold only visible ASCII without '#': ${JSON.stringify(o.path)}`);
  }
  if (!isValidKey(o.key)) throw new TypeError('key must be 24 characters of base64 encoding 16 bytes');
  const version = o.version ?? WEBSOCKET_VERSION;
  assertVersion(version);

  const headers: Array<[string, string]> = [
    ['Host', o.host],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', o.key],
    ['Sec-WebSocket-Version', String(version)],
  ];
  headers.push(...webSocketRequestFields(o, new Set(MANAGED)));
  return Buffer.from(serializeHead(`GET ${o.path} HTTP/1.1`, headers), 'latin1');
}

/**
 * The request fields a WebSocket handshake carries whatever carries it (RFC 6455 §4.1 over HTTP/1.1, RFC 8441 §5
 * over HTTP/2), after the carrier's own: Origin, Cookie, Sec-WebSocket-Protocol, Sec-WebSocket-Extensions, then
 * the extra headers, none of which may repeat a name in `reserved` (lower case; Origin and Cookie are added to it
 * when given). Throws `TypeError` on any invalid option.
 */
export function webSocketRequestFields(
  o: Pick<ClientRequestOptions, 'origin' | 'cookie' | 'protocols' | 'extensions' | 'extraHeaders'>,
  reserved: Set<string>,
): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  if (o.origin !== null && o.origin !== undefined) {
    assertHeaderValue(o.origin, 'origin');
    headers.push(['Origin', o.origin]);
    reserved.add('origin');
  }
  if (o.cookie !== undefined) {
    assertHeaderValue(o.cookie, 'cookie');
    headers.push(['Cookie', o.cookie]);
    reserved.add('cookie');
  }
  const protocols = o.protocols ?? [];
  // RFC 6455 §4.1 item 10: each subprotocol is a token, and they are unique.
  const seen = new Set<string>();
  for (const p of protocols) {
    if (typeof p !== 'string' || !isToken(p)) throw new TypeError(`invalid subprotocol: ${JSON.stringify(p)}`);
    if (seen.has(p)) throw new TypeError(`duplicate subprotocol: ${p}`);
    seen.add(p);
  }
  if (protocols.length > 0) headers.push(['Sec-WebSocket-Protocol', protocols.join(', ')]);
  if (o.extensions !== undefined) {
    assertHeaderValue(o.extensions, 'extensions');
    if (parseExtensions(o.extensions) === null) throw new TypeError(`malformed extension offer: ${o.extensions}`);
    headers.push(['Sec-WebSocket-Extensions', o.extensions]);
  }
  headers.push(...checkExtraHeaders(o.extraHeaders, reserved));
  return headers;
}

/**
 * Checks the server's response against RFC 6455 §4.1 (the client's steps 1-6 after sending its request):
 * status 101; `Upgrade` lists `websocket`; `Connection` lists `upgrade`; exactly one `Sec-WebSocket-Accept`
 * matching `key`; a `Sec-WebSocket-Protocol`, if any, holding a single subprotocol we offered; a
 * `Sec-WebSocket-Extensions`, if any, well-formed and naming only extensions we offered (names compared exactly).
 * A failure is a `HandshakeError` whose `status` is the status received.
 */
export function checkServerResponse(
  head: ResponseHead,
  key: string,
  opts: { protocols?: readonly string[]; extensionsOffered?: readonly string[] },
): { ok: true; result: ClientHandshakeResult } | { ok: false; error: HandshakeError } {
  const { status, headers } = head;
  const fail = (message: string): { ok: false; error: HandshakeError } => ({
    ok: false,
    error: new HandshakeError(message, status),
  });
  if (status !== 101) {
    const reason = head.reason.length > 0 ? ` ${head.reason}` : '';
    return fail(`server answered ${status}${reason} instead of 101 Switching Protocols`);
  }
  if (!parseTokenList(headers.get('upgrade') ?? '').includes('websocket')) {
    return fail('response lacks Upgrade: websocket');
  }
  if (!parseTokenList(headers.get('connection') ?? '').includes('upgrade')) {
    return fail('response lacks Connection: Upgrade');
  }
  const accepts = headers.getAll('sec-websocket-accept');
  if (accepts.length !== 1) {
    return fail(accepts.length === 0 ? 'response lacks Sec-WebSocket-Accept' : 'repeated Sec-WebSocket-Accept');
  }
  if (accepts[0] !== acceptKeyFor(key)) return fail('Sec-WebSocket-Accept does not match the key sent');

  return checkAgreement(headers, status, opts);
}

/**
 * What the server agreed to, checked against what was offered whatever carried the handshake (RFC 6455 §4.1
 * steps 5-6, RFC 8441 §5): a `Sec-WebSocket-Protocol`, if any, holding a single subprotocol we offered; a
 * `Sec-WebSocket-Extensions`, if any, well-formed and naming only extensions we offered. A failure is a
 * `HandshakeError` carrying `status`.
 */
export function checkAgreement(
  headers: HeaderList,
  status: number,
  opts: { protocols?: readonly string[]; extensionsOffered?: readonly string[] },
): { ok: true; result: ClientHandshakeResult } | { ok: false; error: HandshakeError } {
  const fail = (message: string): { ok: false; error: HandshakeError } => ({
    ok: false,
    error: new HandshakeError(message, status),
  });
  // RFC 6455 §4.1 step 6: the server may only pick one of the subprotocols the client offered.
  let protocol: string | null = null;
  if (headers.has('sec-websocket-protocol')) {
    const offered = opts.protocols ?? [];
    const values = splitList(headers.get('sec-websocket-protocol') as string);
    if (offered.length === 0) return fail('server selected a subprotocol although none was offered');
    if (values.length !== 1) return fail('Sec-WebSocket-Protocol must hold exactly one subprotocol');
    protocol = values[0] as string;
    if (!offered.includes(protocol)) return fail(`server selected a subprotocol that was not offered: ${protocol}`);
  }

  // RFC 6455 §4.1 step 5 and §9.1: malformed data, or an extension not requested, fails the connection.
  let extensions: ExtensionOffer[] = [];
  if (headers.has('sec-websocket-extensions')) {
    const parsed = parseExtensions(headers.get('sec-websocket-extensions') as string);
    if (parsed === null) return fail('malformed Sec-WebSocket-Extensions in response');
    const offered = opts.extensionsOffered ?? [];
    for (const ext of parsed) {
      if (!offered.includes(ext.name)) return fail(`server accepted an extension that was not offered: ${ext.name}`);
    }
    extensions = parsed;
  }
  return { ok: true, result: { protocol, extensions, headers } };
}
