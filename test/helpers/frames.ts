/**
 * Test helpers for the protocol core: a naive, independent frame encoder and decoder (RFC 6455 §5.2), recording
 * implementations of SessionHandler and FrameSink, and a session factory for both roles.
 *
 * Everything here is written the slow, obvious way on purpose, so it can serve as a reference for the core.
 */
import assert from 'node:assert/strict';
import type { ProtocolError } from '../../src/errors.js';
import type { FrameSink } from '../../src/protocol/frame-parser.js';
import type { MaskSource } from '../../src/protocol/mask.js';
import {
  Session,
  SessionState,
  type Role,
  type SessionHandler,
  type SessionOptions,
} from '../../src/protocol/session.js';

export const ROLES: readonly Role[] = ['client', 'server'];

/** The masking key of the RFC 6455 §5.7 examples. */
export const RFC_KEY: Readonly<Buffer> = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

export const OP = {
  CONT: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Encoding

/** What one frame looks like on the wire. */
export interface FrameSpec {
  opcode: number;
  /** Default true. */
  fin?: boolean;
  /** RSV bits as in the first header byte (0x40, 0x20, 0x10). Default 0. */
  rsv?: number;
  /** Default empty. Strings are UTF-8 encoded. */
  payload?: Uint8Array | string;
  /** Masking key, or null/undefined for an unmasked frame. */
  mask?: Uint8Array | null;
  /** Force a length form; default is the minimal one. */
  lengthForm?: 7 | 16 | 64;
  /** Put this in the length field instead of the payload length (the payload is still appended). */
  announced?: bigint;
}

/** XOR with a 4-byte key, one byte at a time, into a new buffer. */
export function naiveMask(data: Uint8Array, key: Uint8Array, offset = 0): Buffer {
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ key[(i + offset) % 4]!;
  return out;
}

export function toBytes(payload: Uint8Array | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.from(payload);
}

/** Encodes a frame from its parts, independently of the core's encoder. */
export function buildFrame(spec: FrameSpec): Buffer {
  const payload = toBytes(spec.payload);
  const fin = spec.fin ?? true;
  const rsv = spec.rsv ?? 0;
  const mask = spec.mask ?? null;
  const announced = spec.announced ?? BigInt(payload.length);
  const form = spec.lengthForm ?? (announced < 126n ? 7 : announced < 65536n ? 16 : 64);
  const parts: Buffer[] = [];
  const b0 = (fin ? 0x80 : 0) | rsv | spec.opcode;
  const maskBit = mask === null ? 0 : 0x80;
  if (form === 7) {
    parts.push(Buffer.from([b0, maskBit | Number(announced)]));
  } else if (form === 16) {
    const h = Buffer.alloc(4);
    h[0] = b0;
    h[1] = maskBit | 126;
    h.writeUInt16BE(Number(announced), 2);
    parts.push(h);
  } else {
    const h = Buffer.alloc(10);
    h[0] = b0;
    h[1] = maskBit | 127;
    h.writeBigUInt64BE(announced, 2);
    parts.push(h);
  }
  if (mask !== null) {
    parts.push(Buffer.from(mask.subarray(0, 4)));
    parts.push(naiveMask(payload, mask));
  } else {
    parts.push(payload);
  }
  return Buffer.concat(parts);
}

/** Concatenates buffers. */
export function cat(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

export interface DecodedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  mask: Buffer | null;
  lengthForm: 7 | 16 | 64;
  headerSize: number;
  /** Unmasked payload. */
  payload: Buffer;
}

/** Decodes a complete sequence of frames; throws if bytes are left over or a frame is cut short. */
export function decodeFrames(bytes: Uint8Array): DecodedFrame[] {
  const buf = Buffer.from(bytes);
  const frames: DecodedFrame[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf.length - pos < 2) throw new Error(`truncated header at ${pos}`);
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    let at = pos + 2;
    let length = b1 & 0x7f;
    let lengthForm: 7 | 16 | 64 = 7;
    if (length === 126) {
      length = buf.readUInt16BE(at);
      at += 2;
      lengthForm = 16;
    } else if (length === 127) {
      const big = buf.readBigUInt64BE(at);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('64-bit length too large to decode');
      length = Number(big);
      at += 8;
      lengthForm = 64;
    }
    const masked = (b1 & 0x80) !== 0;
    let mask: Buffer | null = null;
    if (masked) {
      mask = Buffer.from(buf.subarray(at, at + 4));
      at += 4;
    }
    if (at + length > buf.length) throw new Error(`truncated payload at ${pos}`);
    const raw = buf.subarray(at, at + length);
    frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv: b0 & 0x70,
      opcode: b0 & 0x0f,
      masked,
      mask,
      lengthForm,
      headerSize: at - pos,
      payload: mask === null ? Buffer.from(raw) : naiveMask(raw, mask),
    });
    pos = at + length;
  }
  return frames;
}

export interface DecodedHeader {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  mask: Buffer | null;
  lengthForm: 7 | 16 | 64;
  /** The announced payload length, exactly. */
  length: bigint;
  /** Bytes the header occupies. */
  size: number;
}

/** Decodes one frame header at the start of `bytes` (the payload need not be present). */
export function decodeHeader(bytes: Uint8Array): DecodedHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  let at = 2;
  let length = BigInt(b1 & 0x7f);
  let lengthForm: 7 | 16 | 64 = 7;
  if (length === 126n) {
    length = BigInt(buf.readUInt16BE(2));
    at = 4;
    lengthForm = 16;
  } else if (length === 127n) {
    length = buf.readBigUInt64BE(2);
    at = 10;
    lengthForm = 64;
  }
  const masked = (b1 & 0x80) !== 0;
  const mask = masked ? Buffer.from(buf.subarray(at, at + 4)) : null;
  return {
    fin: (b0 & 0x80) !== 0,
    rsv: b0 & 0x70,
    opcode: b0 & 0x0f,
    masked,
    mask,
    lengthForm,
    length,
    size: at + (masked ? 4 : 0),
  };
}

/** Splits a close payload into its code (null when empty) and reason. */
export function decodeClose(payload: Uint8Array): { code: number | null; reason: string } {
  if (payload.length === 0) return { code: null, reason: '' };
  const buf = Buffer.from(payload);
  return { code: buf.readUInt16BE(0), reason: buf.subarray(2).toString('utf8') };
}

/** A close payload with a code and optional reason, built by hand. */
export function closePayload(code: number, reason: Uint8Array | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, toBytes(reason)]);
}

// ---------------------------------------------------------------------------------------------------------------
// Recording

export type SessionEvent =
  | { type: 'message'; opcode: number; payload: Buffer; fin: boolean }
  | { type: 'ping'; payload: Buffer }
  | { type: 'pong'; payload: Buffer }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; error: ProtocolError };

export type LogEntry = SessionEvent | { type: 'write'; bytes: Buffer };

/**
 * Records every SessionHandler call, copying buffers so later mutation cannot change the record (with `copy`
 * false, message payloads are kept as given, for the 16 MiB tests).
 */
export class RecordingHandler implements SessionHandler {
  readonly log: LogEntry[] = [];
  readonly #copy: boolean;
  constructor(copy = true) {
    this.#copy = copy;
  }

  sessionWrite(first: Buffer, second: Buffer | null): void {
    this.log.push({ type: 'write', bytes: second === null ? Buffer.from(first) : Buffer.concat([first, second]) });
  }
  sessionMessage(opcode: number, payload: Buffer, fin: boolean): void {
    this.log.push({ type: 'message', opcode, payload: this.#copy ? Buffer.from(payload) : payload, fin });
  }
  sessionPing(payload: Buffer): void {
    this.log.push({ type: 'ping', payload: Buffer.from(payload) });
  }
  sessionPong(payload: Buffer): void {
    this.log.push({ type: 'pong', payload: Buffer.from(payload) });
  }
  sessionClose(code: number, reason: string): void {
    this.log.push({ type: 'close', code, reason });
  }
  sessionError(error: ProtocolError): void {
    this.log.push({ type: 'error', error });
  }

  /** Every non-write call, in order. */
  get events(): SessionEvent[] {
    return this.log.filter((e): e is SessionEvent => e.type !== 'write');
  }
  /** Every write, in order, each as one buffer. */
  get writes(): Buffer[] {
    const out: Buffer[] = [];
    for (const e of this.log) if (e.type === 'write') out.push(e.bytes);
    return out;
  }
  /** The frames written, decoded (each write must hold whole frames). */
  get frames(): DecodedFrame[] {
    return this.writes.flatMap((w) => decodeFrames(w));
  }
  get messages(): Array<Extract<SessionEvent, { type: 'message' }>> {
    return this.events.filter((e): e is Extract<SessionEvent, { type: 'message' }> => e.type === 'message');
  }
  get errors(): ProtocolError[] {
    return this.events.flatMap((e) => (e.type === 'error' ? [e.error] : []));
  }
  clear(): void {
    this.log.length = 0;
  }
}

/** A comparable plain summary of a log (payloads as hex, errors by class, code and close code). */
export function summarize(log: readonly LogEntry[]): unknown[] {
  return log.map((e) => {
    switch (e.type) {
      case 'write':
        return { type: 'write', hex: e.bytes.toString('hex') };
      case 'message':
        return { type: 'message', opcode: e.opcode, fin: e.fin, hex: e.payload.toString('hex') };
      case 'ping':
      case 'pong':
        return { type: e.type, hex: e.payload.toString('hex') };
      case 'close':
        return { type: 'close', code: e.code, reason: e.reason };
      case 'error':
        return { type: 'error', name: e.error.name, code: e.error.code, closeCode: e.error.closeCode };
    }
  });
}

export interface SinkFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

/**
 * Records every FrameSink call. Data frame headers are accepted (gathered) unless `mode` says otherwise; the
 * message rules belong to the session's assembler, not to the parser.
 */
export class RecordingSink implements FrameSink {
  /** What onDataHeader answers: 1 gathered (FrameMode.ASSEMBLED), 2 streamed, 0 refused. */
  mode = 1;
  readonly headers: Array<{ fin: boolean; rsv: number; opcode: number; length: number }> = [];
  #opcode = 0;
  readonly frames: SinkFrame[] = [];
  readonly errors: ProtocolError[] = [];
  /** Payload parts of frames that arrived over several chunks, in arrival order, each with its frame's index. */
  readonly parts: Array<{ frame: number; opcode: number; part: Buffer }> = [];
  /** Frames, parts and errors in arrival order. */
  readonly order: Array<'frame' | 'part' | 'error'> = [];

  onDataHeader(fin: boolean, rsv: number, opcode: number, length: number): number {
    this.headers.push({ fin, rsv, opcode, length });
    this.#opcode = opcode;
    return this.mode;
  }
  onFrame(fin: boolean, rsv: number, opcode: number, payload: Buffer): void {
    this.frames.push({ fin, rsv, opcode, payload: Buffer.from(payload) });
    this.order.push('frame');
  }
  onFramePart(part: Buffer): void {
    this.parts.push({ frame: this.frames.length, opcode: this.#opcode, part: Buffer.from(part) });
    this.order.push('part');
  }
  onParseError(error: ProtocolError): void {
    this.errors.push(error);
    this.order.push('error');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Mask sources and sessions

/** A deterministic mask source cycling through `keys`; `calls` counts how often it was asked. */
export function maskSequence(...keys: Uint8Array[]): { source: MaskSource; readonly calls: number } {
  const list = keys.length > 0 ? keys : [RFC_KEY];
  const state = { calls: 0 };
  const source: MaskSource = (out, offset) => {
    const key = list[state.calls % list.length]!;
    state.calls++;
    for (let i = 0; i < 4; i++) out[offset + i] = key[i]!;
  };
  return {
    source,
    get calls() {
      return state.calls;
    },
  };
}

/**
 * Builds frames as the peer of a session with role `role` sends them: masked (with a key that changes every frame)
 * when the session is a server, unmasked when it is a client (RFC 6455 §5.1).
 */
export class Peer {
  readonly masks: boolean;
  #n = 0;
  constructor(sessionRole: Role) {
    this.masks = sessionRole === 'server';
  }
  nextKey(): Buffer {
    const n = this.#n++;
    return Buffer.from([
      (0x37 + n * 11) & 0xff,
      (0xfa + n * 29) & 0xff,
      (0x21 + n * 53) & 0xff,
      (0x3d + n * 97) & 0xff,
    ]);
  }
  frame(spec: FrameSpec): Buffer {
    return buildFrame({ ...spec, mask: spec.mask !== undefined ? spec.mask : this.masks ? this.nextKey() : null });
  }
  text(data: string | Uint8Array, fin = true): Buffer {
    return this.frame({ opcode: OP.TEXT, payload: data, fin });
  }
  binary(data: Uint8Array, fin = true): Buffer {
    return this.frame({ opcode: OP.BINARY, payload: data, fin });
  }
  cont(data: string | Uint8Array, fin: boolean): Buffer {
    return this.frame({ opcode: OP.CONT, payload: data, fin });
  }
  ping(data: string | Uint8Array = ''): Buffer {
    return this.frame({ opcode: OP.PING, payload: data });
  }
  pong(data: string | Uint8Array = ''): Buffer {
    return this.frame({ opcode: OP.PONG, payload: data });
  }
  close(code?: number, reason: string | Uint8Array = ''): Buffer {
    return this.frame({ opcode: OP.CLOSE, payload: code === undefined ? Buffer.alloc(0) : closePayload(code, reason) });
  }
}

export interface Harness {
  role: Role;
  session: Session;
  handler: RecordingHandler;
  peer: Peer;
  /** Feeds a copy of each chunk (the core may unmask in place). */
  feed(...chunks: Uint8Array[]): void;
}

export const BIG = 16 * 1024 * 1024;

/** A session of `role` with the 16 MiB defaults, the RFC mask key, and a recording handler. */
export function makeSession(
  role: Role,
  options: Partial<Omit<SessionOptions, 'role'>> = {},
  handler = new RecordingHandler(),
): Harness {
  const session = new Session(handler, {
    role,
    maxFrameBytes: BIG,
    maxMessageBytes: BIG,
    maskSource: maskSequence(RFC_KEY).source,
    ...options,
  });
  return {
    role,
    session,
    handler,
    peer: new Peer(role),
    feed(...chunks) {
      for (const c of chunks) session.receive(Buffer.from(c));
    },
  };
}

/** Splits `bytes` at the given cut points (sorted, deduplicated, clamped). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(Buffer.from(bytes.subarray(prev, p)));
    prev = p;
  }
  out.push(Buffer.from(bytes.subarray(prev)));
  return out;
}

/** A deterministic pseudo-random byte pattern. */
export function pattern(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The last frame written, decoded. */
export function lastFrame(handler: RecordingHandler): DecodedFrame {
  const frames = handler.frames;
  const f = frames[frames.length - 1];
  if (f === undefined) throw new Error('nothing written');
  return f;
}

/** Printable ASCII of `length` bytes (valid UTF-8 for text frames). */
export function ascii(length: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = 0x20 + ((i + seed) % 95);
  return out;
}

/** The length form RFC 6455 §5.2 requires for a payload of `length` bytes (the minimal one). */
export function minimalForm(length: number): 7 | 16 | 64 {
  return length < 126 ? 7 : length < 0x10000 ? 16 : 64;
}

/**
 * Asserts the session failed the connection exactly once (RFC 6455 §7.1.7): one `sessionError` with the given
 * close code (and error code when given), as the last event; one close frame carrying that code written last
 * (masked iff the session is a client); the session CLOSED.
 */
export function assertFailed(h: Harness, closeCode: number, errorCode?: string): ProtocolError {
  const events = h.handler.events;
  const errors = h.handler.errors;
  assert.equal(errors.length, 1, `exactly one error, got ${JSON.stringify(summarize(h.handler.log))}`);
  const error = errors[0]!;
  assert.equal(events.at(-1)?.type, 'error', 'nothing is delivered after the error');
  assert.equal(error.closeCode, closeCode, `close code (${error.code}: ${error.message})`);
  if (errorCode !== undefined) assert.equal(error.code, errorCode);
  const closes = h.handler.frames.filter((f) => f.opcode === OP.CLOSE);
  assert.equal(closes.length, 1, 'one close frame written');
  const frame = lastFrame(h.handler);
  assert.equal(frame.opcode, OP.CLOSE, 'the close frame is the last thing written');
  assert.equal(frame.masked, h.role === 'client');
  assert.equal(decodeClose(frame.payload).code, closeCode);
  assert.equal(h.session.state, SessionState.CLOSED);
  return error;
}
