/**
 * The server's half of the opening handshake (RFC 6455 §4.2): checking the client's request, choosing a
 * subprotocol, and writing the 101 answer or an HTTP error. Pure: bytes in, results out.
 * @packageDocumentation
 */

import { Buffer } from 'node:buffer';
import { WEBSOCKET_VERSION } from '../constants.js';
import { acceptKeyFor, isValidKey } from './accept-key.js';
import { parseExtensions, type ExtensionOffer } from './extension-header.js';
import {
  assertHeaderValue,
  checkExtraHeaders,
  isToken,
  listHasToken,
  serializeHead,
  splitList,
  type HeaderInput,
  type HeaderList,
} from './headers.js';
import type { RequestHead } from './http-head-parser.js';

const NO_PROTOCOLS = Object.freeze([]) as unknown as string[];

/** What a valid upgrade request asked for. */
export interface ServerRequestInfo {
  /** /resource name/ (RFC 6455 §3): path and query, from an origin-form or absolute-form target. */
  path: string;
  /** `Host` value. */
  host: string | null;
  /** `Origin` value (repeated fields joined with `", "`), or null. */
  origin: string | null;
  /** `Sec-WebSocket-Key`, validated; null over HTTP/2, which has no key (RFC 8441 §5). */
  key: string | null;
  /** `Sec-WebSocket-Version`, equal to the policy's. */
  version: number;
  /** Subprotocols offered, client preference first: every `Sec-WebSocket-Protocol` field merged, case kept. */
  protocols: string[];
  /** Extensions offered, in the client's order of preference. */
  extensions: ExtensionOffer[];
  /** `Cookie` value (repeated fields joined with `"; "`, RFC 6265 §5.4), or null. */
  cookie: string | null;
  /** `X-Real-IP` value set by a reverse proxy (repeated fields joined with `", "`), or null. */
  xRealIp: string | null;
  /** Every header field of the request. */
  headers: HeaderList;
}

/** How strict the server is. */
export interface ServerHandshakePolicy {
  /** The one `Sec-WebSocket-Version` accepted; default 13. */
  version?: number;
  /** Refuse requests without `Origin` (403); default false, as RFC 6455 §4.2.1 makes Origin optional. */
  requireOrigin?: boolean;
}

/** Outcome of {@link checkClientRequest}: the request, or the HTTP error to answer with its extra headers. */
export type ServerCheckResult<Key extends string | null = string | null> =
  { ok: true; request: ServerRequestInfo & { key: Key } } | CheckFailure;

/** A request refused: the HTTP status to answer, why, and headers for the answer. */
export type CheckFailure = { ok: false; status: number; message: string; headers: Array<[string, string]> };

/** Absolute-form target with a scheme RFC 6455 §4.2.1 allows (http/https), plus ws/wss for lenient clients. */
const ABSOLUTE_RE = /^(?:https?|wss?):\/\/[^/?#]+(.*)$/is;
const VERSION_RE = /^HTTP\/(\d)\.(\d)$/;

const PLAIN_ACCEPT_HEAD =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ';

// The policy's version; an invalid one is the server's misconfiguration (TypeError), checked before the request.
function wantedVersion(policy: ServerHandshakePolicy): number {
  const wanted = policy.version ?? WEBSOCKET_VERSION;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 255) {
    throw new TypeError(`invalid WebSocket version in policy: ${String(wanted)}`);
  }
  return wanted;
}

/** A 400 answer. */
export function bad(message: string): CheckFailure {
  return { ok: false, status: 400, message, headers: [] };
}

/**
 * Checks an upgrade request against RFC 6455 §4.2.1, in this order: method GET (else 405 with `Allow: GET`);
 * HTTP version 1.1 or later (400); no body announced, that is no `Transfer-Encoding` and no `Content-Length`
 * other than 0 (400, the bytes after the head being frames); target in origin form or absolute http(s)/ws(s) form, no fragment (400);
 * exactly one non-empty `Host` (400); `Upgrade` lists `websocket` (400); `Connection` lists `upgrade` (400);
 * exactly one valid `Sec-WebSocket-Key` (400); exactly one numeric `Sec-WebSocket-Version` (400), equal to the
 * policy's (else 426 with `Sec-WebSocket-Version`, §4.4); `Origin` when required (403); subprotocols that are
 * tokens (400); a well-formed `Sec-WebSocket-Extensions` (400). Repeated `Sec-WebSocket-Protocol` fields are
 * merged and duplicates dropped. Throws `TypeError` only for an invalid policy.
 */
export function checkClientRequest(head: RequestHead, policy: ServerHandshakePolicy = {}): ServerCheckResult<string> {
  wantedVersion(policy);
  const h = head.headers;

  // §4.2.1 item 1: "An HTTP/1.1 or higher GET request". Method names are case-sensitive (RFC 7230 §3.1.1).
  if (head.method !== 'GET') {
    return { ok: false, status: 405, message: `method ${head.method} not allowed`, headers: [['Allow', 'GET']] };
  }
  if (head.version !== 'HTTP/1.1') {
    const v = VERSION_RE.exec(head.version);
    if (v === null || Number(v[1]) * 10 + Number(v[2]) < 11) return bad(`${head.version} cannot upgrade`);
  }

  // The bytes after an upgrade request's head are frames (§4.1 "the client MUST ... send frames" once 101 came).
  // A body announced by Content-Length or Transfer-Encoding would be run as frames here while a proxy that
  // forwards bodies saw it as the request's: a request-smuggling shape (RFC 9112 §6.3, §11.2). Refuse it.
  const bodyProblem = announcedBody(h);
  if (bodyProblem !== null) return bad(bodyProblem);

  // §4.2.1 item 1 and §3: a /resource name/, or an absolute HTTP(S) URI holding one; never a fragment.
  let path: string;
  if (head.target.startsWith('/')) {
    path = head.target;
  } else {
    const m = ABSOLUTE_RE.exec(head.target);
    if (m === null) return bad('invalid request target');
    const rest = m[1] as string;
    path = rest.startsWith('/') ? rest : `/${rest}`;
  }
  if (path.includes('#')) return bad('request target holds a fragment');

  // §4.2.1 item 2: Host; several Host fields are ambiguous (RFC 7230 §5.4 answers them with 400).
  const hosts = h.getAll('host');
  if (hosts.length !== 1 || (hosts[0] as string).length === 0) return bad('exactly one Host header is required');
  // §4.2.1 items 3 and 4.
  if (!listHasToken(h.get('upgrade'), 'websocket')) return bad('missing Upgrade: websocket');
  if (!listHasToken(h.get('connection'), 'upgrade')) return bad('missing Connection: Upgrade');
  // §4.2.1 item 5: a base64 nonce decoding to 16 bytes.
  const keys = h.getAll('sec-websocket-key');
  if (keys.length !== 1 || !isValidKey(keys[0] as string)) return bad('invalid or missing Sec-WebSocket-Key');
  // An HTTP/1.1 request always has its key (only HTTP/2's extended CONNECT has none).
  return checkWebSocketFields(h, policy, {
    path,
    host: hosts[0] as string,
    key: keys[0] as string,
  }) as ServerCheckResult<string>;
}

/**
 * The checks an opening handshake makes on its WebSocket fields whatever carries it (RFC 6455 §4.2.1 items 6-9
 * over HTTP/1.1, RFC 8441 §5 over HTTP/2): exactly one numeric `Sec-WebSocket-Version` (400) equal to the policy's
 * (else 426 with `Sec-WebSocket-Version`, §4.4); `Origin` when required (403); subprotocols that are tokens (400);
 * a well-formed `Sec-WebSocket-Extensions` (400). `base` holds what the carrier's own checks established.
 * Throws `TypeError` only for an invalid policy.
 */
export function checkWebSocketFields(
  h: HeaderList,
  policy: ServerHandshakePolicy,
  base: { path: string; host: string | null; key: string | null },
): ServerCheckResult {
  const wanted = wantedVersion(policy);
  // §4.2.1 item 6 and §4.4: an unsupported version is answered 426 listing the versions supported.
  const versions = h.getAll('sec-websocket-version');
  if (versions.length !== 1 || !/^\d{1,3}$/.test(versions[0]!)) {
    return bad('invalid or missing Sec-WebSocket-Version');
  }
  const version = Number(versions[0]);
  if (version !== wanted) {
    return {
      ok: false,
      status: 426,
      message: `WebSocket version ${version} not supported`,
      headers: [['Sec-WebSocket-Version', String(wanted)]],
    };
  }
  // §4.2.1 item 7: Origin is sent by browsers; §10.2 lets a server refuse unwanted origins with 403.
  const origin = h.get('origin');
  if (origin === null && policy.requireOrigin === true) {
    return { ok: false, status: 403, message: 'Origin header required', headers: [] };
  }
  // §4.2.1 item 8 and §11.3.4: `1#token`; several fields are one list (RFC 7230 §3.2.2).
  // Most requests offer none: they share one frozen empty list, so a connection holds no array of its own.
  let protocols = NO_PROTOCOLS;
  for (const field of h.getAll('sec-websocket-protocol')) {
    for (const p of splitList(field)) {
      if (!isToken(p)) return bad(`invalid subprotocol in Sec-WebSocket-Protocol: ${p}`);
      if (protocols === NO_PROTOCOLS) protocols = [];
      if (!protocols.includes(p)) protocols.push(p);
    }
  }
  // §4.2.1 item 9 and §9.1: malformed extension data fails the handshake.
  let extensions: ExtensionOffer[] = [];
  const extHeader = h.get('sec-websocket-extensions');
  if (extHeader !== null) {
    const parsed = parseExtensions(extHeader);
    if (parsed === null) return bad('malformed Sec-WebSocket-Extensions');
    extensions = parsed;
  }
  // RFC 6265 §5.4 allows a single Cookie field; should a client split it, "; " rejoins it losslessly.
  const cookies = h.getAll('cookie');
  return {
    ok: true,
    request: {
      path: base.path,
      host: base.host,
      origin,
      key: base.key,
      version,
      protocols,
      extensions,
      cookie: cookies.length > 0 ? cookies.join('; ') : null,
      xRealIp: h.get('x-real-ip'),
      headers: h,
    },
  };
}

/** Why a request announces a body (any `Transfer-Encoding`, a `Content-Length` other than 0), or null. */
export function announcedBody(h: HeaderList): string | null {
  if (h.getAll('transfer-encoding').length > 0) return 'an upgrade request may not carry a body (Transfer-Encoding)';
  for (const length of h.getAll('content-length')) {
    if (!ZERO_LENGTH_RE.test(length)) return 'an upgrade request may not carry a body (Content-Length)';
  }
  return null;
}

const ZERO_LENGTH_RE = /^[ \t]*0+[ \t]*$/;

/**
 * The subprotocol to accept (RFC 6455 §4.2.2 item 5.4): the first of the client's offers, in the client's order of
 * preference, that the server supports (compared exactly, subprotocol names being case-sensitive); null if none.
 */
export function selectProtocol(offered: readonly string[], supported: readonly string[]): string | null {
  for (const p of offered) if (supported.includes(p)) return p;
  return null;
}

/** Header names {@link buildAcceptResponse} writes itself, lower-cased. */
const ACCEPT_MANAGED = [
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
];

/**
 * Builds the `101 Switching Protocols` answer (RFC 6455 §4.2.2 item 5): Upgrade, Connection,
 * Sec-WebSocket-Accept for `key`, then the chosen subprotocol (a single token), the accepted extensions (a raw
 * value that must parse per §9.1) and extra headers. Throws `TypeError` on an invalid key, subprotocol,
 * extension value, or extra header (bad name, control characters, or a name this function writes).
 */
export function buildAcceptResponse(
  key: string,
  opts: { protocol?: string | null; extensions?: string | null; headers?: HeaderInput } = {},
): Buffer {
  if (!isValidKey(key)) throw new TypeError('key must be a valid Sec-WebSocket-Key');
  // The common answer (no subprotocol, extension or extra header) is one string, built without a header list.
  if (opts.protocol == null && !opts.extensions && opts.headers === undefined) {
    return Buffer.from(`${PLAIN_ACCEPT_HEAD}${acceptKeyFor(key)}\r\n\r\n`, 'latin1');
  }
  const headers: Array<[string, string]> = [
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Accept', acceptKeyFor(key)],
  ];
  if (opts.protocol !== null && opts.protocol !== undefined) {
    if (!isToken(opts.protocol)) throw new TypeError(`invalid subprotocol: ${JSON.stringify(opts.protocol)}`);
    headers.push(['Sec-WebSocket-Protocol', opts.protocol]);
  }
  if (opts.extensions !== null && opts.extensions !== undefined && opts.extensions !== '') {
    assertHeaderValue(opts.extensions, 'extensions');
    if (parseExtensions(opts.extensions) === null) throw new TypeError(`malformed extensions: ${opts.extensions}`);
    headers.push(['Sec-WebSocket-Extensions', opts.extensions]);
  }
  headers.push(...checkExtraHeaders(opts.headers, new Set(ACCEPT_MANAGED)));
  return Buffer.from(serializeHead('HTTP/1.1 101 Switching Protocols', headers), 'latin1');
}

const REASONS: Readonly<Record<number, string>> = {
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * Builds an HTTP/1.1 error answer refusing the upgrade (RFC 6455 §4.2.1: "an appropriate HTTP error"):
 * status line with its reason phrase, `Connection: close`, `Content-Type: text/plain; charset=utf-8`,
 * `Content-Length`, extra `headers`, and the body `message + "\n"` in UTF-8. `status` must be an integer from
 * 300 to 599; an extra header may not repeat the three above. Throws `TypeError` otherwise.
 */
export function buildRejectResponse(
  status: number,
  message: string,
  headers?: ReadonlyArray<readonly [string, string]>,
): Buffer {
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw new TypeError(`a rejection status must be an integer from 300 to 599: ${String(status)}`);
  }
  const reason = REASONS[status] ?? (status < 400 ? 'Redirection' : status < 500 ? 'Client Error' : 'Server Error');
  const body = Buffer.from(`${message}\n`, 'utf8');
  const fields: Array<[string, string]> = [
    ['Connection', 'close'],
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(body.length)],
    ...checkExtraHeaders(headers, new Set(['connection', 'content-type', 'content-length', 'transfer-encoding'])),
  ];
  const head = Buffer.from(serializeHead(`HTTP/1.1 ${status} ${reason}`, fields), 'latin1');
  return Buffer.concat([head, body]);
}
