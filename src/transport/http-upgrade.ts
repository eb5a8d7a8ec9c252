/**
 * The server side of the opening handshake for a request that Node's HTTP server already parsed (the `'upgrade'`
 * event of `http.Server` / `https.Server`, and the frameworks built on them). The head is rebuilt from
 * `req.rawHeaders` and checked by the same pure RFC 6455 §4.2.1 checks as a request read from a raw socket.
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http';
import { HeaderList } from '../protocol/handshake/headers.js';
import type { RequestHead } from '../protocol/handshake/http-head-parser.js';
import { checkClientRequest, type ServerHandshakePolicy } from '../protocol/handshake/server-handshake.js';
import type { PendingUpgrade } from './server-accept.js';

/** The request head of a parsed `IncomingMessage`: method, target and header fields in arrival order. */
export function requestHeadOf(req: IncomingMessage): RequestHead {
  const headers = new HeaderList();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return { method: req.method ?? '', target: req.url ?? '', version: `HTTP/${req.httpVersion}`, headers };
}

/** Outcome of {@link checkIncomingUpgrade}: the upgrade, or the HTTP error to answer. */
export type IncomingUpgradeResult =
  | { ok: true; upgrade: PendingUpgrade }
  | { ok: false; status: number; message: string; headers: Array<[string, string]> };

/**
 * Checks an upgrade request Node's HTTP parser read (RFC 6455 §4.2.1, see `checkClientRequest`) and the header
 * count limit (431 past it; Node's parser already bounds the head's size). `head` is what Node read past the
 * request head: frames the client sent at once.
 */
export function checkIncomingUpgrade(
  req: IncomingMessage,
  head: Buffer,
  options: { policy: ServerHandshakePolicy; maxHeaderCount: number },
): IncomingUpgradeResult {
  if (req.rawHeaders.length / 2 > options.maxHeaderCount) {
    return { ok: false, status: 431, message: 'too many header fields', headers: [] };
  }
  const requestHead = requestHeadOf(req);
  const checked = checkClientRequest(requestHead, options.policy);
  if (!checked.ok) return checked;
  return { ok: true, upgrade: { request: checked.request, head: requestHead, rest: head } };
}
