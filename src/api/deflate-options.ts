/**
 * The `perMessageDeflate` option (RFC 7692): its type, its defaults on each side, and turning it plus what the
 * handshake agreed into the settings a connection's compressor runs with.
 * @packageDocumentation
 */
import type { ExtensionOffer } from '../protocol/handshake/extension-header.js';
import {
  buildDeflateOffer,
  checkDeflateResponse,
  deflateDirections,
  selectDeflateOffer,
  validateDeflateParams,
  type DeflateAgreement,
  type DeflateParams,
} from '../protocol/extensions/deflate-params.js';
import type { DeflateSetup } from '../transport/zlib-codec.js';

/**
 * permessage-deflate settings. The four negotiation parameters are described on {@link DeflateParams}; the rest
 * only affect this side.
 */
export interface PerMessageDeflateOptions extends DeflateParams {
  /**
   * Messages smaller than this many bytes are sent uncompressed (a per-send `compress` option overrides it).
   * Default 1024: below about 1 KiB the deflate overhead outweighs the bytes saved for typical payloads.
   */
  threshold?: number;
  /** zlib compression level 0-9, or -1 for zlib's default (6). Default 1: the fastest, see docs/compression.md. */
  level?: number;
  /**
   * zlib memLevel 1-9: the compressor's hash tables take 2^(memLevel+9) bytes. Default 8 (zlib's default, 128 KiB);
   * lower it to save memory on connections that keep their context.
   */
  memLevel?: number;
  /**
   * Keep the compression context from one message to the next (`true`), or compress each message on its own
   * (`false`, the default). Without context an idle connection holds no zlib memory at all: the streams are only
   * borrowed from a process-wide pool for the time of one message (RFC 7692 §7.1.1); with it, each connection keeps
   * its streams (about 250 KiB with the default window and memLevel) in exchange for better compression of
   * repetitive traffic (figures in docs/compression.md). Listener: without context it answers
   * `server_no_context_takeover` and `client_no_context_takeover` (the server may require both, §7.1.1). Client:
   * it announces `client_no_context_takeover` (its own compressor) and inflates without context when the server
   * answers `server_no_context_takeover`. `serverNoContextTakeover` / `clientNoContextTakeover` given explicitly
   * win over this.
   */
  contextTakeover?: boolean;
}

/** Default compression threshold in bytes. */
export const DEFAULT_DEFLATE_THRESHOLD = 1024;
/** Default zlib level: 1, the fastest (see docs/compression.md for the measurement behind it). */
export const DEFAULT_DEFLATE_LEVEL = 1;
/** Default zlib memLevel (zlib's own default). */
export const DEFAULT_DEFLATE_MEM_LEVEL = 8;

/** What a connection needs once permessage-deflate was agreed: the agreement and the compressor's settings. */
export interface DeflateSession {
  agreement: DeflateAgreement;
  setup: DeflateSetup;
}

/** A validated option: the negotiation parameters plus the tuning; null when compression is off. */
interface Resolved {
  params: DeflateParams;
  threshold: number;
  level: number;
  memLevel: number;
}

function intIn(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`perMessageDeflate.${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Validates a `perMessageDeflate` option for one side. `undefined` means the side's default: on for clients
 * (offer it, as browsers do), off for listeners (see docs/compression.md for why).
 * @throws TypeError / RangeError for an invalid option.
 */
export function resolveDeflateOption(
  value: boolean | PerMessageDeflateOptions | undefined,
  side: 'client' | 'server',
): Resolved | null {
  const option = value ?? side === 'client';
  if (option === false) return null;
  if (option !== true && (typeof option !== 'object' || option === null)) {
    throw new TypeError('perMessageDeflate must be a boolean or an options object');
  }
  const o: PerMessageDeflateOptions = option === true ? {} : option;
  if (o.contextTakeover !== undefined && typeof o.contextTakeover !== 'boolean')
    throw new TypeError('perMessageDeflate.contextTakeover must be a boolean');
  const params: DeflateParams = {};
  // Without context takeover (the default), nothing of zlib stays with an idle connection: a listener makes both
  // directions context-free, a client its own compressor (the server decides about its own).
  const noContext = o.contextTakeover !== true;
  if (o.serverNoContextTakeover !== undefined) params.serverNoContextTakeover = o.serverNoContextTakeover;
  else if (noContext && side === 'server') params.serverNoContextTakeover = true;
  if (o.clientNoContextTakeover !== undefined) params.clientNoContextTakeover = o.clientNoContextTakeover;
  else if (noContext) params.clientNoContextTakeover = true;
  if (o.serverMaxWindowBits !== undefined) params.serverMaxWindowBits = o.serverMaxWindowBits;
  if (o.clientMaxWindowBits !== undefined) params.clientMaxWindowBits = o.clientMaxWindowBits;
  validateDeflateParams(params);
  return {
    params,
    threshold: intIn(o.threshold, 'threshold', 0, Number.MAX_SAFE_INTEGER, DEFAULT_DEFLATE_THRESHOLD),
    level: intIn(o.level, 'level', -1, 9, DEFAULT_DEFLATE_LEVEL),
    memLevel: intIn(o.memLevel, 'memLevel', 1, 9, DEFAULT_DEFLATE_MEM_LEVEL),
  };
}

// Connections that agreed on the same thing share one frozen agreement and setup (they are read-only), so an idle
// compressed connection carries no objects of its own for them. Few distinct combinations exist; the cache is capped.
const shared = new Map<string, DeflateSession>();
const SHARED_LIMIT = 256;

function session(resolved: Resolved, agreement: DeflateAgreement, role: 'client' | 'server'): DeflateSession {
  const key = `${role}|${agreement.response}|${agreement.clientNoContextTakeover}|${agreement.clientMaxWindowBits}|${resolved.threshold}|${resolved.level}|${resolved.memLevel}`;
  const known = shared.get(key);
  if (known !== undefined) return known;
  const made: DeflateSession = Object.freeze({
    agreement: Object.freeze({ ...agreement }),
    setup: Object.freeze({
      ...deflateDirections(agreement, role),
      threshold: resolved.threshold,
      level: resolved.level,
      memLevel: resolved.memLevel,
    }),
  });
  if (shared.size >= SHARED_LIMIT) shared.clear();
  shared.set(key, made);
  return made;
}

/** Client: the offer to send (null when compression is off). @throws like {@link resolveDeflateOption}. */
export function clientDeflateOffer(value: boolean | PerMessageDeflateOptions | undefined): {
  offer: ExtensionOffer;
  resolved: Resolved;
} | null {
  const resolved = resolveDeflateOption(value, 'client');
  return resolved === null ? null : { offer: buildDeflateOffer(resolved.params), resolved };
}

/**
 * Client: checks the server's accepted extensions against the offer. Returns the session settings (null when the
 * server declined compression), or the reason the handshake must fail.
 */
export function clientDeflateSession(
  offered: { resolved: Resolved } | null,
  accepted: readonly ExtensionOffer[],
): { ok: true; deflate: DeflateSession | null } | { ok: false; error: string } {
  if (offered === null) return { ok: true, deflate: null };
  const checked = checkDeflateResponse(accepted, offered.resolved.params);
  if (!checked.ok) return checked;
  return {
    ok: true,
    deflate: checked.agreement === null ? null : session(offered.resolved, checked.agreement, 'client'),
  };
}

/**
 * Listener: chooses among the client's offers (RFC 7692 §5.1). Returns the session settings, or null when
 * compression is off here or no offer was acceptable (the connection then goes on uncompressed); `declined` lists
 * why offers were refused.
 */
export function serverDeflateSession(
  value: boolean | PerMessageDeflateOptions | undefined,
  offers: readonly ExtensionOffer[],
): { deflate: DeflateSession | null; declined: string[] } {
  const resolved = resolveDeflateOption(value, 'server');
  if (resolved === null) return { deflate: null, declined: [] };
  const selected = selectDeflateOffer(offers, resolved.params);
  if (!selected.ok) return { deflate: null, declined: selected.reasons };
  return { deflate: session(resolved, selected.agreement, 'server'), declined: [] };
}
