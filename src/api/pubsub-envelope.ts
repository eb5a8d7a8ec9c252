/**
 * The `nopoll.pubsub.v1` subprotocol: what a subscriber that negotiated it receives instead of raw payloads. Every
 * frame is a text frame holding one JSON object:
 * - a message: `{"topic","offset","epoch","data"}`, plus `"binary":true` with the data in base64 (offset and epoch
 *   are null when the server keeps no history for the topic);
 * - after a resume, first: `{"topic","recovered":true|false}`;
 * - when messages may have been lost: `{"topic","gap":true,"missed":N|null}`.
 * A position is written `EPOCH:OFFSET` (the `?since=` query of `nopoll relay`).
 * @packageDocumentation
 */
import type { Position } from './backplane.js';

/** The subprotocol name. */
export const PUBSUB_PROTOCOL = 'nopoll.pubsub.v1';

/** The JSON of one delivered message. */
export function messageEnvelope(
  topic: string,
  data: Buffer | string,
  binary: boolean,
  offset: number | null,
  epoch: string | null,
): string {
  const head = `{"topic":${JSON.stringify(topic)},"offset":${offset === null ? 'null' : offset},"epoch":${epoch === null ? 'null' : JSON.stringify(epoch)}`;
  if (binary)
    return `${head},"binary":true,"data":"${(typeof data === 'string' ? Buffer.from(data) : data).toString('base64')}"}`;
  return `${head},"data":${JSON.stringify(typeof data === 'string' ? data : data.toString('utf8'))}}`;
}

/** The JSON sent first after a resume. */
export function recoveredEnvelope(topic: string, recovered: boolean): string {
  return `{"topic":${JSON.stringify(topic)},"recovered":${recovered}}`;
}

/** The JSON sent when messages on a topic may have been lost. */
export function gapEnvelope(topic: string, missed: number | null): string {
  return `{"topic":${JSON.stringify(topic)},"gap":true,"missed":${missed === null ? 'null' : missed}}`;
}

/** `EPOCH:OFFSET`. */
export function formatPosition(position: Position): string {
  return `${position.epoch}:${position.offset}`;
}

/**
 * Reads `EPOCH:OFFSET` (the epoch may itself contain colons: the last one separates). Null when it is not one: an
 * empty epoch, or an offset that is not a non-negative safe integer.
 */
export function parsePosition(text: string): Position | null {
  const at = text.lastIndexOf(':');
  if (at <= 0 || text.length > 300) return null;
  const digits = text.slice(at + 1);
  if (!/^\d{1,16}$/.test(digits)) return null;
  const offset = Number(digits);
  if (!Number.isSafeInteger(offset)) return null;
  return { epoch: text.slice(0, at), offset };
}

/** A frame of the subprotocol, as a client reads it. */
export type PubSubFrame =
  | {
      kind: 'message';
      topic: string;
      offset: number | null;
      epoch: string | null;
      binary: boolean;
      data: Buffer | string;
    }
  | { kind: 'recovered'; topic: string; recovered: boolean }
  | { kind: 'gap'; topic: string; missed: number | null };

/** Reads one frame of the subprotocol; null for anything else. */
export function parseEnvelope(text: string): PubSubFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const o = value as Record<string, unknown>;
  if (typeof o['topic'] !== 'string') return null;
  const topic = o['topic'];
  if (typeof o['recovered'] === 'boolean') return { kind: 'recovered', topic, recovered: o['recovered'] };
  if (o['gap'] === true) return { kind: 'gap', topic, missed: typeof o['missed'] === 'number' ? o['missed'] : null };
  if (typeof o['data'] !== 'string') return null;
  const binary = o['binary'] === true;
  const offset = typeof o['offset'] === 'number' ? o['offset'] : null;
  const epoch = typeof o['epoch'] === 'string' ? o['epoch'] : null;
  return { kind: 'message', topic, offset, epoch, binary, data: binary ? Buffer.from(o['data'], 'base64') : o['data'] };
}
