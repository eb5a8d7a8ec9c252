/**
 * The `Sec-WebSocket-Key` / `Sec-WebSocket-Accept` pair of the opening handshake (RFC 6455 §1.3, §4.1, §4.2.2).
 * @packageDocumentation
 */

import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { WEBSOCKET_GUID } from '../constants.js';

/** Strict base64 of 16 bytes: 22 alphabet characters then `==` (RFC 4648 §4, no whitespace, no URL alphabet). */
const KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

/**
 * A fresh `Sec-WebSocket-Key`: a nonce of 16 random bytes, base64-encoded (RFC 6455 §4.1 item 7 asks for a value
 * "randomly selected"), 24 characters long.
 */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/**
 * The `Sec-WebSocket-Accept` value proving the server read `key` (RFC 6455 §4.2.2 item 5.4):
 * base64(SHA-1(key + GUID)). The key is hashed as its ASCII text, not decoded.
 * For the RFC's sample key `dGhlIHNhbXBsZSBub25jZQ==` this is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=` (§1.3).
 */
export function acceptKeyFor(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID, 'latin1').digest('base64');
}

/**
 * True when `key` is a well-formed `Sec-WebSocket-Key` (RFC 6455 §4.2.1 item 5): exactly 24 characters of strict
 * base64 that decode to 16 bytes. Node's base64 decoder skips bad characters, so the shape is checked with a
 * regular expression first; the round trip then refuses non-zero padding bits, which no real encoder emits.
 */
export function isValidKey(key: string): boolean {
  return typeof key === 'string' && KEY_RE.test(key) && Buffer.from(key, 'base64').toString('base64') === key;
}
