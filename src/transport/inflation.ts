/**
 * The receiving half of permessage-deflate (RFC 7692 §7.2.2) for one connection: a compressed message (or, in
 * frame mode, one frame of it) goes through the connection's zlib codec, and its output through a
 * {@link MessageBuffer}, the protocol core's one place for the message limit (1009 as soon as the output passes
 * it), the inbound budget and the UTF-8 rule for text (§8.1, checked on the inflated bytes).
 * @packageDocumentation
 */
import { ProtocolError } from '../errors.js';
import { Opcode } from '../protocol/constants.js';
import { MessageBuffer } from '../protocol/message-buffer.js';
import { inboundBudget } from './inbound-budget.js';
import type { ZlibCodec } from './zlib-codec.js';

/** One connection's inflation. Made on its first compressed message. */
export class Inflation {
  readonly #codec: ZlibCodec;
  readonly #out: MessageBuffer;

  constructor(codec: ZlibCodec) {
    this.#codec = codec;
    this.#out = new MessageBuffer(0, inboundBudget);
  }

  /** Bytes inflated so far of the message under way. */
  get bufferedBytes(): number {
    return this.#out.size;
  }

  /**
   * Inflates `payload` (a whole message, or in frame mode one frame: `opcode` CONTINUATION for the later ones, `fin`
   * on the last) under `limit`, and calls `done` once: with the inflated bytes, or with the error that fails the
   * connection (1009 past the limit, 1008 past the budget, 1007 for data zlib rejects or text that is not UTF-8).
   * Never calls back after {@link release}.
   */
  run(
    opcode: number,
    payload: Buffer,
    fin: boolean,
    limit: number,
    done: (data: Buffer | null, error: ProtocolError | null) => void,
  ): void {
    const out = this.#out;
    out.setLimit(limit);
    // One message, or the first frame of one in frame mode: a new text check starts.
    if (opcode !== Opcode.CONTINUATION) out.start(opcode === Opcode.TEXT);
    this.#codec.decompress(
      payload,
      fin,
      (chunk) => {
        // Checked on every piece zlib produces, so a bomb stops within one chunk (16 KiB) of the limit.
        const failure = out.append(chunk);
        if (failure === null) return true;
        done(null, failure);
        return false;
      },
      (error) => {
        if (error !== null) {
          out.reset();
          return done(
            null,
            new ProtocolError('NOPOLL_ERR_INVALID_COMPRESSED_DATA', `invalid compressed data: ${error.message}`, 1007),
          );
        }
        const data = fin ? out.finish() : out.take();
        if (data instanceof ProtocolError) done(null, data);
        else done(data, null);
      },
    );
  }

  /** The connection ended: drops what was inflated and gives the budget back. */
  release(): void {
    this.#out.reset();
  }
}
