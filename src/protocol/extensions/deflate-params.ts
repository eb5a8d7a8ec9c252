/**
 * permessage-deflate negotiation (RFC 7692 §5 and §7.1): building the client's offer, choosing among a client's
 * offers on the server, and checking the server's response on the client. Pure: parameters in, decisions out; the
 * zlib side lives in `transport/deflate.ts`. Parameter values are checked character by character, no regular
 * expressions.
 * @packageDocumentation
 */
import type { ExtensionOffer } from '../handshake/extension-header.js';

/** The extension token (RFC 7692 §7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** Smallest and largest LZ77 window, as base-2 logarithms (RFC 7692 §7.1.2). */
export const MIN_WINDOW_BITS = 8;
export const MAX_WINDOW_BITS = 15;

/**
 * The four negotiation parameters of RFC 7692 §7.1, as one side configures them. Their meaning depends on the side:
 * on a client they are what it offers, on a server what it answers with.
 */
export interface DeflateParams {
  /**
   * Client: ask the server to reset its compression context after each message (`server_no_context_takeover`,
   * §7.1.1.1); the server must agree or decline. Server: do so even when the client did not ask (saves the memory of
   * a kept context on the server).
   */
  serverNoContextTakeover?: boolean;
  /**
   * Client: announce that it resets its compression context after each message (`client_no_context_takeover`,
   * §7.1.1.2). Server: require the client to do so (then the server's inflate context is not kept between messages).
   */
  clientNoContextTakeover?: boolean;
  /**
   * Client: ask the server to compress with a window of at most 2^N bytes (`server_max_window_bits`, §7.1.2.1), 8-15.
   * Server: the largest window it compresses with; answered when smaller than 15 or when the client asked.
   */
  serverMaxWindowBits?: number;
  /**
   * Client: `true` offers `client_max_window_bits` without a value (the server may then lower the client's window),
   * a number 8-15 offers it with that value (and the client compresses with at most that window), `false` leaves it
   * out. Server: the window the client is asked to use, 8-15, sent only when the client's offer allows it
   * (§7.1.2.2); a boolean means "do not ask".
   */
  clientMaxWindowBits?: number | boolean;
}

/** What both sides agreed for one connection (RFC 7692 §7.1), in the RFC's server/client terms. */
export interface DeflateAgreement {
  /** The server resets its compression context after each message. */
  readonly serverNoContextTakeover: boolean;
  /** The client resets its compression context after each message. */
  readonly clientNoContextTakeover: boolean;
  /** Largest window (base-2 log) the server compresses with; 15 when not negotiated. */
  readonly serverMaxWindowBits: number;
  /** Largest window (base-2 log) the client compresses with; 15 when not negotiated. */
  readonly clientMaxWindowBits: number;
  /** The `Sec-WebSocket-Extensions` element the server answered with, e.g. `permessage-deflate; client_max_window_bits=15`. */
  readonly response: string;
}

/** One side's view of an agreement: how it compresses what it sends and inflates what it receives. */
export interface DeflateDirections {
  /** Window (base-2 log) for our compressor: the peer inflates with at most this. */
  deflateWindowBits: number;
  /** Reset our compression context after each message. */
  deflateNoContextTakeover: boolean;
  /** Window (base-2 log) the peer compresses with: our inflater needs at least this. */
  inflateWindowBits: number;
  /** The peer resets its context after each message, so ours need not be kept between messages. */
  inflateNoContextTakeover: boolean;
}

/** The parameters of one permessage-deflate element, validated. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** null when absent. */
  serverMaxWindowBits: number | null;
  /** null when absent; true when present without a value (offers only). */
  clientMaxWindowBits: number | true | null;
}

type Parsed = { ok: true; params: ParsedParams } | { ok: false; reason: string };

/**
 * Reads a window-bits value: a decimal integer from 8 to 15 without leading zeros (RFC 7692 §7.1.2.1/§7.1.2.2).
 * Returns NaN for anything else ("08", "+9", "9 ", "16", "1000").
 */
export function parseWindowBits(value: string): number {
  if (value.length === 1) {
    const c = value.charCodeAt(0);
    return c === 0x38 || c === 0x39 ? c - 0x30 : NaN; // "8" or "9"
  }
  if (value.length === 2 && value.charCodeAt(0) === 0x31) {
    const c = value.charCodeAt(1);
    return c >= 0x30 && c <= 0x35 ? 10 + c - 0x30 : NaN; // "10" to "15"
  }
  return NaN;
}

/**
 * Validates the parameters of one permessage-deflate element. `kind` says whether it is an offer (client to server)
 * or a response (server to client): only an offer may carry `client_max_window_bits` without a value (§7.1.2.2).
 * Unknown, repeated or malformed parameters make the element invalid (§7: an offer is declined, a response fails the
 * connection).
 */
function parseParams(ext: ExtensionOffer, kind: 'offer' | 'response'): Parsed {
  const fail = (reason: string): Parsed => ({ ok: false, reason });
  if (ext.duplicateParams !== undefined && ext.duplicateParams.length > 0) {
    return fail(`parameter ${ext.duplicateParams[0]} appears more than once`);
  }
  const params: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: null,
    clientMaxWindowBits: null,
  };
  for (const name of Object.keys(ext.params)) {
    const value = ext.params[name]!;
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        // §7.1.1.1 / §7.1.1.2: these parameters have no value.
        if (value !== true) return fail(`${name} takes no value`);
        if (name === 'server_no_context_takeover') params.serverNoContextTakeover = true;
        else params.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        // §7.1.2.1: the value is mandatory, in offers and responses alike.
        const bits = value === true ? NaN : parseWindowBits(value);
        if (Number.isNaN(bits))
          return fail(`server_max_window_bits must be 8 to 15, got ${value === true ? 'no value' : value}`);
        params.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        if (value === true) {
          if (kind === 'response') return fail('client_max_window_bits needs a value in a response');
          params.clientMaxWindowBits = true;
          break;
        }
        const bits = parseWindowBits(value);
        if (Number.isNaN(bits)) return fail(`client_max_window_bits must be 8 to 15, got ${value}`);
        params.clientMaxWindowBits = bits;
        break;
      }
      default:
        return fail(`unknown parameter ${name}`);
    }
  }
  return { ok: true, params };
}

/** Throws unless `bits` is an integer window size from 8 to 15. */
function checkBits(bits: unknown, name: string): number {
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < MIN_WINDOW_BITS || bits > MAX_WINDOW_BITS) {
    throw new RangeError(`${name} must be an integer from 8 to 15, got ${String(bits)}`);
  }
  return bits;
}

/**
 * Checks a {@link DeflateParams} configuration (the same rules for both sides; a server ignores a boolean
 * `clientMaxWindowBits`).
 * @throws TypeError or RangeError on a wrong type or a window size outside 8-15.
 */
export function validateDeflateParams(params: DeflateParams): void {
  for (const name of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    const v = params[name];
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  }
  if (params.serverMaxWindowBits !== undefined) checkBits(params.serverMaxWindowBits, 'serverMaxWindowBits');
  const c = params.clientMaxWindowBits;
  if (c !== undefined && typeof c !== 'boolean') checkBits(c, 'clientMaxWindowBits');
}

/**
 * The client's offer (RFC 7692 §5, §7.1): `permessage-deflate` with the parameters configured. By default it only
 * carries `client_max_window_bits` (no value), which lets the server lower the client's window, as browsers offer.
 * @throws like {@link validateDeflateParams}.
 */
export function buildDeflateOffer(params: DeflateParams = {}): ExtensionOffer {
  validateDeflateParams(params);
  const out: Record<string, string | true> = {};
  if (params.serverNoContextTakeover === true) out['server_no_context_takeover'] = true;
  if (params.clientNoContextTakeover === true) out['client_no_context_takeover'] = true;
  if (params.serverMaxWindowBits !== undefined) out['server_max_window_bits'] = String(params.serverMaxWindowBits);
  const c = params.clientMaxWindowBits ?? true;
  if (c !== false) out['client_max_window_bits'] = c === true ? true : String(c);
  return { name: PERMESSAGE_DEFLATE, params: out };
}

/** Formats one element as it goes in `Sec-WebSocket-Extensions` (params are tokens: no quoting needed). */
function formatElement(ext: ExtensionOffer): string {
  let out = ext.name;
  for (const [name, value] of Object.entries(ext.params)) out += value === true ? `; ${name}` : `; ${name}=${value}`;
  return out;
}

/** Outcome of {@link selectDeflateOffer}. */
export type DeflateSelection =
  { ok: true; agreement: DeflateAgreement; response: ExtensionOffer; index: number } | { ok: false; reasons: string[] };

/**
 * Server side (RFC 7692 §5.1): picks the first acceptable permessage-deflate element among the client's offers, in
 * the client's order of preference, and builds the response. An element with an unknown, repeated or malformed
 * parameter is declined (§7: "the server MUST decline"), and the next one is tried; when none is acceptable the
 * connection goes on without compression. `reasons` says why each permessage-deflate element was declined (empty
 * when none was offered). `config` must have passed {@link validateDeflateParams}.
 *
 * The answer: `server_no_context_takeover` when the client asked or `config` wants it; `client_no_context_takeover`
 * when the client announced it or `config` requires it; `server_max_window_bits` = the smaller of the client's
 * request and `config` (sent when either exists, §7.1.2.1 allows it unrequested); `client_max_window_bits` only when
 * the client offered that parameter (§7.1.2.2 forbids it otherwise), with the smaller of the client's value and
 * `config`.
 */
export function selectDeflateOffer(offers: readonly ExtensionOffer[], config: DeflateParams = {}): DeflateSelection {
  const reasons: string[] = [];
  for (let index = 0; index < offers.length; index++) {
    const ext = offers[index]!;
    if (ext.name !== PERMESSAGE_DEFLATE) continue;
    const parsed = parseParams(ext, 'offer');
    if (!parsed.ok) {
      reasons.push(`offer ${index + 1}: ${parsed.reason}`);
      continue;
    }
    const p = parsed.params;
    const serverNoContextTakeover = p.serverNoContextTakeover || config.serverNoContextTakeover === true;
    const clientNoContextTakeover = p.clientNoContextTakeover || config.clientNoContextTakeover === true;
    let serverBits = p.serverMaxWindowBits ?? MAX_WINDOW_BITS;
    if (config.serverMaxWindowBits !== undefined) serverBits = Math.min(serverBits, config.serverMaxWindowBits);
    let clientBits = MAX_WINDOW_BITS;
    let sendClientBits = false;
    if (p.clientMaxWindowBits !== null) {
      if (p.clientMaxWindowBits !== true) {
        clientBits = p.clientMaxWindowBits;
        sendClientBits = true;
      }
      if (typeof config.clientMaxWindowBits === 'number') {
        clientBits = Math.min(clientBits, config.clientMaxWindowBits);
        sendClientBits = true;
      }
    }
    const params: Record<string, string | true> = {};
    if (serverNoContextTakeover) params['server_no_context_takeover'] = true;
    if (clientNoContextTakeover) params['client_no_context_takeover'] = true;
    if (p.serverMaxWindowBits !== null || serverBits < MAX_WINDOW_BITS)
      params['server_max_window_bits'] = String(serverBits);
    if (sendClientBits) params['client_max_window_bits'] = String(clientBits);
    const response: ExtensionOffer = { name: PERMESSAGE_DEFLATE, params };
    return {
      ok: true,
      index,
      response,
      agreement: {
        serverNoContextTakeover,
        clientNoContextTakeover,
        serverMaxWindowBits: serverBits,
        clientMaxWindowBits: clientBits,
        response: formatElement(response),
      },
    };
  }
  return { ok: false, reasons };
}

/** Outcome of {@link checkDeflateResponse}: the agreement (null when the server declined), or why it is invalid. */
export type DeflateResponseCheck = { ok: true; agreement: DeflateAgreement | null } | { ok: false; error: string };

/**
 * Client side (RFC 7692 §5 and §7.1): checks the server's accepted extensions against the offer made with `offered`.
 * No permessage-deflate element means the server declined: the connection goes on uncompressed. An element that is
 * malformed, repeated, has an unknown or out-of-range parameter, lacks `server_no_context_takeover` or
 * `server_max_window_bits` the client asked for, answers a larger `server_max_window_bits` than asked, or carries a
 * `client_max_window_bits` the offer did not allow (or larger than offered) is an error: the client must fail the
 * connection. A `client_no_context_takeover` the client announced holds even when the server does not repeat it.
 */
export function checkDeflateResponse(
  accepted: readonly ExtensionOffer[],
  offered: DeflateParams = {},
): DeflateResponseCheck {
  const fail = (error: string): DeflateResponseCheck => ({ ok: false, error });
  const elements = accepted.filter((e) => e.name === PERMESSAGE_DEFLATE);
  if (elements.length === 0) return { ok: true, agreement: null };
  if (elements.length > 1) return fail('the server accepted permessage-deflate more than once');
  const ext = elements[0]!;
  const parsed = parseParams(ext, 'response');
  if (!parsed.ok) return fail(`invalid permessage-deflate response: ${parsed.reason}`);
  const p = parsed.params;
  if (offered.serverNoContextTakeover === true && !p.serverNoContextTakeover) {
    return fail('the server did not confirm server_no_context_takeover');
  }
  // §7.1.2.1: a server accepting an offer with server_max_window_bits answers the same or a smaller value.
  if (offered.serverMaxWindowBits !== undefined) {
    if (p.serverMaxWindowBits === null) return fail('the server did not confirm server_max_window_bits');
    if (p.serverMaxWindowBits > offered.serverMaxWindowBits) {
      return fail(
        `server_max_window_bits=${p.serverMaxWindowBits} is larger than the ${offered.serverMaxWindowBits} offered`,
      );
    }
  }
  // §7.1.2.2: no client_max_window_bits in the response unless the offer had it, and never above the offered value.
  const clientOffer = offered.clientMaxWindowBits ?? true;
  let clientBits = typeof clientOffer === 'number' ? clientOffer : MAX_WINDOW_BITS;
  if (p.clientMaxWindowBits !== null) {
    if (clientOffer === false) return fail('the server sent client_max_window_bits, which was not offered');
    const bits = p.clientMaxWindowBits as number;
    if (bits > clientBits) return fail(`client_max_window_bits=${bits} is larger than the ${clientBits} offered`);
    clientBits = bits;
  }
  return {
    ok: true,
    agreement: {
      serverNoContextTakeover: p.serverNoContextTakeover,
      clientNoContextTakeover: p.clientNoContextTakeover || offered.clientNoContextTakeover === true,
      serverMaxWindowBits: p.serverMaxWindowBits ?? MAX_WINDOW_BITS,
      clientMaxWindowBits: clientBits,
      response: formatElement(ext),
    },
  };
}

/** The agreement seen from one side: what governs our compressor, and what the peer's compressor promised. */
export function deflateDirections(agreement: DeflateAgreement, role: 'client' | 'server'): DeflateDirections {
  const server = role === 'server';
  return {
    deflateWindowBits: server ? agreement.serverMaxWindowBits : agreement.clientMaxWindowBits,
    deflateNoContextTakeover: server ? agreement.serverNoContextTakeover : agreement.clientNoContextTakeover,
    inflateWindowBits: server ? agreement.clientMaxWindowBits : agreement.serverMaxWindowBits,
    inflateNoContextTakeover: server ? agreement.clientNoContextTakeover : agreement.serverNoContextTakeover,
  };
}
