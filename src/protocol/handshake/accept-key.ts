/**
 * The `Sec-WebSocket-Key` / `Sec-WebSocket-Accept` pair of the opening handshake (RFC 6455 §1.3, §4.1, §4.2.2).
 * @packageDocumentation
 */

import * as crypto from 'node:crypto';
import { WEBSOCKET_GUID } from '../constants.js';

/** Value of each strict base64 alphabet character (RFC 4648 §4), -1 for any other code below 128. */
const B64: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

// One-shot hashing (Node 20.12+) makes no Hash object; older Node 20 releases use createHash.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash;

/**
 * A fresh `Sec-WebSocket-Key`: a nonce of 16 random bytes, base64-encoded (RFC 6455 §4.1 item 7 asks for a value
 * "randomly selected"), 24 characters long.
 */
export function generateKey(): string {
  return crypto.randomBytes(16).toString('base64');
}

/**
 * The `Sec-WebSocket-Accept` value proving the server read `key` (RFC 6455 §4.2.2 item 5.4):
 * base64(SHA-1(key + GUID)). The key is hashed as its ASCII text, not decoded.
 * For the RFC's sample key `dGhlIHNhbXBsZSBub25jZQ==` this is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=` (§1.3).
 */
export function acceptKeyFor(key: string): string {
  // Hashed as latin1 so that no key, valid or not, is changed by UTF-8 encoding (a valid one is ASCII anyway).
  if (oneShotHash !== undefined && isAscii(key)) return oneShotHash('sha1', key + WEBSOCKET_GUID, 'base64');
  return crypto
    .createHash('sha1')
    .update(key + WEBSOCKET_GUID, 'latin1')
    .digest('base64');
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * True when `key` is a well-formed `Sec-WebSocket-Key` (RFC 6455 §4.2.1 item 5): exactly 24 characters of strict
 * base64 that decode to 16 bytes: 22 alphabet characters, then `==`. The 22nd character carries 2 data bits and
 * 4 padding bits, which must be zero (no real encoder emits anything else), so it is one of `A`, `Q`, `g`, `w`.
 */
export function isValidKey(key: string): boolean {
  if (typeof key !== 'string' || key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d)
    return false;
  for (let i = 0; i < 22; i++) {
    const c = key.charCodeAt(i);
    if (c >= 128 || B64[c]! < 0) return false;
  }
  return (B64[key.charCodeAt(21)]! & 0x0f) === 0;
}
