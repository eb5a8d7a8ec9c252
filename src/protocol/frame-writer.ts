/**
 * Framing of everything an endpoint sends (RFC 6455 §5.2, §5.3): the header, the masking of a client's frames
 * (a fresh key per frame, the caller's bytes never masked in place), and how the bytes are handed over. The base
 * of the {@link Session}: one object per connection, not two.
 * @packageDocumentation
 */
import { frameHeaderSize, writeFrameHeader } from './frame-header.js';
import { applyMask, copyMasked, type MaskSource } from './mask.js';
import { frameOnce } from './shared-frame.js';

/** Where framed bytes go, in order. `second` (may be null) follows `first` and should be written with it (writev). */
export interface FrameOutput {
  sessionWrite(first: Buffer, second: Buffer | null): void;
}

// A server payload up to this size is copied next to its header so one write goes out instead of two.
const MERGE_LIMIT = 4096;

// A client's masking: where keys come from, and the 4 bytes of the current key (reused frame after frame).
interface Masking {
  readonly source: MaskSource;
  readonly key: Buffer;
}

function nextKey(masking: Masking): Buffer {
  masking.source(masking.key, 0);
  return masking.key;
}

/**
 * Frames and hands over what an endpoint sends. See the module comment. Two fields: an idle connection's state is
 * kept small (a server holds no masking state at all).
 */
export abstract class FrameWriter<O extends FrameOutput = FrameOutput> {
  /** @internal Where framed bytes go (the session's handler). */
  protected readonly output: O;
  readonly #masking: Masking | null;

  constructor(output: O, client: boolean, maskSource: MaskSource) {
    this.output = output;
    this.#masking = client ? { source: maskSource, key: Buffer.allocUnsafe(4) } : null;
  }

  /** True for a client (its frames are masked). */
  protected get isClient(): boolean {
    return this.#masking !== null;
  }

  /**
   * One frame of `data`: clients copy it masked; servers send small payloads in one buffer with their header and
   * larger ones as header + the caller's buffer (written together).
   */
  protected writeFrame(opcode: number, data: Uint8Array, fin: boolean, rsv = 0): void {
    const length = data.length;
    const masking = this.#masking;
    if (masking !== null) {
      const headerSize = frameHeaderSize(length, true);
      const frame = Buffer.allocUnsafe(headerSize + length);
      const mask = nextKey(masking);
      writeFrameHeader(frame, 0, fin, rsv, opcode, length, mask);
      copyMasked(data, frame, headerSize, mask);
      this.output.sessionWrite(frame, null);
      return;
    }
    if (length <= MERGE_LIMIT) {
      this.output.sessionWrite(frameOnce(opcode, data, fin, rsv), null);
      return;
    }
    const header = Buffer.allocUnsafe(frameHeaderSize(length, false));
    writeFrameHeader(header, 0, fin, rsv, opcode, length, null);
    this.output.sessionWrite(
      header,
      Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length),
    );
  }

  /** One frame of a string, encoded as UTF-8 straight into the frame buffer. Returns the payload bytes. */
  protected writeTextFrame(opcode: number, data: string, fin: boolean): number {
    const length = Buffer.byteLength(data, 'utf8');
    const masking = this.#masking;
    const headerSize = frameHeaderSize(length, masking !== null);
    const frame = Buffer.allocUnsafe(headerSize + length);
    const mask = masking === null ? null : nextKey(masking);
    writeFrameHeader(frame, 0, fin, 0, opcode, length, mask);
    frame.write(data, headerSize, 'utf8');
    if (mask !== null && length > 0) applyMask(frame.subarray(headerSize), mask, 0);
    this.output.sessionWrite(frame, null);
    return length;
  }
}
