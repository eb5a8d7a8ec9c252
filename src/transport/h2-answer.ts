/**
 * Answering an extended CONNECT on a server's HTTP/2 stream (RFC 8441 §5): HEADERS with `:status 200` open the
 * tunnel and the stream then carries the WebSocket; any other status refuses it, with a short text body, and the
 * stream is then ended without waiting for the client (RST_STREAM NO_ERROR after a complete response, RFC 9113
 * §8.1), so a refused client cannot hold a stream slot. Also the marker telling served streams from refused ones.
 * @packageDocumentation
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { buildExtendedConnectAnswer, buildExtendedConnectRefusal } from '../protocol/handshake/extended-connect.js';
import { HeaderList } from '../protocol/handshake/headers.js';
import type { AcceptReply, UpgradeAnswer } from './server-accept.js';

// Streams answered 200, or given to the application's request handler: what a session does not count as a failed
// handshake.
const served = new WeakSet<ServerHttp2Stream>();

/** True once {@link acceptStream} answered the stream, or {@link markServed} marked it. */
export function isServedStream(stream: ServerHttp2Stream): boolean {
  return served.has(stream);
}

/** Marks a stream the application serves (not a WebSocket handshake, so never a failed one). */
export function markServed(stream: ServerHttp2Stream): void {
  served.add(stream);
}

/** Answers `200` with the agreed subprotocol and extensions (see `buildExtendedConnectAnswer`) and resumes reading. */
export function acceptStream(stream: ServerHttp2Stream, reply: AcceptReply): void {
  if (stream.destroyed || stream.headersSent) return;
  const fields = buildExtendedConnectAnswer({
    protocol: reply.protocol,
    extensions: reply.extensions,
    ...(reply.headers !== undefined ? { headers: reply.headers } : {}),
  });
  served.add(stream);
  stream.respond(headerObject(fields), { endStream: false });
  stream.resume();
}

/**
 * Refuses the extended CONNECT with `status` and `message` as the body, then ends the stream: the response is
 * complete, so the client's half is cut with RST_STREAM NO_ERROR (RFC 9113 §8.1) rather than waited for.
 */
export function refuseStream(
  stream: ServerHttp2Stream,
  status: number,
  message: string,
  headers?: ReadonlyArray<readonly [string, string]>,
): void {
  if (stream.destroyed) return;
  if (stream.headersSent) {
    stream.close(constants.NGHTTP2_NO_ERROR);
    return;
  }
  stream.respond(headerObject(buildExtendedConnectRefusal(status, headers)), { endStream: false });
  // What the client sent meanwhile is discarded; the window it used is given back as it is read.
  stream.resume();
  stream.end(`${message}\n`, () => {
    if (!stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
  });
}

/** The {@link UpgradeAnswer} of an HTTP/2 stream. */
export function streamAnswer(stream: ServerHttp2Stream): UpgradeAnswer {
  return {
    accept: (reply) => acceptStream(stream, reply),
    reject: (status, message, headers) => refuseStream(stream, status, message, headers),
  };
}

/**
 * The header fields of a received HEADERS frame as a {@link HeaderList}, pseudo-header fields included: from Node's
 * flat `rawHeaders` (order and repeats kept) when given, else from its header object (repeated fields arrive there
 * as arrays; `cookie` already joined).
 */
export function headerListOf(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  rawHeaders?: readonly string[],
): HeaderList {
  const list = new HeaderList();
  if (rawHeaders !== undefined) {
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) list.append(rawHeaders[i]!, rawHeaders[i + 1]!);
    return list;
  }
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) list.append(name, v);
    else list.append(name, String(value));
  }
  return list;
}

/** Pairs as Node's outgoing header object (a repeated name becomes an array). */
export function headerObject(fields: ReadonlyArray<readonly [string, string]>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of fields) {
    const known = out[name];
    if (known === undefined) out[name] = value;
    else out[name] = Array.isArray(known) ? [...known, value] : [String(known), value];
  }
  return out;
}
