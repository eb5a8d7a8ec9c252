/**
 * The load generator's whole WebSocket "implementation": client frames are built once and reused (RFC 6455 §5.2,
 * masked as §5.3 requires of a client, with one fixed key), and server frames are only skipped over: the reader
 * parses headers to find where each frame ends and never looks at payload bytes.
 */

import { constants, deflateRawSync } from 'node:zlib';

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;

/** A fixed masking key. The load generator is a test client; predictability of the key does not matter here. */
const MASK = Buffer.from([0x5a, 0xc3, 0x96, 0x1e]);

/** A complete, masked, final client frame carrying `payload` (`rsv` as in the first header byte, e.g. 0x40). */
export function buildClientFrame(opcode: number, payload: Uint8Array, rsv = 0): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const headerLength = 2 + lengthBytes + 4;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | rsv | opcode;
  if (lengthBytes === 0) {
    frame[1] = 0x80 | length;
  } else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  MASK.copy(frame, headerLength - 4);
  for (let i = 0; i < length; i++) frame[headerLength + i] = payload[i]! ^ MASK[i & 3]!;
  return frame;
}

/** `count` copies of `frame` back to back, so several messages go out in one write. */
export function repeatFrame(frame: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(frame.length * count);
  for (let i = 0; i < count; i++) frame.copy(out, i * frame.length);
  return out;
}

/** Deterministic, incompressible-looking payload bytes. */
export function payloadOf(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A permessage-deflate message (RFC 7692 §7.2.1): `payload` compressed on its own, trailing 00 00 ff ff removed,
 * in a frame with RSV1. Compressed without context, so it is valid whatever the server keeps between messages.
 */
export function buildCompressedClientFrame(opcode: number, payload: Uint8Array): Buffer {
  const z = deflateRawSync(payload, { level: 6, finishFlush: constants.Z_SYNC_FLUSH });
  return buildClientFrame(opcode, z.subarray(0, z.length - 4), 0x40);
}

/** Deterministic JSON-like text of exactly `size` bytes (ASCII), compressible as typical application messages are. */
export function textPayloadOf(size: number, seed = 1): Buffer {
  let text = '';
  let x = seed;
  for (let i = 0; text.length < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    text += `{"id":${i},"user":"user${x % 5000}","active":${x % 3 === 0},"score":${(x % 100000) / 100},"tags":["t${x % 17}","t${x % 29}"]},`;
  }
  return Buffer.from(text.slice(0, size), 'latin1');
}

/** The `Sec-WebSocket-Extensions` offer the load generator makes in deflate scenarios (what browsers send). */
export const DEFLATE_OFFER = 'permessage-deflate; client_max_window_bits';

/** True when a response head accepted permessage-deflate. */
export function acceptsDeflate(head: Buffer): boolean {
  return /\r\nsec-websocket-extensions:[ \t]*permessage-deflate/i.test(head.toString('latin1'));
}

/** Close frame with status 1000 (normal closure). */
export const CLOSE_FRAME = buildClientFrame(OP_CLOSE, Buffer.from([0x03, 0xe8]));

/** A fixed, valid RFC 6455 §4.1 opening handshake request (the key is the RFC's own example nonce). */
export function upgradeRequest(host: string, port: number, extensions?: string, path = '/'): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\n` +
      `Host: ${host}:${port}\r\n` +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
      'Sec-WebSocket-Version: 13\r\n' +
      (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
      '\r\n',
    'latin1',
  );
}

/** True when a response head (everything before the blank line) is a 101. Nothing else is checked. */
export function isSwitchingProtocols(head: Buffer): boolean {
  return head.length >= 12 && head.toString('latin1', 0, 12) === 'HTTP/1.1 101';
}

/** Bytes of a frame header whose second byte is `b1`: 2, +2 or +8 for the extended length, +4 for a mask. */
function headerLengthOf(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/**
 * Counts complete data messages in the server-to-client byte stream, in any chunking (headers split across chunks
 * are stitched in a 14-byte spill buffer). Payloads are skipped, never copied.
 */
export class ReplyReader {
  /** Data messages completed (final frames of opcode 0, 1 or 2). */
  messages = 0;
  /** Data payload bytes seen. */
  payloadBytes = 0;
  /** Replies whose size differed from `expectedBytes`, or masked server frames (§5.1 forbids them). */
  errors = 0;
  /** A close frame arrived. */
  closed = false;

  readonly #expectedBytes: number;
  readonly #spill = Buffer.allocUnsafe(14);
  #spillLength = 0;
  #remaining = 0;
  #inPayload = false;
  #fin = false;
  #opcode = 0;
  #messageBytes = 0;

  /** @param expectedBytes the size every echoed message should have; 0 disables the check. */
  constructor(expectedBytes: number) {
    this.#expectedBytes = expectedBytes;
  }

  /** Consumes a chunk and returns how many data messages it completed. */
  feed(chunk: Buffer): number {
    const n = chunk.length;
    let i = 0;
    let completed = 0;
    while (i < n) {
      if (this.#inPayload) {
        const take = Math.min(this.#remaining, n - i);
        this.#remaining -= take;
        i += take;
        if (this.#opcode < 8) this.#messageBytes += take;
        if (this.#remaining === 0) completed += this.#endFrame();
        continue;
      }
      // Fast path: the whole header is inside this chunk.
      if (this.#spillLength === 0 && n - i >= 2) {
        const headerLength = headerLengthOf(chunk[i + 1]!);
        if (n - i >= headerLength) {
          this.#beginFrame(chunk, i);
          i += headerLength;
          if (this.#remaining === 0) completed += this.#endFrame();
          continue;
        }
      }
      // Slow path: gather the header in the spill buffer, two bytes first to learn its length.
      if (this.#spillLength < 2) {
        const take = Math.min(2 - this.#spillLength, n - i);
        chunk.copy(this.#spill, this.#spillLength, i, i + take);
        this.#spillLength += take;
        i += take;
        if (this.#spillLength < 2) break;
      }
      const headerLength = headerLengthOf(this.#spill[1]!);
      const take = Math.min(headerLength - this.#spillLength, n - i);
      chunk.copy(this.#spill, this.#spillLength, i, i + take);
      this.#spillLength += take;
      i += take;
      if (this.#spillLength < headerLength) break;
      this.#spillLength = 0;
      this.#beginFrame(this.#spill, 0);
      if (this.#remaining === 0) completed += this.#endFrame();
    }
    return completed;
  }

  #beginFrame(buf: Buffer, at: number): void {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    this.#fin = (b0 & 0x80) !== 0;
    this.#opcode = b0 & 0x0f;
    if (b1 & 0x80) this.errors++;
    const len7 = b1 & 0x7f;
    this.#remaining =
      len7 < 126
        ? len7
        : len7 === 126
          ? buf.readUInt16BE(at + 2)
          : buf.readUInt32BE(at + 2) * 0x100000000 + buf.readUInt32BE(at + 6);
    this.#inPayload = true;
  }

  #endFrame(): number {
    this.#inPayload = false;
    if (this.#opcode >= 8) {
      if (this.#opcode === OP_CLOSE) this.closed = true;
      return 0;
    }
    if (!this.#fin) return 0;
    const bytes = this.#messageBytes;
    this.#messageBytes = 0;
    this.payloadBytes += bytes;
    if (this.#expectedBytes !== 0 && bytes !== this.#expectedBytes) this.errors++;
    this.messages++;
    return 1;
  }
}
