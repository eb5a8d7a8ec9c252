/**
 * HTTP header fields of the opening handshake: an ordered header list, the RFC 7230 `token` and `#list` grammar,
 * and the checks applied to header fields we write ourselves. Pure: no I/O.
 * @packageDocumentation
 */

/** `tchar` of RFC 7230 §3.2.6, indexed by char code (ASCII only). */
const TCHAR: Uint8Array = (() => {
  const table = new Uint8Array(128);
  const extra = "!#$%&'*+-.^_`|~";
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || extra.includes(ch)) {
      table[c] = 1;
    }
  }
  return table;
})();

/** True when the char code is a `tchar` (RFC 7230 §3.2.6). */
export function isTokenChar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/**
 * True when `s` is a non-empty RFC 7230 §3.2.6 `token` (`1*tchar`): the grammar of header names, methods,
 * subprotocol names (RFC 6455 §4.1) and extension names/params (RFC 6455 §9.1).
 */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    if (!isTokenChar(s.charCodeAt(i))) return false;
  }
  return true;
}

/** Optional whitespace, RFC 7230 §3.2.3: `OWS = *( SP / HTAB )`. */
function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Removes leading and trailing OWS (SP / HTAB only, not every Unicode space as `String#trim` would). */
export function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isOws(s.charCodeAt(start))) start++;
  while (end > start && isOws(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/**
 * Splits a comma-separated list (RFC 7230 §7 `#element`), trimming OWS around each element and dropping empty
 * elements (§7 asks recipients to ignore them). Case is preserved: used for `Sec-WebSocket-Protocol`, whose
 * values are case-sensitive (RFC 6455 §4.1). Elements are not validated.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const item = trimOws(part);
    if (item.length > 0) out.push(item);
  }
  return out;
}

/**
 * Parses a `#token` list (RFC 7230 §7) such as `Connection: keep-alive, Upgrade`: trims OWS, drops empty
 * elements and lower-cases the rest (Connection options and Upgrade protocols compare case-insensitively,
 * RFC 7230 §6.1, §6.7). Elements are not validated, since an Upgrade element may be `name/version`.
 */
export function parseTokenList(value: string): string[] {
  return splitList(value).map((item) => item.toLowerCase());
}

/**
 * True when the `#token` list `value` (RFC 7230 §7) holds `token`, given in lower case, compared ASCII
 * case-insensitively (RFC 7230 §6.1, §6.7): what {@link parseTokenList} then `includes` answers, without
 * allocating.
 */
export function listHasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(',', start);
    if (end < 0) end = value.length;
    let a = start;
    let b = end;
    while (a < b && isOws(value.charCodeAt(a))) a++;
    while (b > a && isOws(value.charCodeAt(b - 1))) b--;
    if (b - a === token.length && equalsAsciiLower(value, a, token)) return true;
    start = end + 1;
  }
  return false;
}

// `s` from `at` equals `lower` with ASCII letters folded to lower case.
function equalsAsciiLower(s: string, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = s.charCodeAt(at + i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The header fields of one HTTP head, as received: raw `[name, value]` pairs in arrival order. Lookups are
 * case-insensitive (RFC 7230 §3.2). A field repeated on several lines is joined with `", "`, which RFC 7230
 * §3.2.2 makes equivalent for list-valued fields.
 */
export class HeaderList {
  // Flat arrays, one slot per field line: a handshake head has a handful of fields, so a linear scan beats a map
  // and receiving a field costs no allocation beyond its strings. `#keys` holds the lower-cased names.
  readonly #names: string[] = [];
  readonly #keys: string[] = [];
  readonly #values: string[] = [];

  /** @param pairs Initial `[name, value]` pairs, kept in order. */
  constructor(pairs: Iterable<readonly [string, string]> = []) {
    for (const [name, value] of pairs) this.append(name, value);
  }

  /** Adds one field at the end, keeping earlier fields of the same name. */
  append(name: string, value: string): void {
    this.#names.push(name);
    this.#keys.push(name.toLowerCase());
    this.#values.push(value);
  }

  /** The value of `name`, repeated fields joined with `", "`; `null` when absent. */
  get(name: string): string | null {
    const key = name.toLowerCase();
    const keys = this.#keys;
    let found: string | null = null;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === key) found = found === null ? this.#values[i]! : `${found}, ${this.#values[i]!}`;
    }
    return found;
  }

  /** Every value of `name`, one per field line, in arrival order (empty when absent). */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const keys = this.#keys;
    const out: string[] = [];
    for (let i = 0; i < keys.length; i++) if (keys[i] === key) out.push(this.#values[i]!);
    return out;
  }

  /** How many field lines named `name` were received. */
  count(name: string): number {
    const key = name.toLowerCase();
    let n = 0;
    for (const k of this.#keys) if (k === key) n++;
    return n;
  }

  /** True when at least one field named `name` was received. */
  has(name: string): boolean {
    return this.#keys.includes(name.toLowerCase());
  }

  /** Number of field lines. */
  get size(): number {
    return this.#keys.length;
  }

  /** The raw pairs in arrival order, names with their original case. */
  entries(): ReadonlyArray<readonly [string, string]> {
    return this.#names.map((name, i) => [name, this.#values[i]!] as const);
  }

  /** A plain object: lower-cased names to values, repeated fields joined with `", "`. */
  toObject(): Record<string, string> {
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      out[key] = key in out ? `${out[key]!}, ${this.#values[i]!}` : this.#values[i]!;
    }
    return out;
  }
}

/** Header fields given by a caller: a record or a list of pairs (a list may repeat a name). */
export type HeaderInput = Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>;

/**
 * Throws `TypeError` unless `value` may be written as a field value: latin1 only, no control character other
 * than HTAB (RFC 7230 §3.2 `field-content`). Rejecting CR and LF prevents header injection.
 */
export function assertHeaderValue(value: string, what: string): void {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      throw new TypeError(`${what} contains a forbidden character (code ${c})`);
    }
  }
}

/**
 * Validates caller-supplied extra header fields and returns them as pairs. Names must be tokens, values must pass
 * {@link assertHeaderValue}, and no name may repeat one in `reserved` (lower-case names the caller of this
 * function writes itself). Throws `TypeError` otherwise.
 */
export function checkExtraHeaders(
  input: HeaderInput | undefined,
  reserved: ReadonlySet<string>,
): Array<[string, string]> {
  if (input === undefined) return [];
  const pairs: ReadonlyArray<readonly [string, string]> = Array.isArray(input)
    ? (input as ReadonlyArray<readonly [string, string]>)
    : Object.entries(input as Readonly<Record<string, string>>);
  const out: Array<[string, string]> = [];
  for (const pair of pairs) {
    const [name, value] = pair;
    if (typeof name !== 'string' || !isToken(name)) throw new TypeError(`invalid header name: ${JSON.stringify(name)}`);
    if (reserved.has(name.toLowerCase())) throw new TypeError(`header ${name} is set by the handshake itself`);
    assertHeaderValue(value, `value of header ${name}`);
    out.push([name, value]);
  }
  return out;
}

/** Serializes a start line and header fields into an HTTP head ending with the empty line (RFC 7230 §3). */
export function serializeHead(startLine: string, headers: ReadonlyArray<readonly [string, string]>): string {
  let head = `${startLine}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}
