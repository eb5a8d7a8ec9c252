/**
 * UTF-8 validation (RFC 3629) for text messages and close reasons (RFC 6455 §5.6, §8.1).
 * @packageDocumentation
 */
import { isUtf8 } from 'node:buffer';

/** Whole-buffer check, native speed. */
export function isValidUtf8(buf: Uint8Array): boolean {
  return buf.length === 0 || isUtf8(buf);
}

/**
 * Incremental validator for a text message that arrives in fragments: it fails on the first byte that cannot begin
 * or continue a well-formed sequence (overlongs, surrogates and code points over U+10FFFF included), so a bad
 * fragmented message is refused before its end arrives (RFC 6455 §8.1). Whole runs of complete sequences are
 * checked natively; only the few bytes around a chunk edge go through the byte state machine.
 */
export class Utf8Validator {
  // Continuation bytes still expected, and the allowed range of the next one.
  #need = 0;
  #low = 0x80;
  #high = 0xbf;

  /** True when no sequence is open, so the bytes seen so far form complete text. */
  get atBoundary(): boolean {
    return this.#need === 0;
  }

  /** Forgets any open sequence (start of a new message). */
  reset(): void {
    this.#need = 0;
  }

  /**
   * Checks the next bytes of the message.
   * @returns false as soon as the bytes cannot be valid UTF-8; the validator must then be reset before reuse.
   */
  push(bytes: Uint8Array): boolean {
    const length = bytes.length;
    let i = 0;
    // Finish a sequence left open by the previous chunk.
    while (this.#need > 0 && i < length) {
      if (!this.#continue(bytes[i]!)) return false;
      i++;
    }
    if (i === length) return true;
    // Find where the last sequence starts; everything before it must be complete text.
    let tail = length;
    for (let back = length - 1; back >= i && back >= length - 4; back--) {
      const b = bytes[back]!;
      if (b < 0x80) break;
      if (b >= 0xc0) {
        tail = back;
        break;
      }
    }
    if (tail > i && !isUtf8(bytes.subarray(i, tail))) return false;
    for (let j = tail; j < length; j++) {
      const b = bytes[j]!;
      if (this.#need > 0 ? !this.#continue(b) : !this.#lead(b)) return false;
    }
    return true;
  }

  #lead(b: number): boolean {
    if (b < 0x80) return true;
    this.#low = 0x80;
    this.#high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) this.#need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      this.#need = 2;
      if (b === 0xe0)
        this.#low = 0xa0; // overlong
      else if (b === 0xed) this.#high = 0x9f; // UTF-16 surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      this.#need = 3;
      if (b === 0xf0)
        this.#low = 0x90; // overlong
      else if (b === 0xf4) this.#high = 0x8f; // over U+10FFFF
    } else return false;
    return true;
  }

  #continue(b: number): boolean {
    if (b < this.#low || b > this.#high) return false;
    this.#low = 0x80;
    this.#high = 0xbf;
    this.#need--;
    return true;
  }
}
