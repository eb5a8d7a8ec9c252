/**
 * Incremental parser of one HTTP/1.x head (start line plus header fields, RFC 7230 §3), for the opening handshake
 * of RFC 6455 §4. Pure: it is fed bytes and never touches a socket. Bad peer input becomes an `error` result.
 * @packageDocumentation
 */

import { Buffer } from 'node:buffer';
import { HeaderList, isToken, isTokenChar } from './headers.js';

/** A parsed request head (RFC 7230 §3.1.1). */
export interface RequestHead {
  /** Request method, case-sensitive (RFC 7230 §3.1.1). */
  method: string;
  /** Request target exactly as sent. */
  target: string;
  /** Protocol version, e.g. `HTTP/1.1`. */
  version: string;
  /** Header fields in arrival order. */
  headers: HeaderList;
}

/** A parsed response head (RFC 7230 §3.1.2). */
export interface ResponseHead {
  /** Protocol version, e.g. `HTTP/1.1`. */
  version: string;
  /** Three-digit status code. */
  status: number;
  /** Reason phrase, possibly empty. */
  reason: string;
  /** Header fields in arrival order. */
  headers: HeaderList;
}

/**
 * Outcome of {@link HttpHeadParser.push}. `rest` holds the bytes after the head's empty line (pipelined frames),
 * a view into the chunk last pushed. An error's `status` is the HTTP status a server should answer (400, 431);
 * for a response parser it is always 0, since a client has nobody to answer.
 */
export type HeadParseResult =
  | { kind: 'incomplete' }
  | { kind: 'complete'; head: RequestHead | ResponseHead; rest: Buffer }
  | { kind: 'error'; status: number; message: string };

/** Size caps of one head. */
export interface HeadLimits {
  /** Most bytes of the head, start line through the empty line inclusive. */
  maxHeadBytes: number;
  /** Most header field lines. */
  maxHeaderCount: number;
}

const LF = 0x0a;
const CR = 0x0d;
const VERSION_RE = /^HTTP\/\d\.\d$/;
const STATUS_LINE_RE = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/s;
const INCOMPLETE: HeadParseResult = Object.freeze({ kind: 'incomplete' });

type ParseError = Extract<HeadParseResult, { kind: 'error' }>;
type ParseDone = Extract<HeadParseResult, { kind: 'complete' | 'error' }>;
type StartLine = Omit<RequestHead, 'headers'> | Omit<ResponseHead, 'headers'>;

/**
 * Parses one HTTP head fed in chunks of any size (one byte at a time included). Lines end with CRLF; a bare LF is
 * also accepted (RFC 7230 §3.5 robustness). The head ends at the first empty line; an empty first line is an error.
 *
 * Linear in the input: each line is parsed as soon as its LF arrives and then dropped, so only the current partial
 * line is buffered, and the search for LF resumes where it stopped. The start line is checked on arrival.
 *
 * Once a push returned `error`, every later push returns that same error. Once it returned `complete`, a later
 * push returns the same head with `rest` set to the whole new chunk (all of it follows the head).
 */
export class HttpHeadParser {
  readonly #kind: 'request' | 'response';
  readonly #limits: HeadLimits;
  /** Bytes of the current partial line (no LF among them), in `#store[0, #storeLen)`. */
  #store: Buffer = Buffer.alloc(0);
  #storeLen = 0;
  /** Head bytes consumed so far, including the buffered partial line. */
  #total = 0;
  #start: StartLine | null = null;
  readonly #headers = new HeaderList();
  #done: ParseDone | null = null;

  /**
   * @param kind `'request'` on a server, `'response'` on a client.
   * @param limits Size caps; exceeding either is a 431 error for a request (RFC 6585 §5), status 0 for a response.
   */
  constructor(kind: 'request' | 'response', limits: HeadLimits) {
    if (kind !== 'request' && kind !== 'response') throw new TypeError(`invalid parser kind: ${String(kind)}`);
    if (!Number.isInteger(limits.maxHeadBytes) || limits.maxHeadBytes < 1) {
      throw new TypeError('maxHeadBytes must be a positive integer');
    }
    if (!Number.isInteger(limits.maxHeaderCount) || limits.maxHeaderCount < 0) {
      throw new TypeError('maxHeaderCount must be a non-negative integer');
    }
    this.#kind = kind;
    this.#limits = { maxHeadBytes: limits.maxHeadBytes, maxHeaderCount: limits.maxHeaderCount };
  }

  /** Feeds the next bytes received. Never throws on any input. */
  push(chunk: Buffer): HeadParseResult {
    if (this.#done !== null) {
      return this.#done.kind === 'complete' ? { kind: 'complete', head: this.#done.head, rest: chunk } : this.#done;
    }
    // Never look at more bytes than the head may still hold: the cap bounds memory whatever the peer sends.
    const room = this.#limits.maxHeadBytes - this.#total;
    const take = chunk.length > room ? chunk.subarray(0, room) : chunk;
    const carried = this.#storeLen;
    // Common case: nothing carried over, so lines are parsed straight from the chunk without a copy.
    let src = take;
    if (carried > 0) {
      this.#append(take);
      src = this.#store.subarray(0, this.#storeLen);
    }
    // A position in `src` is that position minus `carried` in `chunk`. Carried bytes hold no LF: skip them.
    let lineStart = 0;
    let from = carried;
    for (;;) {
      const lf = src.indexOf(LF, from);
      if (lf === -1) break;
      const outcome = this.#line(src, lineStart, lf);
      if (outcome === 'end') {
        this.#store = Buffer.alloc(0);
        this.#storeLen = 0;
        const head = { ...(this.#start as StartLine), headers: this.#headers } as RequestHead | ResponseHead;
        const done: ParseDone = { kind: 'complete', head, rest: chunk.subarray(lf + 1 - carried) };
        this.#done = done;
        return done;
      }
      if (outcome !== null) return outcome;
      lineStart = lf + 1;
      from = lineStart;
    }
    this.#total += take.length;
    if (this.#total >= this.#limits.maxHeadBytes) {
      // The cap is reached and the empty line is still missing: the head is necessarily longer than allowed.
      return this.#fail(431, `HTTP head exceeds ${this.#limits.maxHeadBytes} bytes`);
    }
    this.#keep(src, lineStart, carried);
    return INCOMPLETE;
  }

  /** Appends bytes to the partial-line store, doubling its capacity as needed (amortized linear). */
  #append(bytes: Buffer): void {
    const need = this.#storeLen + bytes.length;
    if (need > this.#store.length) {
      const size = Math.min(Math.max(need, this.#store.length * 2, 256), this.#limits.maxHeadBytes);
      const grown = Buffer.allocUnsafe(size);
      this.#store.copy(grown, 0, 0, this.#storeLen);
      this.#store = grown;
    }
    bytes.copy(this.#store, this.#storeLen);
    this.#storeLen = need;
  }

  /** Keeps `src[lineStart..]`, the partial last line, for the next push. */
  #keep(src: Buffer, lineStart: number, carried: number): void {
    if (carried > 0) {
      // `src` is the store itself: slide the partial line to the front. A line ended in this push, so only bytes
      // of this push move, which keeps the whole parse linear.
      if (lineStart > 0) this.#store.copy(this.#store, 0, lineStart, this.#storeLen);
      this.#storeLen -= lineStart;
    } else {
      this.#storeLen = 0;
      this.#append(src.subarray(lineStart));
    }
  }

  /** Handles the line `src[start, lf)`: null to go on, `'end'` at the empty line, or an error. */
  #line(src: Buffer, start: number, lf: number): ParseError | 'end' | null {
    const end = lf > start && src[lf - 1] === CR ? lf - 1 : lf;
    // RFC 7230 §3.5: a bare CR or a NUL inside the head is invalid, never a line end.
    for (let i = start; i < end; i++) {
      const c = src[i] as number;
      if (c === CR) return this.#fail(400, 'bare CR in HTTP head');
      if (c === 0) return this.#fail(400, 'NUL byte in HTTP head');
    }
    if (this.#start === null) return this.#startLine(src.toString('latin1', start, end));
    if (end === start) return 'end';
    // RFC 7230 §3.2.4: obsolete line folding must be rejected by a server (we reject it on both sides).
    const first = src[start] as number;
    if (first === 0x20 || first === 0x09) return this.#fail(400, 'obsolete header line folding');
    if (this.#headers.size >= this.#limits.maxHeaderCount) {
      return this.#fail(431, `more than ${this.#limits.maxHeaderCount} header fields`);
    }
    let colon = start;
    while (colon < end && isTokenChar(src[colon] as number)) colon++;
    // RFC 7230 §3.2.4: the name is a non-empty token, with no whitespace between it and the colon.
    if (colon === start || colon === end || src[colon] !== 0x3a) {
      return this.#fail(400, 'malformed header field name');
    }
    for (let i = colon + 1; i < end; i++) {
      const c = src[i] as number;
      // RFC 7230 §3.2: field-content is VCHAR / obs-text with SP / HTAB inside; other controls are invalid.
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) return this.#fail(400, 'control character in header field value');
    }
    const name = src.toString('latin1', start, colon);
    // OWS is skipped on the bytes (RFC 7230 §3.2.4), so the value is one flat string, not a slice of a longer one.
    let from = colon + 1;
    let to = end;
    while (from < to && (src[from] === 0x20 || src[from] === 0x09)) from++;
    while (to > from && (src[to - 1] === 0x20 || src[to - 1] === 0x09)) to--;
    this.#headers.append(name, src.toString('latin1', from, to));
    return null;
  }

  /** Parses the start line as soon as it arrives, so garbage is refused at its first line end. */
  #startLine(line: string): ParseError | null {
    if (this.#kind === 'request') {
      // RFC 7230 §3.1.1: request-line = method SP request-target SP HTTP-version, single spaces.
      const parts = line.split(' ');
      const [method, target, version] = parts as [string, string, string];
      if (parts.length !== 3 || !isToken(method) || !isTarget(target) || !VERSION_RE.test(version)) {
        return this.#fail(400, 'malformed request line');
      }
      this.#start = { method, target, version };
      return null;
    }
    // RFC 7230 §3.1.2: status-line = HTTP-version SP status-code SP reason-phrase (missing SP+reason tolerated).
    const m = STATUS_LINE_RE.exec(line);
    const reason = m?.[3] ?? '';
    if (m === null || /[\x00-\x08\x0a-\x1f\x7f]/.test(reason)) return this.#fail(400, 'malformed status line');
    this.#start = { version: m[1] as string, status: Number(m[2]), reason };
    return null;
  }

  /** Records the error; a response parser reports status 0, as a client has no one to answer. */
  #fail(status: number, message: string): ParseError {
    const done: ParseError = { kind: 'error', status: this.#kind === 'request' ? status : 0, message };
    this.#done = done;
    this.#store = Buffer.alloc(0);
    this.#storeLen = 0;
    return done;
  }
}

/** A request target has no whitespace or control characters (RFC 7230 §5.3); its form is checked later. */
function isTarget(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}
