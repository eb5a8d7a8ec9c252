/**
 * An independent permessage-deflate codec for the tests (RFC 7692 §7.2), written on zlib's one-shot functions:
 * context takeover is reproduced by giving zlib the last 32 KiB of the plain text as a preset dictionary, which is
 * exactly the window a kept context has. Nothing here imports from src/.
 */
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const WINDOW = 32 * 1024;

/** One direction of a permessage-deflate stream, with or without context takeover. */
export class DeflateCodec {
  #history: Buffer = Buffer.alloc(0);
  readonly #takeover: boolean;
  readonly #windowBits: number;

  constructor(options: { takeover?: boolean; windowBits?: number } = {}) {
    this.#takeover = options.takeover ?? true;
    this.#windowBits = options.windowBits ?? 15;
  }

  #options(): { finishFlush: number; windowBits: number; dictionary?: Buffer } {
    const base = { finishFlush: constants.Z_SYNC_FLUSH, windowBits: this.#windowBits };
    return this.#history.length > 0 ? { ...base, dictionary: this.#history } : base;
  }

  #remember(plain: Buffer): void {
    if (!this.#takeover) return;
    const window = Math.min(WINDOW, 1 << this.#windowBits);
    this.#history = Buffer.concat([this.#history, plain]).subarray(-window);
  }

  /** Compresses one message: the payload of its frames, trailer removed (§7.2.1). */
  compress(data: string | Buffer): Buffer {
    const plain = typeof data === 'string' ? Buffer.from(data) : data;
    const out = deflateRawSync(plain, this.#options());
    if (!out.subarray(-4).equals(TRAILER)) throw new Error('sync flush did not end with 00 00 ff ff');
    this.#remember(plain);
    return out.subarray(0, -4);
  }

  /** Inflates one message's payload (all its frames joined), appending the trailer (§7.2.2). */
  decompress(payload: Buffer): Buffer {
    const plain = inflateRawSync(Buffer.concat([payload, TRAILER]), this.#options());
    this.#remember(plain);
    return plain;
  }
}

/** A message compressed on its own (no context). */
export function deflateOnce(data: string | Buffer): Buffer {
  return new DeflateCodec({ takeover: false }).compress(data);
}

/** Inflates a message compressed without context. */
export function inflateOnce(payload: Buffer): Buffer {
  return new DeflateCodec({ takeover: false }).decompress(payload);
}

/** Compressible text of `length` bytes (JSON-like records, with multi-byte UTF-8 characters). */
export function compressibleText(length: number, seed = 1): Buffer {
  const parts: string[] = [];
  let size = 0;
  let x = seed;
  while (size < length) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const part = `{"id":${x % 100000},"name":"ünïcode-${x % 97}","ok":${x % 2 === 0},"tags":["α","β","✓"]},`;
    parts.push(part);
    size += Buffer.byteLength(part);
  }
  const all = Buffer.from(parts.join(''));
  // Cut at a character boundary at or below `length`, then pad with ASCII to the exact size.
  let end = Math.min(length, all.length);
  while (end > 0 && (all[end]! & 0xc0) === 0x80) end--;
  return Buffer.concat([all.subarray(0, end), Buffer.alloc(length - end, 0x20)]);
}
