/**
 * What travels on a topic's Redis channel: five text fields, each ending with a newline, then the payload bytes
 * unchanged (binary-safe, no base64):
 *
 *     pub/sub mode:  P <node> <seq> <flags> <origin> | payload    (seq: the node's count of publishes, for gaps)
 *     streams mode:  S <epoch> <offset> <flags> <origin> | payload (written by the publish script, streams.ts)
 *
 * `flags`: 1 binary, 2 compress, 4 do not compress. `origin` is the publishing connection's token (may be empty).
 * Keys and channels: `PREFIX:{TOPIC}:c` (channel), `:s` (stream), `:m` (stream metadata), `:p` (presence). The
 * braces keep a topic's keys in one Redis Cluster slot.
 * @packageDocumentation
 */

/** The fields of a channel message. */
export interface WireMessage {
  kind: 'P' | 'S';
  /** Pub/sub mode: the publishing node; streams mode: the epoch. */
  source: string;
  /** Pub/sub mode: the node's publish count; streams mode: the offset. */
  sequence: number;
  binary: boolean;
  compress: boolean | undefined;
  origin: string | null;
  data: Buffer;
}

/** Message flags from a publish. */
export function flagsOf(binary: boolean, compress: boolean | undefined): number {
  return (binary ? 1 : 0) | (compress === true ? 2 : compress === false ? 4 : 0);
}

/** Reads flags back. */
export function readFlags(flags: number): { binary: boolean; compress: boolean | undefined } {
  return { binary: (flags & 1) !== 0, compress: (flags & 2) !== 0 ? true : (flags & 4) !== 0 ? false : undefined };
}

/** The head of a pub/sub-mode message (the payload follows it). */
export function pubsubHead(node: string, sequence: number, flags: number, origin: string | null): Buffer {
  return Buffer.from(`P\n${node}\n${sequence}\n${flags}\n${origin ?? ''}\n`, 'latin1');
}

/** Parses a channel message; null when it is not one of ours (then it is ignored). */
export function parseWire(message: Buffer): WireMessage | null {
  const fields: string[] = [];
  let at = 0;
  for (let i = 0; i < 5; i++) {
    const end = message.indexOf(10, at);
    if (end < 0 || end - at > 512) return null;
    fields.push(message.toString('latin1', at, end));
    at = end + 1;
  }
  const kind = fields[0];
  if (kind !== 'P' && kind !== 'S') return null;
  const sequence = Number(fields[2]);
  const flags = Number(fields[3]);
  if (!Number.isSafeInteger(sequence) || !Number.isInteger(flags)) return null;
  const { binary, compress } = readFlags(flags);
  return {
    kind,
    source: fields[1]!,
    sequence,
    binary,
    compress,
    origin: fields[4] === '' ? null : fields[4]!,
    data: message.subarray(at),
  };
}

/** A topic's Redis names. */
export interface TopicKeys {
  channel: string;
  stream: string;
  meta: string;
  presence: string;
}

/** The Redis names of `topic` under `prefix`. */
export function topicKeys(prefix: string, topic: string): TopicKeys {
  const base = `${prefix}:{${topic}}:`;
  return { channel: `${base}c`, stream: `${base}s`, meta: `${base}m`, presence: `${base}p` };
}
