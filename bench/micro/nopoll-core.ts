/**
 * nopoll's side of the micro benchmarks, behind this one adapter so the harness never depends on src/ directly.
 *
 * NOT WIRED YET: every function throws `not wired yet` and the harness reports nopoll's rows as "not wired".
 * To wire it, import from ../../src/protocol/... and replace the bodies (suggested code in bench/README.md,
 * "Wiring nopoll into the micro benchmarks"). Each function must do the same work as the ws code it is measured
 * against (see cases.ts): in particular the parser must unmask, validate text as UTF-8 and hand each complete
 * data message to `onMessage`, as ws's Receiver does.
 */

/** Parser for what a server receives (masked client frames); `push` takes bytes in any chunking. */
export interface ServerParser {
  push(chunk: Buffer): void;
}

/** Incremental UTF-8 validation of one message arriving in pieces. */
export interface Utf8Stream {
  /** False as soon as the bytes so far cannot be the start of valid UTF-8. */
  push(bytes: Uint8Array): boolean;
  /** True when the whole message was valid (no sequence left open). */
  end(): boolean;
}

/** XORs `buf` in place with the 4-byte `mask` (src/protocol/mask.ts `applyMask`). */
export function applyMask(_buf: Uint8Array, _mask: Uint8Array): void {
  throw new Error('not wired yet');
}

/** A server-side frame parser (src/protocol/frame-parser.ts `FrameParser`) delivering complete data messages. */
export function createServerParser(_onMessage: (opcode: number, payload: Uint8Array) => void): ServerParser {
  throw new Error('not wired yet');
}

/**
 * The bytes to write for one final frame (src/protocol/frame-header.ts `encodeFrameHeader` plus the payload,
 * masked into a copy when `mask` is given, as a client must).
 */
export function encodeFrame(_opcode: number, _payload: Uint8Array, _mask: Uint8Array | null): Uint8Array[] {
  throw new Error('not wired yet');
}

/** Whole-buffer UTF-8 check (src/protocol/utf8.ts `isValidUtf8`). */
export function isValidUtf8(_buf: Uint8Array): boolean {
  throw new Error('not wired yet');
}

/** Incremental UTF-8 check (src/protocol/utf8.ts `Utf8Validator`). */
export function createUtf8Stream(): Utf8Stream {
  throw new Error('not wired yet');
}
