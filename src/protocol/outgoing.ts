/**
 * The rules for messages a connection sends (RFC 6455 §5.4, §5.6): a fragmented message is all of one type, its
 * later frames are CONTINUATION, and the text of a message (across its fragments) is valid UTF-8.
 * @packageDocumentation
 */
import { Opcode } from './constants.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

/**
 * Checks a whole message sent while no fragmented message is open, and returns its opcode (`kind`).
 * @throws TypeError for text bytes that are not valid UTF-8.
 */
export function checkWholeMessage(kind: number, data: string | Uint8Array): number {
  if (kind === Opcode.TEXT && typeof data !== 'string' && !isValidUtf8(data))
    throw new TypeError('text payload is not valid UTF-8');
  return kind;
}

/** Tracks the message being sent and checks each send against the rules. */
export class OutgoingMessages {
  #open = 0; // opcode of the fragmented message being sent, or 0
  #utf8: Utf8Validator | null = null;

  /** The opcode (TEXT or BINARY) of the fragmented message being sent, or 0 when none is open. */
  get open(): number {
    return this.#open;
  }

  /**
   * Checks one send (a whole message, or one frame of a fragmented one: `fin` ends it) and returns the opcode its
   * frame carries: `kind` for the first frame, CONTINUATION after. A whole message sent while a fragmented one of
   * the same type is open ends that message.
   * @throws TypeError when a fragmented message of the other type is open, or when the bytes of a text message
   * cannot be valid UTF-8 (a fragment may end inside a character; the whole message may not).
   */
  next(kind: number, data: string | Uint8Array, fin: boolean): number {
    const open = this.#open;
    if (open !== 0 && open !== kind)
      throw new TypeError('a fragmented message of the other type is still open; finish it first');
    if (open === 0 && fin) return checkWholeMessage(kind, data);
    if (kind === Opcode.TEXT) {
      // A string is valid text, but it may follow a fragment that ended inside a character.
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const utf8 = (this.#utf8 ??= new Utf8Validator());
      if (open === 0) utf8.reset();
      if (!utf8.push(bytes) || (fin && !utf8.atBoundary)) {
        utf8.reset();
        throw new TypeError('text fragments do not form valid UTF-8');
      }
    }
    this.#open = fin ? 0 : kind;
    return open === 0 ? kind : Opcode.CONTINUATION;
  }
}
