/**
 * permessage-deflate's wire rules (RFC 7692 §6-§7.2), apart from zlib itself: which bit marks a compressed message,
 * how a compressed payload ends, and what an inflater must be fed. Pure: the transport's zlib codec runs the
 * compression and calls these on its input and output.
 * @packageDocumentation
 */

import { RSV1 } from '../frame-header.js';

/** RSV1: set on the first frame of a compressed message, and only there (§6, §6.1). */
export const COMPRESSED_RSV = RSV1;

// The end of a sync flush: an empty stored block, 00 00 ff ff (§7.2.1).
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
// An empty stored block cut short to its first byte: what an empty message compresses to when zlib had nothing
// to flush (§7.2.3.6).
const EMPTY_BLOCK = Buffer.from([0x00]);

function endsWithTrailer(b: Buffer): boolean {
  const n = b.length;
  return n >= 4 && b[n - 4] === 0x00 && b[n - 3] === 0x00 && b[n - 2] === 0xff && b[n - 1] === 0xff;
}

/**
 * The payload to send for a message's last compressed bytes (zlib output after a sync flush, §7.2.1): the trailing
 * 00 00 ff ff removed; when zlib wrote nothing new, the single byte 0x00 instead.
 */
export function finishCompressed(out: Buffer): Buffer {
  if (endsWithTrailer(out)) return out.subarray(0, out.length - 4);
  return out.length === 0 ? EMPTY_BLOCK : Buffer.concat([out, EMPTY_BLOCK]);
}

/** What must follow a message's last frame data into the inflater: the 00 00 ff ff the sender removed (§7.2.2). */
export const INFLATE_TAIL: Readonly<Buffer> = TRAILER;

/**
 * zlib's window for a negotiated one (§7.1.2): zlib cannot compress with a 256-byte window and uses 512 instead; a
 * 512-byte window never emits a distance over 250 bytes (zlib's MAX_DIST), so the output still fits a peer that
 * inflates with 256 bytes.
 */
export function zlibWindowBits(bits: number): number {
  return bits < 9 ? 9 : bits;
}
