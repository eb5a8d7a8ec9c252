/**
 * Frames built once and written to many connections (publish). A server's frames are not masked (RFC 6455 §5.1),
 * so one server frame is valid, byte for byte, on every connection a server writes to; a client's frames each need
 * a fresh masking key, so clients cannot share frames.
 * @packageDocumentation
 */
import { Opcode } from './constants.js';
import { COMPRESSED_RSV } from './extensions/deflate-framing.js';
import { frameHeaderSize, writeFrameHeader } from './frame-header.js';
import { isValidUtf8 } from './utf8.js';

/**
 * One whole server data message in one buffer (header and payload), unmasked. `compressed` sets RSV1: the payload
 * is then a permessage-deflate message compressed without context (RFC 7692 §7.2.1, the trailer removed).
 * @throws TypeError for an opcode other than TEXT or BINARY, or uncompressed text bytes that are not UTF-8 (§5.6).
 */
export function frameServerMessage(opcode: number, payload: Uint8Array, compressed = false): Buffer {
  if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY)
    throw new TypeError(`a shared frame carries TEXT or BINARY, not opcode ${opcode}`);
  if (opcode === Opcode.TEXT && !compressed && !isValidUtf8(payload))
    throw new TypeError('text payload is not valid UTF-8');
  return frameOnce(opcode, payload, true, compressed ? COMPRESSED_RSV : 0);
}

/**
 * A server frame, header and payload in one buffer, with no check of its own (the caller applied the rules): what
 * {@link frameServerMessage} and a server session's small frames are made of.
 */
export function frameOnce(opcode: number, payload: Uint8Array, fin = true, rsv = 0): Buffer {
  const headerSize = frameHeaderSize(payload.length, false);
  const frame = Buffer.allocUnsafe(headerSize + payload.length);
  writeFrameHeader(frame, 0, fin, rsv, opcode, payload.length, null);
  frame.set(payload, headerSize);
  return frame;
}

/** A whole server text message from a string, encoded straight into the frame (no intermediate buffer). */
export function frameServerText(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const headerSize = frameHeaderSize(length, false);
  const frame = Buffer.allocUnsafe(headerSize + length);
  writeFrameHeader(frame, 0, true, 0, Opcode.TEXT, length, null);
  frame.write(text, headerSize, 'utf8');
  return frame;
}
