/**
 * nopoll's side of the micro benchmarks, behind this one adapter so the harness depends on src/ in one place.
 * Each function does the same work as the ws code it is measured against (see cases.ts): the parser unmasks,
 * validates text as UTF-8 and hands each complete data message to `onMessage`, as ws's Receiver does.
 */
import { encodeFrameHeader } from '../../src/protocol/frame-header.js';
import { FrameParser } from '../../src/protocol/frame-parser.js';
import { applyMask as coreApplyMask, copyMasked } from '../../src/protocol/mask.js';
import { isValidUtf8 as coreIsValidUtf8, Utf8Validator } from '../../src/protocol/utf8.js';

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
export function applyMask(buf: Uint8Array, mask: Uint8Array): void {
  coreApplyMask(buf, mask, 0);
}

/** A server-side frame parser (src/protocol/frame-parser.ts `FrameParser`) delivering complete data messages. */
export function createServerParser(onMessage: (opcode: number, payload: Uint8Array) => void): ServerParser {
  const parser = new FrameParser(
    {
      onDataHeader() {
        return 1; // FrameMode.ASSEMBLED: the session's assembler would apply the message rules here
      },
      onFrame(fin, _rsv, opcode, payload) {
        // The session validates UTF-8 in nopoll; here the parser stands alone, so it is done inline.
        if (opcode === 1 && fin && !coreIsValidUtf8(payload)) throw new Error('invalid UTF-8');
        if (fin && opcode <= 2) onMessage(opcode, payload);
      },
      onFramePart() {},
      onParseError(error) {
        throw error;
      },
    },
    { expectMasked: true, maxFrameBytes: 64 * 1024 * 1024, allowedRsv: 0 },
  );
  return { push: (chunk) => parser.push(chunk) };
}

/** The bytes to write for one final frame: header plus payload, masked into a copy when `mask` is given. */
export function encodeFrame(opcode: number, payload: Uint8Array, mask: Uint8Array | null): Uint8Array[] {
  const header = encodeFrameHeader(true, opcode, payload.length, mask);
  if (mask === null) return [header, payload];
  const body = Buffer.allocUnsafe(payload.length);
  copyMasked(payload, body, 0, mask);
  return [header, body];
}

/** Whole-buffer UTF-8 check (src/protocol/utf8.ts `isValidUtf8`). */
export function isValidUtf8(buf: Uint8Array): boolean {
  return coreIsValidUtf8(buf);
}

/** Incremental UTF-8 check (src/protocol/utf8.ts `Utf8Validator`). */
export function createUtf8Stream(): Utf8Stream {
  const validator = new Utf8Validator();
  return { push: (bytes) => validator.push(bytes), end: () => validator.atBoundary };
}
