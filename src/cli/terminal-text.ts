/**
 * What a peer sent, made safe to show on a terminal, and the colours of the interactive commands. A terminal acts
 * on some characters instead of showing them: ESC starts sequences that move the cursor, rewrite the screen, set
 * the window title, even write the clipboard (OSC 52); some terminals read the C1 byte U+009B as CSI; bidirectional
 * controls (U+202E...) show text in another order than its bytes. A peer must not drive the user's terminal, so
 * every such character is shown as an escape (`\x1b`, `\n`, `\u202e`), never written as it is.
 * @packageDocumentation
 */

// C0 controls, DEL, C1 controls, the Arabic letter mark, LRM/RLM, the line and paragraph separators, the bidi
// embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const SHORT: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** The escape shown for one unsafe character: `\t`, `\n`, `\r`, `\xHH` below U+0100, else `\uHHHH`. */
function escapeOf(char: string): string {
  const short = SHORT[char];
  if (short !== undefined) return short;
  const code = char.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` with every character a terminal would act on replaced by its escape; `mark` wraps each escape (to show
 * it in another colour, so that a peer's literal backslash stays distinguishable from an escape).
 */
export function escapeText(text: string, mark: (escape: string) => string = (e) => e): string {
  return text.replace(UNSAFE, (char) => mark(escapeOf(char)));
}

/** The first `max` bytes in hexadecimal, `...` after them when there are more. */
export function hexPreview(bytes: Uint8Array, max = 64): string {
  const shown = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, max)).toString('hex');
  return bytes.length > max ? `${shown}...` : shown;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A control frame's payload (ping, pong, at most 125 bytes): `: text` (escaped) when it is UTF-8, `: hex HEX`
 * otherwise, nothing when empty.
 */
export function describePayload(bytes: Uint8Array, mark?: (escape: string) => string): string {
  if (bytes.length === 0) return '';
  try {
    return `: ${escapeText(utf8.decode(bytes), mark)}`;
  } catch {
    return `: hex ${hexPreview(bytes, 125)}`;
  }
}

/** The colours of the interactive commands; every function returns its text unchanged when colour is off. */
export interface Palette {
  readonly enabled: boolean;
  /** Escapes in received text. */
  escape(text: string): string;
  /** Pings, pongs, connections and other events. */
  event(text: string): string;
  /** Closes. */
  close(text: string): string;
  /** Failures and mistakes. */
  error(text: string): string;
  /** The prompt. */
  prompt(text: string): string;
}

const sgr = (code: string) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;
const plain = (text: string): string => text;

/**
 * Colour only on a terminal: when `stream` and standard output are TTYs, `NO_COLOR` is unset or empty
 * (no-color.org) and `--no-color` was not given.
 */
export function palette(stream: NodeJS.WriteStream, noColorFlag: boolean): Palette {
  const noColor = process.env['NO_COLOR'];
  const enabled =
    !noColorFlag && (noColor === undefined || noColor === '') && stream.isTTY === true && process.stdout.isTTY === true;
  if (!enabled) return { enabled, escape: plain, event: plain, close: plain, error: plain, prompt: plain };
  return { enabled, escape: sgr('7'), event: sgr('36'), close: sgr('33'), error: sgr('31'), prompt: sgr('1') };
}
