/**
 * Port sharing (noPoll manual §2.2): classifies the first bytes a client sent on a freshly accepted TCP connection,
 * so one port can carry WebSocket, WebSocket over TLS and another protocol. Pure: bytes in, a verdict out.
 * @packageDocumentation
 */

/**
 * What the first bytes look like:
 * - `'tls'`: a TLS handshake record (content type 22, protocol major version 3, minor 0 to 4: SSL 3.0 to the
 *   record versions TLS 1.3 clients send), the start of a ClientHello (RFC 8446 §5.1, RFC 5246 §6.2.1);
 * - `'http'`: an HTTP request with the method `GET` (`"GET "`), the only method a WebSocket handshake uses
 *   (RFC 6455 §4.1);
 * - `'other'`: anything else;
 * - `'more'`: too few bytes to tell yet (every byte so far matches the start of one of the above).
 */
export type SniffClass = 'tls' | 'http' | 'other' | 'more';

/** Bytes needed to tell a TLS record (type, major, minor). */
export const TLS_SNIFF_BYTES = 3;
/** Bytes needed to tell an HTTP GET (`"GET "`). */
export const HTTP_SNIFF_BYTES = 4;
/** The most bytes {@link classifyFirstBytes} ever needs: past this many it never answers `'more'`. */
export const MAX_SNIFF_BYTES = HTTP_SNIFF_BYTES;

const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR = 0x03;
const TLS_MAX_MINOR = 0x04;
const GET_SP = [0x47, 0x45, 0x54, 0x20];

/**
 * Classifies the first bytes received on a connection (see {@link SniffClass}). Decides as early as it can: a
 * first byte that starts neither a TLS record nor `GET ` is `'other'` at once, so a line-protocol client whose
 * first line is short is never kept waiting.
 */
export function classifyFirstBytes(bytes: Uint8Array): SniffClass {
  const n = bytes.length;
  if (n === 0) return 'more';
  const first = bytes[0]!;
  if (first === TLS_HANDSHAKE) {
    if (n >= 2 && bytes[1] !== TLS_MAJOR) return 'other';
    if (n < TLS_SNIFF_BYTES) return 'more';
    return bytes[2]! <= TLS_MAX_MINOR ? 'tls' : 'other';
  }
  const check = Math.min(n, HTTP_SNIFF_BYTES);
  for (let i = 0; i < check; i++) if (bytes[i] !== GET_SP[i]) return 'other';
  return n < HTTP_SNIFF_BYTES ? 'more' : 'http';
}
