/**
 * In-place XOR masking of payloads (RFC 6455 §5.3). Masking and unmasking are the same operation.
 * @packageDocumentation
 */
import { randomFillSync } from 'node:crypto';

// Byte order of this machine, so a 32-bit word view can be XORed with a word built from the 4 mask bytes.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Below this size a plain byte loop beats setting up a word view.
const WORD_THRESHOLD = 32;

/**
 * XORs `buf` in place with the 4-byte `mask`, starting at position `offset` of the mask cycle (0 to 3), which lets
 * a payload that arrives in pieces be unmasked piece by piece.
 * @returns the mask offset for the byte after `buf`.
 */
export function applyMask(buf: Uint8Array, mask: Uint8Array, offset = 0): number {
  const length = buf.length;
  let i = 0;
  let m = offset & 3;
  if (length >= WORD_THRESHOLD) {
    // Bytes until the view is 4-byte aligned, then whole words, then the tail.
    const misalign = (4 - (buf.byteOffset & 3)) & 3;
    for (; i < misalign; i++) {
      buf[i] ^= mask[m]!;
      m = (m + 1) & 3;
    }
    const words = (length - i) >>> 2;
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    const b0 = mask[m]!;
    const b1 = mask[(m + 1) & 3]!;
    const b2 = mask[(m + 2) & 3]!;
    const b3 = mask[(m + 3) & 3]!;
    // Kept as int32 (no `>>> 0`): a uint32 above 2^31 would be a heap number and slow the loop down tenfold.
    const word = LITTLE_ENDIAN ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
    for (let w = 0; w < words; w++) view[w] = view[w]! ^ word;
    i += words << 2;
  }
  for (; i < length; i++) {
    buf[i] ^= mask[m]!;
    m = (m + 1) & 3;
  }
  return m;
}

/**
 * Copies `source` into `target` at `targetOffset` while masking it, in one pass (a client's outgoing payload must
 * not be masked in the caller's own buffer).
 */
export function copyMasked(source: Uint8Array, target: Uint8Array, targetOffset: number, mask: Uint8Array): void {
  const length = source.length;
  const m0 = mask[0]!;
  const m1 = mask[1]!;
  const m2 = mask[2]!;
  const m3 = mask[3]!;
  let i = 0;
  const end4 = length - 3;
  for (; i < end4; i += 4) {
    const t = targetOffset + i;
    target[t] = source[i]! ^ m0;
    target[t + 1] = source[i + 1]! ^ m1;
    target[t + 2] = source[i + 2]! ^ m2;
    target[t + 3] = source[i + 3]! ^ m3;
  }
  for (; i < length; i++) target[targetOffset + i] = source[i]! ^ mask[i & 3]!;
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
