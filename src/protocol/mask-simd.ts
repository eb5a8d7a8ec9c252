/**
 * Masking with WebAssembly SIMD for large payloads: 16 bytes per instruction instead of 4 for the JavaScript word
 * loop. WebAssembly cannot see a Buffer's memory, so each 64 KiB block is copied in, XORed, and copied back; the
 * two native copies still cost less than the JavaScript loop above a few KiB. Bytes that already lie in the module's
 * memory (the transport's shared read buffer, {@link simdReadBuffer}) are masked where they lie and copied out once.
 * Falls back (returns false) where WebAssembly SIMD is missing.
 * @packageDocumentation
 */

// A hand-assembled module: memory "mem" (5 pages: one 64 KiB block for copies, then the 256 KiB read buffer) and
// mask(ptr, len, key), which XORs [ptr, ptr + (len & ~15)) with i32x4.splat(key): four 16-byte blocks per turn of
// a first loop while 64 bytes remain, then one per turn. The bytes, section by section: header; type
// (i32 i32 i32) -> (); one function; memory min 5; exports "mem" and "mask"; the function body, whose locals are
// 3 $end64, 4 $k (v128), 5 $end16.
const MODULE =
  '0061736d01000000' +
  '01070160037f7f7f00' +
  '03020100' +
  '0503010005' +
  '070e02036d656d0200046d61736b0000' +
  '0aa201019f01' + // code section, one body of 159 bytes
  '03017f017b017f' + // locals: i32, v128, i32
  '2002fd112104' + // $k = i32x4.splat(key)
  '200020014170716a2105' + // $end16 = ptr + (len & -16)
  '200020014140716a2103' + // $end64 = ptr + (len & -64)
  '02400340' + // block, loop
  '200020034f0d01' + // if ptr >= $end64: break
  '20002000fd0000002004fd51fd0b0000' + // v128.store(ptr, v128.load(ptr) ^ $k), offsets 0, 16, 32, 48
  '20002000fd0000102004fd51fd0b0010' +
  '20002000fd0000202004fd51fd0b0020' +
  '20002000fd0000302004fd51fd0b0030' +
  '200041c0006a2100' + // ptr += 64
  '0c000b0b' + // continue; end loop, block
  '02400340' + // block, loop
  '200020054f0d01' + // if ptr >= $end16: break
  '20002000fd0000002004fd51fd0b0000' + // one 16-byte block
  '200041106a2100' + // ptr += 16
  '0c000b0b' + // continue; end loop, block
  '0b'; // end function

const BLOCK = 65536;
/** Size of the read buffer inside the module's memory (pages 1 to 4). */
const READ_BUFFER_BYTES = 4 * BLOCK;

interface SimdMask {
  memory: ArrayBuffer;
  view: Uint8Array;
  mask: (ptr: number, len: number, key: number) => void;
}

// The few WebAssembly types used here (TypeScript's ES2022 library, as configured, does not declare them).
interface WasmRuntime {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { mem: { buffer: ArrayBuffer }; mask: SimdMask['mask'] } };
}

function instantiate(): SimdMask | null {
  const wasm = (globalThis as { WebAssembly?: WasmRuntime }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    const { exports } = new wasm.Instance(new wasm.Module(Buffer.from(MODULE, 'hex')));
    // The memory never grows, so views of it stay valid for the life of the process.
    return { memory: exports.mem.buffer, view: new Uint8Array(exports.mem.buffer, 0, BLOCK), mask: exports.mask };
  } catch {
    return null; // no SIMD support: the JavaScript loop does the work
  }
}

const simd = instantiate();

/**
 * Writes `source` XORed with the masking bytes b0..b3 (b0 for `source[0]`) into `target` at `targetOffset`;
 * `target` may be `source` itself (in-place masking). Copying from a received chunk into a frame buffer this way
 * costs the same two copies as masking in place, so the separate copy is saved.
 * @returns false when WebAssembly SIMD is unavailable (nothing was done).
 */
export function simdCopyMask(
  source: Uint8Array,
  target: Uint8Array,
  targetOffset: number,
  b0: number,
  b1: number,
  b2: number,
  b3: number,
): boolean {
  if (simd === null) return false;
  const { view, mask } = simd;
  // i32x4.splat lays the key out little-endian in each lane: b0 first in memory.
  const key = b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
  const length = source.length;
  if (inSimdReadBuffer(source)) {
    // Already in the module's memory (read there by the transport): masked in place, copied out once.
    mask(source.byteOffset, length, key);
    for (let i = length & ~15; i < length; i++) {
      const m = i & 3;
      source[i] = source[i]! ^ (m === 0 ? b0 : m === 1 ? b1 : m === 2 ? b2 : b3);
    }
    if (target !== source) target.set(source, targetOffset);
    return true;
  }
  for (let at = 0; at < length; at += BLOCK) {
    const n = Math.min(BLOCK, length - at);
    view.set(n === length ? source : source.subarray(at, at + n), 0);
    mask(0, n, key);
    // The last bytes of a block not filling 16; blocks start at multiples of 4, so the cycle restarts at b0.
    for (let i = n & ~15; i < n; i++) {
      const m = i & 3;
      view[i] = view[i]! ^ (m === 0 ? b0 : m === 1 ? b1 : m === 2 ? b2 : b3);
    }
    target.set(n === BLOCK ? view : view.subarray(0, n), targetOffset + at);
  }
  return true;
}

/**
 * A 256 KiB buffer inside the WebAssembly module's memory, or null without WebAssembly SIMD. The transport reads
 * sockets into it (one buffer for the process, see transport/read-buffer.ts), so masked payloads read there are
 * unmasked without being copied in first. The same buffer on every call.
 */
export function simdReadBuffer(): Buffer | null {
  return simd === null ? null : Buffer.from(simd.memory, BLOCK, READ_BUFFER_BYTES);
}

/** True when `bytes` lie in the read buffer of {@link simdReadBuffer} (masking them there needs no copy in). */
export function inSimdReadBuffer(bytes: Uint8Array): boolean {
  return simd !== null && bytes.buffer === simd.memory && bytes.byteOffset >= BLOCK;
}
