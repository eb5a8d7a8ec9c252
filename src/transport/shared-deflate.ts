/**
 * Compression of a published message once for every subscriber that lets the server compress without context
 * (RFC 7692 §7.1.1.1 `server_no_context_takeover`): each such message is compressed on its own, so one compressed
 * payload is valid on all of them. Subscribers whose agreement keeps the context compress per connection instead.
 * The compression runs synchronously, once per published message (not per subscriber), so the shared frame is
 * written in publish order with everything else; `compress: false` avoids it for large messages.
 * @packageDocumentation
 */
import { constants, deflateRawSync } from 'node:zlib';
import { finishCompressed, zlibWindowBits } from '../protocol/extensions/deflate-framing.js';
import type { DeflateSetup } from './zlib-codec.js';

/** True when messages to this connection may be compressed once and shared (no context kept between messages). */
export function sharesCompression(setup: Readonly<DeflateSetup>): boolean {
  return setup.deflateNoContextTakeover;
}

/** A key telling apart the settings that change the compressed bytes (window, level, memory level). */
export function compressionKey(setup: Readonly<DeflateSetup>): number {
  return (zlibWindowBits(setup.deflateWindowBits) << 8) | ((setup.level + 1) << 4) | setup.memLevel;
}

/**
 * Compresses one whole message without context, as a permessage-deflate payload (the sync flush's trailing
 * 00 00 ff ff removed, §7.2.1).
 */
export function compressAlone(payload: Uint8Array, setup: Readonly<DeflateSetup>): Buffer {
  const out = deflateRawSync(payload, {
    windowBits: zlibWindowBits(setup.deflateWindowBits),
    level: setup.level,
    memLevel: setup.memLevel,
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  return finishCompressed(out);
}
