/**
 * In-place XOR masking of payloads (RFC 6455 §5.3). Masking and unmasking are the same operation.
 * @packageDocumentation
 */
import { randomFillSync } from 'node:crypto';
import { inSimdReadBuffer, simdCopyMask } from './mask-simd.js';

// Byte order of this machine, so a 32-bit word view can be XORed with a word built from the 4 mask bytes.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Below this size a plain byte loop beats setting up a word view.
const WORD_THRESHOLD = 32;
// From this size on, WebAssembly SIMD (with its two copies) beats the word loop.
const SIMD_THRESHOLD = 4096;

/**
 * XORs `buf` in place with the 4-byte `mask`, starting at position `offset` of the mask cycle (0 to 3), which lets
 * a payload that arrives in pieces be unmasked piece by piece.
 * @returns the mask offset for the byte after `buf`.
 */
export function applyMask(buf: Uint8Array, mask: Uint8Array, offset = 0): number {
  return applyMaskKey(buf, (mask[0]! << 24) | (mask[1]! << 16) | (mask[2]! << 8) | mask[3]!, offset);
}

/**
 * {@link applyMask} with the masking key as one 32-bit integer, first wire byte in the high bits: the form the
 * parser keeps, so an idle connection holds no key buffer.
 */
export function applyMaskKey(buf: Uint8Array, key: number, offset = 0): number {
  const length = buf.length;
  // Rotate the key so that its high byte is the mask byte for buf[0].
  const shift = (offset & 3) << 3;
  const k = shift === 0 ? key | 0 : (key << shift) | (key >>> (32 - shift));
  const b0 = (k >>> 24) & 0xff;
  const b1 = (k >>> 16) & 0xff;
  const b2 = (k >>> 8) & 0xff;
  const b3 = k & 0xff;
  if (length >= SIMD_THRESHOLD && simdCopyMask(buf, buf, 0, b0, b1, b2, b3)) return (offset + length) & 3;
  let i = 0;
  if (length >= WORD_THRESHOLD) {
    // Bytes until the view is 4-byte aligned, then whole words, then the tail.
    const misalign = (4 - (buf.byteOffset & 3)) & 3;
    let c0 = b0;
    let c1 = b1;
    let c2 = b2;
    let c3 = b3;
    for (; i < misalign; i++) {
      buf[i] ^= c0;
      const t = c0;
      c0 = c1;
      c1 = c2;
      c2 = c3;
      c3 = t;
    }
    const words = (length - i) >>> 2;
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    // Kept as int32 (no `>>> 0`): a uint32 above 2^31 would be a heap number and slow the loop down tenfold.
    const word = LITTLE_ENDIAN ? c0 | (c1 << 8) | (c2 << 16) | (c3 << 24) : (c0 << 24) | (c1 << 16) | (c2 << 8) | c3;
    let w = 0;
    for (; w + 4 <= words; w += 4) {
      view[w] = view[w]! ^ word;
      view[w + 1] = view[w + 1]! ^ word;
      view[w + 2] = view[w + 2]! ^ word;
      view[w + 3] = view[w + 3]! ^ word;
    }
    for (; w < words; w++) view[w] = view[w]! ^ word;
    const done = i + (words << 2);
    // The tail continues the cycle where the aligned head left it.
    for (let j = done; j < length; j++) {
      const m = (j - i) & 3;
      buf[j] ^= m === 0 ? c0 : m === 1 ? c1 : m === 2 ? c2 : c3;
    }
    return (offset + length) & 3;
  }
  const end4 = length - 3;
  for (; i < end4; i += 4) {
    buf[i] ^= b0;
    buf[i + 1] ^= b1;
    buf[i + 2] ^= b2;
    buf[i + 3] ^= b3;
  }
  for (; i < length; i++) {
    const m = i & 3;
    buf[i] ^= m === 0 ? b0 : m === 1 ? b1 : m === 2 ? b2 : b3;
  }
  return (offset + length) & 3;
}

/**
 * Copies `source` into `target` at `targetOffset`, masked with `key` from position `offset` of the mask cycle, in
 * one pass where WebAssembly SIMD allows (the parser's path for frames that arrive in several chunks).
 */
export function copyMaskKey(
  source: Uint8Array,
  target: Uint8Array,
  targetOffset: number,
  key: number,
  offset: number,
): void {
  const length = source.length;
  // In the read buffer the bytes need no copy into WebAssembly memory, so SIMD pays off from much smaller sizes.
  if (length >= SIMD_THRESHOLD || (length >= WORD_THRESHOLD && inSimdReadBuffer(source))) {
    const shift = (offset & 3) << 3;
    const k = shift === 0 ? key | 0 : (key << shift) | (key >>> (32 - shift));
    if (simdCopyMask(source, target, targetOffset, (k >>> 24) & 0xff, (k >>> 16) & 0xff, (k >>> 8) & 0xff, k & 0xff))
      return;
  }
  target.set(source, targetOffset);
  applyMaskKey(target.subarray(targetOffset, targetOffset + length), key, offset);
}

/**
 * Copies `source` into `target` at `targetOffset` and masks the copy (a client's outgoing payload must not be
 * masked in the caller's own buffer). Small payloads go byte by byte in one pass; larger ones are copied natively,
 * then masked a word at a time.
 */
export function copyMasked(source: Uint8Array, target: Uint8Array, targetOffset: number, mask: Uint8Array): void {
  const length = source.length;
  if (length >= WORD_THRESHOLD) {
    target.set(source, targetOffset);
    applyMask(target.subarray(targetOffset, targetOffset + length), mask, 0);
    return;
  }
  for (let i = 0; i < length; i++) target[targetOffset + i] = source[i]! ^ mask[i & 3]!;
}

/** Where masking keys come from. Tests pass a fixed source; production uses {@link randomMaskSource}. */
export type MaskSource = (out: Uint8Array, offset: number) => void;

// Random masking keys are drawn in batches: one randomFillSync call per 2048 frames instead of per frame.
const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** Writes a fresh, unpredictable 4-byte masking key (RFC 6455 §5.3 requires a strong source of entropy). */
export const randomMaskSource: MaskSource = (out, offset) => {
  if (poolOffset === POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  out[offset] = pool[poolOffset]!;
  out[offset + 1] = pool[poolOffset + 1]!;
  out[offset + 2] = pool[poolOffset + 2]!;
  out[offset + 3] = pool[poolOffset + 3]!;
  poolOffset += 4;
};
