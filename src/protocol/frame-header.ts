/**
 * Frame header encoding (RFC 6455 §5.2). Payloads are written beside the header, never copied into it, except
 * where one small allocation is cheaper than two writes.
 * @packageDocumentation
 */

/** RSV1 bit as it appears in a header's first byte (used by permessage-deflate, RFC 7692). */
export const RSV1 = 0x40;
/** RSV2 bit. */
export const RSV2 = 0x20;
/** RSV3 bit. */
export const RSV3 = 0x10;

/** Size of a frame header for a payload of `length` bytes: 2, 4 or 10 bytes, plus 4 when masked. */
export function frameHeaderSize(length: number, masked: boolean): number {
  const base = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Writes a frame header into `target` at `offset`: FIN, RSV bits (already shifted, e.g. {@link RSV1}), opcode, the
 * 7/16/64-bit length form and, when `mask` is given, the 4 masking-key bytes.
 * @returns the offset just after the header.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  fin: boolean,
  rsv: number,
  opcode: number,
  length: number,
  mask: Uint8Array | null,
): number {
  target[offset++] = (fin ? 0x80 : 0) | rsv | opcode;
  const maskBit = mask === null ? 0 : 0x80;
  if (length < 126) {
    target[offset++] = maskBit | length;
  } else if (length < 0x10000) {
    target[offset++] = maskBit | 126;
    target[offset++] = length >>> 8;
    target[offset++] = length & 0xff;
  } else {
    target[offset++] = maskBit | 127;
    // §5.2: the most significant bit must be 0; lengths here stay below 2^53.
    const high = Math.floor(length / 0x100000000);
    const low = length >>> 0;
    target[offset++] = (high >>> 24) & 0xff;
    target[offset++] = (high >>> 16) & 0xff;
    target[offset++] = (high >>> 8) & 0xff;
    target[offset++] = high & 0xff;
    target[offset++] = low >>> 24;
    target[offset++] = (low >>> 16) & 0xff;
    target[offset++] = (low >>> 8) & 0xff;
    target[offset++] = low & 0xff;
  }
  if (mask !== null) {
    target[offset++] = mask[0]!;
    target[offset++] = mask[1]!;
    target[offset++] = mask[2]!;
    target[offset++] = mask[3]!;
  }
  return offset;
}

/** Allocates and returns a frame header (see {@link writeFrameHeader}). */
export function encodeFrameHeader(
  fin: boolean,
  opcode: number,
  length: number,
  mask: Uint8Array | null = null,
  rsv = 0,
): Buffer {
  const header = Buffer.allocUnsafe(frameHeaderSize(length, mask !== null));
  writeFrameHeader(header, 0, fin, rsv, opcode, length, mask);
  return header;
}
