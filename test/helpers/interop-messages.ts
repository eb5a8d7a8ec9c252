/**
 * The messages the cross-runtime interop test exchanges (test/integration/runtime-interop.test.ts), shared by both
 * ends: the side running nopoll (Node, or Bun in CI) and the `ws` peer it spawns on Node (node-ws-peer.ts). No
 * `ws` import here: under Bun, `ws` resolves to Bun's own implementation, not the package.
 */
import { compressibleText } from './deflate.js';

/** One message: sent as its parts (one frame each), echoed back whole. */
export interface InteropMessage {
  name: string;
  isBinary: boolean;
  /** One part: a whole message. Several: a fragmented message, one frame per part. */
  parts: Buffer[];
}

/** The payload a message carries once reassembled. */
export function whole(message: InteropMessage): Buffer {
  return message.parts.length === 1 ? message.parts[0]! : Buffer.concat(message.parts);
}

// Deterministic, incompressible bytes (a 32-bit LCG's high bytes), so both processes build the same payload.
function noise(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Size of the large compressible text message: it must shrink on the wire when compression was agreed. */
export const COMPRESSIBLE_BYTES = 1024 * 1024;
/** Size of the large incompressible binary message. */
export const LARGE_BINARY_BYTES = 4 * 1024 * 1024;

/** The messages, in the order they are sent: small, empty, fragmented, large, compressible. */
export function interopMessages(): InteropMessage[] {
  return [
    { name: 'text', isBinary: false, parts: [Buffer.from('héllo ✓ from the other runtime')] },
    { name: 'binary', isBinary: true, parts: [Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff])] },
    { name: 'empty text', isBinary: false, parts: [Buffer.alloc(0)] },
    {
      name: 'fragmented text',
      isBinary: false,
      parts: ['frag-one ', 'frag-two ✓ ', 'frag-three'].map((s) => Buffer.from(s)),
    },
    { name: 'fragmented binary', isBinary: true, parts: [noise(1000, 1), noise(1000, 2), noise(1000, 3)] },
    { name: 'large binary (4 MiB)', isBinary: true, parts: [noise(LARGE_BINARY_BYTES, 4)] },
    { name: 'compressible text (1 MiB)', isBinary: false, parts: [compressibleText(COMPRESSIBLE_BYTES)] },
  ];
}

/** What the `ws` peer prints, one JSON object per line on stdout. */
export type PeerEvent =
  | { event: 'open'; extensions: string }
  | { event: 'close'; code: number; reason: string; wasClean: boolean }
  | { event: 'result'; ok: boolean; failures: string[]; extensions: string };

/** The text that asks the `ws` peer (or our listener, in the test) to close with `code` and `reason`. */
export function closeRequest(code: number, reason: string): string {
  return `close:${code}:${reason}`;
}

/** Parses {@link closeRequest}; null for any other text. */
export function parseCloseRequest(text: string): { code: number; reason: string } | null {
  const match = /^close:(\d{4}):(.*)$/s.exec(text);
  return match ? { code: Number(match[1]), reason: match[2]! } : null;
}
