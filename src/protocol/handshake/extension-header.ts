/**
 * The grammar of `Sec-WebSocket-Extensions` (RFC 6455 §9.1, RFC 7692 §5): parsing and formatting only.
 * Whether an offer or a response is acceptable is decided by each extension's negotiation, not here.
 * @packageDocumentation
 */

import { isToken, isTokenChar } from './headers.js';

/** One extension in a `Sec-WebSocket-Extensions` list: its name and its parameters. */
export interface ExtensionOffer {
  /** Extension token, case preserved, e.g. `permessage-deflate`. */
  name: string;
  /**
   * Parameters in the order received; `true` for a parameter without value. A repeated parameter keeps its first
   * value here and is also listed in {@link ExtensionOffer.duplicateParams}.
   */
  params: Record<string, string | true>;
  /**
   * Names of the parameters that appeared more than once, set only when there were any. RFC 7692 §5.1 and §5.2
   * make such an element invalid for permessage-deflate; the negotiation decides, so the parser only records it.
   */
  duplicateParams?: string[];
}

/** Parser state over the header text. */
interface Cursor {
  s: string;
  i: number;
}

function skipOws(c: Cursor): void {
  while (c.i < c.s.length && (c.s[c.i] === ' ' || c.s[c.i] === '\t')) c.i++;
}

function readToken(c: Cursor): string {
  const start = c.i;
  while (c.i < c.s.length && isTokenChar(c.s.charCodeAt(c.i))) c.i++;
  return c.s.slice(start, c.i);
}

/**
 * Reads a `quoted-string` (RFC 7230 §3.2.6) starting at the opening quote and returns it unescaped, or null when
 * it is unterminated or holds a character `qdtext` / `quoted-pair` do not allow.
 */
function readQuoted(c: Cursor): string | null {
  let out = '';
  c.i++; // opening DQUOTE
  while (c.i < c.s.length) {
    const code = c.s.charCodeAt(c.i);
    if (code === 0x22) {
      c.i++;
      return out;
    }
    if (code === 0x5c) {
      // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      c.i++;
      if (c.i >= c.s.length) return null;
      const next = c.s.charCodeAt(c.i);
      if (next !== 0x09 && (next < 0x20 || next === 0x7f || next > 0xff)) return null;
      out += c.s[c.i];
      c.i++;
      continue;
    }
    // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
    if (code !== 0x09 && (code < 0x20 || code === 0x7f || code > 0xff)) return null;
    out += c.s[c.i];
    c.i++;
  }
  return null;
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1: `1#extension`, `extension = token *( ";" param )`,
 * `param = token [ "=" ( token / quoted-string ) ]`). Repeated header fields must be joined with `", "` first, as
 * {@link HeaderList.get} does. OWS is allowed around `,`, `;` and `=` (the RFC uses RFC 2616's implied LWS).
 *
 * A quoted value must be a token once unescaped (§9.1). Empty list elements are ignored (RFC 7230 §7), so a value
 * with no element at all gives `[]`. Returns null when the value is malformed, which RFC 6455 §9.1 says must fail
 * the connection. Parameters keep insertion order; a repeated parameter keeps its first value and is reported in
 * `duplicateParams`.
 */
export function parseExtensions(header: string): ExtensionOffer[] | null {
  const c: Cursor = { s: header, i: 0 };
  const out: ExtensionOffer[] = [];
  for (;;) {
    skipOws(c);
    if (c.i >= c.s.length) return out;
    if (c.s[c.i] === ',') {
      c.i++;
      continue;
    }
    const name = readToken(c);
    if (name.length === 0) return null;
    const offer: ExtensionOffer = { name, params: {} };
    skipOws(c);
    while (c.s[c.i] === ';') {
      c.i++;
      skipOws(c);
      const param = readToken(c);
      if (param.length === 0) return null;
      skipOws(c);
      let value: string | true = true;
      if (c.s[c.i] === '=') {
        c.i++;
        skipOws(c);
        const v = c.s[c.i] === '"' ? readQuoted(c) : readToken(c);
        if (v === null || !isToken(v)) return null;
        value = v;
        skipOws(c);
      }
      if (Object.prototype.hasOwnProperty.call(offer.params, param)) {
        (offer.duplicateParams ??= []).push(param);
      } else {
        // defineProperty, not assignment: a param named `__proto__` must stay an ordinary own property.
        Object.defineProperty(offer.params, param, { value, enumerable: true, writable: true, configurable: true });
      }
    }
    out.push(offer);
    if (c.i >= c.s.length) return out;
    if (c.s[c.i] !== ',') return null;
    c.i++;
  }
}

/**
 * Formats extensions as a `Sec-WebSocket-Extensions` value: `name; a=1; b, other`. Values are written bare since
 * §9.1 requires them to be tokens anyway. Throws `TypeError` when a name, parameter or value is not a token.
 */
export function formatExtensions(list: readonly ExtensionOffer[]): string {
  return list
    .map((ext) => {
      if (!isToken(ext.name)) throw new TypeError(`invalid extension name: ${JSON.stringify(ext.name)}`);
      let item = ext.name;
      for (const [param, value] of Object.entries(ext.params)) {
        if (!isToken(param)) throw new TypeError(`invalid extension parameter: ${JSON.stringify(param)}`);
        if (value === true) {
          item += `; ${param}`;
        } else if (typeof value === 'string' && isToken(value)) {
          item += `; ${param}=${value}`;
        } else {
          throw new TypeError(`invalid value for extension parameter ${param}: ${JSON.stringify(value)}`);
        }
      }
      return item;
    })
    .join(', ');
}
