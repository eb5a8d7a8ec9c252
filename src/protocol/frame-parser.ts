/**
 * Incremental frame parser (RFC 6455 §5.2-§5.5). Bytes go in through {@link FrameParser.push} in any chunking;
 * complete, unmasked, validated frames come out through a {@link FrameSink}. Frame rules live here (§5.2-§5.5:
 * opcodes, RSV bits, masking, control frames, the frame limit); message rules (continuation, message size, UTF-8)
 * belong to the sink, which it asks at each data frame header. It never touches I/O and never throws on peer input:
 * a violation is reported once through `onParseError`, after which input is ignored.
 * @packageDocumentation
 */
import { MessageTooBigError, ProtocolError } from '../errors.js';
import { MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import { applyMaskKey, copyMaskKey } from './mask.js';
import { FrameMode } from './message-assembler.js';

/** Receives what the parser finds. One monomorphic interface. */
export interface FrameSink {
  /**
   * The header of a data frame (TEXT, BINARY or CONTINUATION), before its payload: the message rules apply here.
   * Returns a {@link FrameMode}: REFUSED (the sink failed the connection), ASSEMBLED (gather the payload, under
   * the frame limit) or STREAMED (hand it over in parts through `onFramePart`, no frame limit).
   */
  onDataHeader(fin: boolean, rsv: number, opcode: number, length: number): number;
  /**
   * A complete frame. `payload` is already unmasked; it is usually a view into the pushed chunk (no copy), so it
   * stays valid as long as the sink keeps it. `rsv` holds the RSV bits as in the first header byte (0x70 mask). A
   * STREAMED frame comes with an empty payload (its bytes went out in parts).
   */
  onFrame(fin: boolean, rsv: number, opcode: number, payload: Buffer): void;
  /**
   * Part of a data frame's payload that arrives over several chunks, unmasked, as it arrives (before `onFrame`).
   * For an ASSEMBLED frame, a view of the payload being gathered (lets the sink check UTF-8 before a long frame
   * ends); for a STREAMED frame, a view of the pushed chunk. It may stop the parser.
   */
  onFramePart(part: Buffer): void;
  /** The peer broke the protocol; the parser has stopped. */
  onParseError(error: ProtocolError): void;
}

/** What the parser enforces. */
export interface FrameParserOptions {
  /** Server: true (client frames must be masked, §5.1). Client: false (server frames must not be). */
  expectMasked: boolean;
  /** Largest payload of one gathered frame, checked from the header before anything is buffered. */
  maxFrameBytes: number;
  /** RSV bits a negotiated extension gives meaning to (0 without extensions, §5.2). */
  allowedRsv: number;
}

const STATE_HEADER: number = 0;
const STATE_PAYLOAD: number = 1;
const STATE_STOPPED: number = 2;
// Between frames, holding input until resume() (see pause()).
const STATE_PAUSED: number = 3;

const EMPTY = Buffer.alloc(0);

/** The incremental, allocation-light frame parser. See the module comment. */
export class FrameParser {
  readonly #sink: FrameSink;
  #expectMasked: boolean;
  #maxFrameBytes: number;
  #allowedRsv: number;

  #state: number = STATE_HEADER;
  // A header cut by a chunk edge waits here (at most 14 bytes).
  #spill: Buffer | null = null; // allocated the first time a header is cut
  #spillLength = 0;
  // The frame whose payload is arriving.
  #fin = false;
  #rsv = 0;
  #opcode = 0;
  #masked = false;
  #maskKey = 0; // the 4 masking-key bytes as one int32, first byte high
  #length = 0;
  #payload: Buffer = EMPTY;
  #received = 0;
  // Input pushed while paused, in order (views of the pushed chunks).
  #held: Buffer[] | null = null;
  // The frame whose payload is arriving is handed over in parts, not gathered (FrameMode.STREAMED).
  #streamFrame = false;
  // The chunk being parsed is reused by the caller once push() returns (see push): nothing may keep a view of it.
  #transient = false;

  constructor(sink: FrameSink, options: FrameParserOptions) {
    this.#sink = sink;
    this.#expectMasked = options.expectMasked;
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#allowedRsv = options.allowedRsv;
  }

  /** Changes the RSV bits allowed on data frames (after extension negotiation). */
  setAllowedRsv(bits: number): void {
    this.#allowedRsv = bits;
  }

  /** Changes the frame limit; it applies from the next frame header. */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes of a partly received frame (header or payload) held by the parser. */
  get bufferedBytes(): number {
    const held = this.#held === null ? 0 : this.#held.reduce((sum, b) => sum + b.length, 0);
    // A streamed payload is handed over as it arrives: nothing of it is held.
    return held + (this.#state === STATE_PAYLOAD ? (this.#streamFrame ? 0 : this.#received) : this.#spillLength);
  }

  /**
   * Stops at the frame boundary: called from `onFrame`, it keeps the rest of the input (and anything pushed later)
   * unparsed until {@link resume}. Used while a frame's payload goes through an asynchronous transform
   * (permessage-deflate), so that nothing after it (data, ping, close) is processed out of order.
   */
  pause(): void {
    if (this.#state === STATE_HEADER) this.#state = STATE_PAUSED;
  }

  /** True while a frame has started arriving and is not complete (its header or its payload). */
  get midFrame(): boolean {
    return this.#state === STATE_PAYLOAD || this.#spillLength > 0;
  }

  /** True while paused. */
  get paused(): boolean {
    return this.#state === STATE_PAUSED;
  }

  /** Continues after {@link pause}: parses the input held meanwhile, which may pause again. */
  resume(): void {
    if (this.#state !== STATE_PAUSED) return;
    this.#state = STATE_HEADER;
    const held = this.#held;
    this.#held = null;
    if (held !== null) for (const chunk of held) this.push(chunk);
  }

  // Keeps `chunk` from `pos` on while paused (push returns through here whenever the state is not HEADER).
  #hold(chunk: Buffer, pos: number): void {
    if (this.#state !== STATE_PAUSED || pos >= chunk.length) return;
    const rest = pos === 0 ? chunk : chunk.subarray(pos);
    (this.#held ??= []).push(this.#transient ? Buffer.from(rest) : rest);
  }

  /** True once a violation was found or {@link stop} was called. */
  get stopped(): boolean {
    return this.#state === STATE_STOPPED;
  }

  /** Stops parsing: later input is ignored (after a close frame, §5.5.1, or when the connection is failed). */
  stop(): void {
    this.#state = STATE_STOPPED;
    this.#payload = EMPTY;
    this.#held = null;
  }

  /**
   * Feeds the next bytes from the peer. The chunk may be unmasked in place. Payloads are handed on as views of it
   * (no copy) unless `transient`: the caller reuses the chunk's memory once this returns (a shared read buffer), so
   * every payload and part is then copied out, unmasked on the way, and nothing keeps a view of the chunk.
   */
  push(chunk: Buffer, transient = false): void {
    this.#transient = transient;
    const end = chunk.length;
    let pos = 0;
    if (this.#state === STATE_PAYLOAD) {
      pos = this.#continuePayload(chunk);
      if (this.#state !== STATE_HEADER) return this.#hold(chunk, pos);
    } else if (this.#state !== STATE_HEADER) {
      return this.#hold(chunk, 0);
    }
    if (this.#spillLength > 0) {
      pos = this.#finishSpilledHeader(chunk, pos);
      if (pos < 0 || this.#state === STATE_STOPPED) return;
      pos = this.#startPayload(chunk, pos);
      if (this.#state !== STATE_HEADER) return this.#hold(chunk, pos);
    }
    while (pos < end) {
      const available = end - pos;
      const headerSize = available < 2 ? 14 : headerSizeOf(chunk[pos + 1]!);
      if (available < headerSize) {
        chunk.copy((this.#spill ??= Buffer.allocUnsafe(14)), 0, pos, end);
        this.#spillLength = available;
        return;
      }
      if (!this.#readHeader(chunk, pos)) return;
      pos = this.#startPayload(chunk, pos + headerSize);
      if (this.#state !== STATE_HEADER) return this.#hold(chunk, pos);
    }
  }

  // Completes a header begun in an earlier chunk. Returns the position after it in `chunk`, or -1 if the chunk
  // ended first.
  #finishSpilledHeader(chunk: Buffer, pos: number): number {
    const spill = this.#spill!;
    if (this.#spillLength < 2) {
      if (pos >= chunk.length) return -1;
      spill[this.#spillLength++] = chunk[pos++]!;
    }
    const headerSize = headerSizeOf(spill[1]!);
    const take = Math.min(headerSize - this.#spillLength, chunk.length - pos);
    chunk.copy(spill, this.#spillLength, pos, pos + take);
    this.#spillLength += take;
    pos += take;
    if (this.#spillLength < headerSize) return -1;
    this.#spillLength = 0;
    return this.#readHeader(spill, 0) ? pos : -1;
  }

  // Decodes and validates the header at `buf[pos]` (all its bytes are present). False when the frame is refused.
  #readHeader(buf: Buffer, pos: number): boolean {
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv = b0 & 0x70;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let at = pos + 2;
    if (length === 126) {
      length = (buf[at]! << 8) | buf[at + 1]!;
      at += 2;
    } else if (length === 127) {
      const high = buf.readUInt32BE(at);
      const low = buf.readUInt32BE(at + 4);
      at += 8;
      // §5.2: the most significant bit of a 64-bit length must be 0.
      if (high >= 0x80000000)
        return this.#fail(new ProtocolError('NOPOLL_ERR_INVALID_LENGTH', 'frame length has its top bit set'));
      if (high !== 0)
        return this.#fail(new MessageTooBigError(`frame of ${high * 0x100000000 + low} bytes`, this.#maxFrameBytes));
      length = low;
    }
    if (masked !== this.#expectMasked) {
      return this.#fail(
        masked
          ? new ProtocolError('NOPOLL_ERR_UNEXPECTED_MASK', 'masked frame from a server')
          : new ProtocolError('NOPOLL_ERR_MASK_REQUIRED', 'unmasked frame from a client'),
      );
    }
    if (opcode >= Opcode.CLOSE) {
      if (opcode > Opcode.PONG)
        return this.#fail(new ProtocolError('NOPOLL_ERR_INVALID_OPCODE', `unknown opcode ${opcode}`));
      // §5.5: control frames are never fragmented and carry at most 125 bytes.
      if (!fin) return this.#fail(new ProtocolError('NOPOLL_ERR_FRAGMENTED_CONTROL', 'fragmented control frame'));
      if (length > MAX_CONTROL_PAYLOAD) {
        return this.#fail(new ProtocolError('NOPOLL_ERR_CONTROL_FRAME_TOO_LONG', `control frame of ${length} bytes`));
      }
      if (rsv !== 0)
        return this.#fail(new ProtocolError('NOPOLL_ERR_UNEXPECTED_RSV', 'RSV bits set on a control frame'));
      this.#streamFrame = false;
    } else {
      if (opcode > Opcode.BINARY)
        return this.#fail(new ProtocolError('NOPOLL_ERR_INVALID_OPCODE', `unknown opcode ${opcode}`));
      if (opcode !== Opcode.CONTINUATION && (rsv & ~this.#allowedRsv) !== 0) {
        return this.#fail(
          new ProtocolError('NOPOLL_ERR_UNEXPECTED_RSV', 'RSV bits set without a negotiated extension'),
        );
      }
      const mode = this.#sink.onDataHeader(fin, rsv, opcode, length);
      if (mode === FrameMode.REFUSED) return this.#stopped();
      this.#streamFrame = mode === FrameMode.STREAMED;
      // A streamed frame is never gathered, so only a gathered one is held to the frame limit.
      if (!this.#streamFrame && length > this.#maxFrameBytes) {
        return this.#fail(new MessageTooBigError(`frame of ${length} bytes exceeds the limit`, this.#maxFrameBytes));
      }
    }
    if (masked) {
      this.#maskKey = (buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!;
    }
    this.#fin = fin;
    this.#rsv = rsv;
    this.#opcode = opcode;
    this.#masked = masked;
    this.#length = length;
    return true;
  }

  // Delivers the frame whose header was just read if its payload is all in `chunk`; otherwise starts buffering it.
  // Returns the position after what was consumed.
  #startPayload(chunk: Buffer, pos: number): number {
    const length = this.#length;
    const available = chunk.length - pos;
    if (available >= length) {
      this.#sink.onFrame(this.#fin, this.#rsv, this.#opcode, length === 0 ? EMPTY : this.#take(chunk, pos, length, 0));
      return pos + length;
    }
    if (this.#streamFrame && this.#opcode < Opcode.CLOSE) return this.#startStreamedPayload(chunk, pos, available);
    // Only the announced length (already checked against the limit) is ever allocated.
    this.#payload = Buffer.allocUnsafe(length);
    if (this.#masked) copyMaskKey(chunk.subarray(pos), this.#payload, 0, this.#maskKey, 0);
    else chunk.copy(this.#payload, 0, pos);
    this.#received = available;
    this.#state = STATE_PAYLOAD;
    if (available > 0 && this.#opcode < Opcode.CLOSE) this.#sink.onFramePart(this.#payload.subarray(0, available));
    return chunk.length;
  }

  // Streaming: hands over the part of the payload in `chunk` (a view, unmasked in place) instead of assembling.
  #startStreamedPayload(chunk: Buffer, pos: number, available: number): number {
    this.#streamFrame = true;
    this.#received = available;
    this.#state = STATE_PAYLOAD;
    if (available > 0) this.#sink.onFramePart(this.#take(chunk, pos, available, 0));
    return chunk.length;
  }

  // Adds bytes to a partly received payload; delivers it when complete. Returns the position after them.
  #continuePayload(chunk: Buffer): number {
    const take = Math.min(this.#length - this.#received, chunk.length);
    if (this.#streamFrame) return this.#continueStreamedPayload(chunk, take);
    const payload = this.#payload;
    if (this.#masked) {
      const source = take === chunk.length ? chunk : chunk.subarray(0, take);
      copyMaskKey(source, payload, this.#received, this.#maskKey, this.#received & 3);
    } else {
      chunk.copy(payload, this.#received, 0, take);
    }
    const from = this.#received;
    this.#received += take;
    if (this.#opcode < Opcode.CLOSE) {
      this.#sink.onFramePart(payload.subarray(from, this.#received));
      if (this.#state === STATE_STOPPED) return take;
    }
    if (this.#received < this.#length) return take;
    this.#payload = EMPTY;
    this.#received = 0;
    this.#state = STATE_HEADER;
    this.#sink.onFrame(this.#fin, this.#rsv, this.#opcode, payload);
    return take;
  }

  #continueStreamedPayload(chunk: Buffer, take: number): number {
    const part = this.#take(chunk, 0, take, this.#received & 3);
    this.#received += take;
    this.#sink.onFramePart(part);
    if (this.#state === STATE_STOPPED || this.#received < this.#length) return take;
    this.#received = 0;
    this.#streamFrame = false;
    this.#state = STATE_HEADER;
    this.#sink.onFrame(this.#fin, this.#rsv, this.#opcode, EMPTY);
    return take;
  }

  // `length` payload bytes at `chunk[pos]`, unmasked from position `maskOffset` of the key cycle: a view unmasked in
  // place, or for a transient chunk a copy unmasked as it is copied.
  #take(chunk: Buffer, pos: number, length: number, maskOffset: number): Buffer {
    const view = pos === 0 && length === chunk.length ? chunk : chunk.subarray(pos, pos + length);
    if (!this.#transient) {
      if (this.#masked) applyMaskKey(view, this.#maskKey, maskOffset);
      return view;
    }
    const copy = Buffer.allocUnsafe(length);
    if (this.#masked) copyMaskKey(view, copy, 0, this.#maskKey, maskOffset);
    else copy.set(view, 0);
    return copy;
  }

  #fail(error: ProtocolError): false {
    this.stop();
    this.#sink.onParseError(error);
    return false;
  }

  // The sink refused a frame and failed the connection itself.
  #stopped(): false {
    this.stop();
    return false;
  }
}

// Header size implied by the second header byte: 2 + 0/2/8 length bytes + 0/4 mask bytes.
function headerSizeOf(b1: number): number {
  const len7 = b1 & 0x7f;
  return (len7 < 126 ? 2 : len7 === 126 ? 4 : 10) + ((b1 & 0x80) !== 0 ? 4 : 0);
}
