/**
 * NOT nopoll. A minimal RFC 6455 echo server written directly on `net`, as tight as plain JavaScript allows: no
 * events, no streams, no per-message objects. All the replies a chunk produces are unmasked straight into one
 * output buffer and written once. It is the "what JavaScript can do" ceiling row of the benchmark, and a stand-in
 * for testing the harness. It does what the benchmark exercises correctly (handshake, masking, lengths, text
 * validation of unfragmented messages, ping, close) and no more: no extensions, no subprotocols, fragmented text
 * is echoed frame by frame without validation.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { endianness } from 'node:os';
import { announce, installExitHandlers, listenOptions } from './common.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_PAYLOAD = 64 * 1024 * 1024;
// A frame this large that is not complete in the current chunk gets its own payload buffer; smaller ones wait.
// A complete frame this large is unmasked where it lies and written as a view (no copy).
const BIG_FRAME = 1024;
const LITTLE_ENDIAN = endianness() === 'LE';
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** XORs `length` bytes of `buf` from `start` with the key at `mask[maskAt..maskAt+3]`, key phase 0 at `start`. */
function unmaskInPlace(buf: Buffer, start: number, length: number, mask: Buffer, maskAt: number): void {
  const m0 = mask[maskAt]!;
  const m1 = mask[maskAt + 1]!;
  const m2 = mask[maskAt + 2]!;
  const m3 = mask[maskAt + 3]!;
  let i = 0;
  if (length >= 32) {
    // Single bytes up to a 4-byte boundary, then 32-bit words (four per iteration), then the tail.
    const lead = (4 - ((buf.byteOffset + start) & 3)) & 3;
    for (; i < lead; i++) buf[start + i]! ^= mask[maskAt + (i & 3)]!;
    const k0 = mask[maskAt + (lead & 3)]!;
    const k1 = mask[maskAt + ((lead + 1) & 3)]!;
    const k2 = mask[maskAt + ((lead + 2) & 3)]!;
    const k3 = mask[maskAt + ((lead + 3) & 3)]!;
    const word = LITTLE_ENDIAN ? k0 | (k1 << 8) | (k2 << 16) | (k3 << 24) : (k0 << 24) | (k1 << 16) | (k2 << 8) | k3;
    const words = (length - lead) >>> 2;
    const view = new Int32Array(buf.buffer, buf.byteOffset + start + lead, words);
    let w = 0;
    for (; w + 4 <= words; w += 4) {
      view[w]! ^= word;
      view[w + 1]! ^= word;
      view[w + 2]! ^= word;
      view[w + 3]! ^= word;
    }
    for (; w < words; w++) view[w]! ^= word;
    i += words << 2;
  }
  for (; i < length; i++) {
    const k = i & 3;
    buf[start + i]! ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3;
  }
}

/** Writes an unmasked server frame header; returns the offset after it. */
function writeHeader(out: Buffer, at: number, b0: number, length: number): number {
  out[at] = b0;
  if (length < 126) {
    out[at + 1] = length;
    return at + 2;
  }
  if (length < 0x10000) {
    out[at + 1] = 126;
    out.writeUInt16BE(length, at + 2);
    return at + 4;
  }
  out[at + 1] = 127;
  out.writeUInt32BE(Math.floor(length / 0x100000000), at + 2);
  out.writeUInt32BE(length >>> 0, at + 6);
  return at + 10;
}

interface BigFrame {
  b0: number;
  payload: Buffer;
  filled: number;
  mask: Buffer;
}

class Connection {
  readonly #socket: Socket;
  #head: Buffer | null = Buffer.alloc(0); // the handshake request until it is complete, then null
  #carry: Buffer | null = null; // the start of an incomplete header or small frame
  #big: BigFrame | null = null;
  #fragmented = false; // inside a fragmented data message
  #closed = false;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      if (this.#head !== null) this.#handshake(chunk);
      else this.#frames(chunk);
    });
    socket.on('error', () => socket.destroy());
  }

  #handshake(chunk: Buffer): void {
    const head = this.#head!.length === 0 ? chunk : Buffer.concat([this.#head!, chunk]);
    const end = head.indexOf(HEAD_END);
    if (end < 0) {
      if (head.length > 8192) this.#socket.destroy();
      else this.#head = head;
      return;
    }
    const text = head.toString('latin1', 0, end);
    const key = /^sec-websocket-key:[ \t]*(\S+)[ \t]*$/im.exec(text)?.[1];
    if (
      !text.startsWith('GET ') ||
      key === undefined ||
      !/^upgrade:.*\bwebsocket\b/im.test(text) ||
      !/^sec-websocket-version:[ \t]*13[ \t]*$/im.test(text)
    ) {
      this.#socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      this.#closed = true;
      return;
    }
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    this.#socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    this.#head = null;
    if (head.length > end + 4) this.#frames(head.subarray(end + 4));
  }

  /** All writes made while one chunk is processed leave in a single writev. */
  #frames(input: Buffer): void {
    this.#socket.cork();
    this.#framesCorked(input);
    this.#socket.uncork();
  }

  #framesCorked(input: Buffer): void {
    let chunk = input;
    const big = this.#big;
    if (big !== null) {
      const take = Math.min(big.payload.length - big.filled, chunk.length);
      chunk.copy(big.payload, big.filled, 0, take);
      big.filled += take;
      if (big.filled === big.payload.length) {
        this.#big = null;
        unmaskInPlace(big.payload, 0, big.payload.length, big.mask, 0);
        if (!this.#deliverBig(big.b0, big.payload)) return;
      }
      if (take === chunk.length) return;
      chunk = chunk.subarray(take);
    }
    if (this.#carry !== null) {
      chunk = Buffer.concat([this.#carry, chunk]);
      this.#carry = null;
    }
    const n = chunk.length;
    let i = 0;
    // Replies to small frames are gathered in `out`; out[flushed..o] is not written yet. Replies are never longer
    // than requests (a server header is 4 bytes shorter), so n - i bytes always suffice.
    let out: Buffer | null = null;
    let o = 0;
    let flushed = 0;
    const flush = (): void => {
      if (o > flushed) this.#socket.write(out!.subarray(flushed, o));
      flushed = o;
    };
    while (n - i >= 2) {
      const b0 = chunk[i]!;
      const b1 = chunk[i + 1]!;
      if ((b1 & 0x80) === 0 || (b0 & 0x70) !== 0) return this.#close(flush, 1002); // unmasked, or RSV bits
      const len7 = b1 & 0x7f;
      let headerLength = 6;
      let length = len7;
      if (len7 === 126) {
        headerLength = 8;
        if (n - i < headerLength) break;
        length = chunk.readUInt16BE(i + 2);
      } else if (len7 === 127) {
        headerLength = 14;
        if (n - i < headerLength) break;
        length = chunk.readUInt32BE(i + 2) * 0x100000000 + chunk.readUInt32BE(i + 6);
      } else if (n - i < headerLength) break;
      if (length > MAX_PAYLOAD) return this.#close(flush, 1009);
      const opcode = b0 & 0x0f;
      if (opcode >= 8 && (length > 125 || (b0 & 0x80) === 0)) return this.#close(flush, 1002);
      const maskAt = i + headerLength - 4;
      const p = i + headerLength;
      if (n - p < length) {
        if (length >= BIG_FRAME) {
          const payload = Buffer.allocUnsafe(length);
          chunk.copy(payload, 0, p, n);
          this.#big = { b0, payload, filled: n - p, mask: Buffer.from(chunk.subarray(maskAt, p)) };
          i = n;
        }
        break;
      }
      if (opcode <= 2 && length >= BIG_FRAME) {
        flush();
        unmaskInPlace(chunk, p, length, chunk, maskAt);
        if (!this.#deliverBig(b0, chunk.subarray(p, p + length))) return;
      } else if (opcode <= 2) {
        if (!this.#sequenceOk(b0)) return this.#close(flush, 1002);
        out ??= Buffer.allocUnsafe(n - i);
        const at = writeHeader(out, o, b0, length);
        chunk.copy(out, at, p, p + length);
        unmaskInPlace(out, at, length, chunk, maskAt);
        if (opcode === 1 && (b0 & 0x80) !== 0 && !isUtf8(out.subarray(at, at + length))) {
          return this.#close(flush, 1007);
        }
        o = at + length;
      } else if (opcode === 9) {
        out ??= Buffer.allocUnsafe(n - i);
        const at = writeHeader(out, o, 0x8a, length); // pong with the ping's payload
        chunk.copy(out, at, p, p + length);
        unmaskInPlace(out, at, length, chunk, maskAt);
        o = at + length;
      } else if (opcode === 8) {
        // Close: answer with the same status code (or none), then close the TCP connection (§5.5.1).
        const code = length >= 2 ? ((chunk[p]! ^ chunk[maskAt]!) << 8) | (chunk[p + 1]! ^ chunk[maskAt + 1]!) : 0;
        return this.#close(flush, code);
      } else if (opcode !== 10) {
        return this.#close(flush, 1002); // reserved opcode
      }
      i = p + length;
    }
    if (i < n && this.#big === null) this.#carry = chunk.subarray(i);
    flush();
  }

  /** Checks continuation rules (§5.4) and tracks whether a fragmented message is open. */
  #sequenceOk(b0: number): boolean {
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (opcode === 0) {
      if (!this.#fragmented) return false;
    } else if (this.#fragmented) return false;
    this.#fragmented = !fin;
    return true;
  }

  /** Echoes one large data frame whose payload is already unmasked: header, then the payload as it is. */
  #deliverBig(b0: number, payload: Buffer): boolean {
    const opcode = b0 & 0x0f;
    if (!this.#sequenceOk(b0)) {
      this.#close(null, 1002);
      return false;
    }
    if (opcode === 1 && (b0 & 0x80) !== 0 && !isUtf8(payload)) {
      this.#close(null, 1007);
      return false;
    }
    const header = Buffer.allocUnsafe(10);
    const headerLength = writeHeader(header, 0, b0, payload.length);
    this.#socket.write(header.subarray(0, headerLength));
    this.#socket.write(payload);
    return true;
  }

  /** Flushes pending replies, sends a close frame with `code` (none when 0), and ends the connection. */
  #close(flush: (() => void) | null, code: number): void {
    flush?.();
    const frame = code === 0 ? Buffer.from([0x88, 0]) : Buffer.from([0x88, 2, code >> 8, code & 0xff]);
    this.#closed = true;
    this.#carry = null;
    this.#big = null;
    this.#socket.end(frame);
  }
}

installExitHandlers();
const { host, port } = listenOptions(process.argv.slice(2));
const server = createServer({ noDelay: true }, (socket) => new Connection(socket));
server.listen(port, host, () =>
  announce('ws', host, (server.address() as AddressInfo).port, 'raw net ceiling, not nopoll'),
);
