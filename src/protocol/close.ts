/**
 * Close frame bodies (RFC 6455 §5.5.1, §7.4).
 * @packageDocumentation
 */
import { InvalidPayloadError, ProtocolError } from '../errors.js';
import { MAX_CLOSE_REASON_BYTES } from './constants.js';
import { isValidUtf8 } from './utf8.js';

/**
 * Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4.1, §7.4.2): the registered codes except
 * the local-only 1005, 1006 and 1015 and the unassigned 1004, plus the 3000-4999 ranges for libraries and
 * applications. 1016-2999 are reserved for future RFCs and refused.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

/** A parsed close frame body. `code` is 1005 when the body was empty (RFC 6455 §7.1.5). */
export interface CloseBody {
  /** Status code received, or 1005 when none. */
  code: number;
  /** Reason text received (empty when none). */
  reason: string;
}

/** Parses a received close payload; a peer violation becomes a typed error (1002, or 1007 for bad UTF-8). */
export function parseCloseBody(payload: Uint8Array): CloseBody | ProtocolError {
  if (payload.length === 0) return { code: 1005, reason: '' };
  if (payload.length === 1) {
    return new ProtocolError('NOPOLL_ERR_INVALID_CLOSE_BODY', 'close frame body of 1 byte');
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) {
    return new ProtocolError('NOPOLL_ERR_INVALID_CLOSE_CODE', `invalid close code ${code}`);
  }
  const reasonBytes = payload.subarray(2);
  if (!isValidUtf8(reasonBytes)) return new InvalidPayloadError('close reason is not valid UTF-8');
  return { code, reason: Buffer.from(reasonBytes.buffer, reasonBytes.byteOffset, reasonBytes.length).toString('utf8') };
}

/**
 * Builds a close payload. With no code the body is empty (RFC 6455 §5.5.1).
 * @throws RangeError when the code may not be sent or the reason exceeds 123 bytes; TypeError for a reason
 * without a code.
 */
export function encodeCloseBody(code?: number, reason?: string): Buffer {
  if (code === undefined) {
    if (reason) throw new TypeError('a close reason needs a close code');
    return Buffer.alloc(0);
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
  const reasonLength = reason ? Buffer.byteLength(reason) : 0;
  if (reasonLength > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(
      `close reason is ${reasonLength} bytes; at most ${MAX_CLOSE_REASON_BYTES} fit in a close frame`,
    );
  }
  const body = Buffer.allocUnsafe(2 + reasonLength);
  body.writeUInt16BE(code, 0);
  if (reasonLength > 0) body.write(reason!, 2, 'utf8');
  return body;
}
