/**
 * Framing of everything an endpoint sends (RFC 6455 §5.2, §5.3): the header, the masking of a client's frames
 * (a fresh key per frame, the caller's bytes never masked in place), and how the bytes are handed over. The base
 * of the {@link Session}: one object per connection, not two.
 * @packageDocumentation
 */
import { frameHeaderSize, writeFrameHeader } from './frame-header.js';
import { applyMask, copyMasked, type MaskSource } from './mask.js';

/** Where framed bytes go, in order. `second` (may be null) follows `first` and should be written with it (writev). */
export interface FrameOutput {
  sessionWrite(first: Buffer, second: Buffer | null): void;
}

// A server payload up to this size is copied next to its header so one write goes out instead of two.
const MERGE_LIMIT = 4096;

/**
 * A server frame built once, to be written to many connections as it is (server frames are not masked; RFC 6455
 * §5.1): header and payload in one buffer.
 */
export function frameOnce(opcode: number, payload: Uint8Array, fin = true, rsv = 0): Buffer {
  const headerSize = frameHeaderSize(payload.length, false);
  const frame = Buffer.allocUnsafe(headerSize + payload.length);
  writeFrameHeader(frame, 0, fin, rsv, opcode, payload.length, null);
  frame.set(payload, headerSize);
  return frame;
}

/** Frames and hands over what an endpoint sends. See the module comment. */
export abstract class FrameWriter {
  readonly #output: FrameOutput;
  readonly #client: boolean;
  readonly #maskSource: MaskSource;
  #mask: Buffer | null = null; // clients only, allocated on first send

  constructor(output: FrameOutput, client: boolean, maskSource: MaskSource) {
    this.#output = output;
    this.#client = client;
    this.#maskSource = maskSource;
  }

  /** True for a client (its frames are masked). */
  protected get isClient(): boolean {
    return this.#client;
  }

  /**
   * One frame of `data`: clients copy it masked; servers send small payloads in one buffer with their header and
   * larger ones as header + the caller's buffer (written together).
   */
  protected writeFrame(opcode: number, data: Uint8Array, fin: boolean, rsv = 0): void {
    const length = data.length;
    if (this.#client) {
      const headerSize = frameHeaderSize(length, true);
      const frame = Buffer.allocUnsafe(headerSize + length);
      const mask = this.#nextMask();
      writeFrameHeader(frame, 0, fin, rsv, opcode, length, mask);
      copyMasked(data, frame, headerSize, mask);
      this.#output.sessionWrite(frame, null);
      return;
    }
    if (length <= MERGE_LIMIT) {
      this.#output.sessionWrite(frameOnce(opcode, data, fin, rsv), null);
      return;
    }
    const header = Buffer.allocUnsafe(frameHeaderSize(length, false));
    writeFrameHeader(header, 0, fin, rsv, opcode, length, null);
    this.#output.sessionWrite(header, Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length));
  }

  /** One frame of a string, encoded as UTF-8 straight into the frame buffer. Returns the payload bytes. */
  protected writeTextFrame(opcode: number, data: string, fin: boolean): number {
    const length = Buffer.byteLength(data, 'utf8');
    const headerSize = frameHeaderSize(length, this.#client);
    const frame = Buffer.allocUnsafe(headerSize + length);
    const mask = this.#client ? this.#nextMask() : null;
    writeFrameHeader(frame, 0, fin, 0, opcode, length, mask);
    frame.write(data, headerSize, 'utf8');
    if (mask !== null && length > 0) applyMask(frame.subarray(headerSize), mask, 0);
    this.#output.sessionWrite(frame, null);
    return length;
  }

  #nextMask(): Buffer {
    const mask = (this.#mask ??= Buffer.allocUnsafe(4));
    this.#maskSource(mask, 0);
    return mask;
  }
}
