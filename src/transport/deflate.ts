/**
 * permessage-deflate's zlib side (RFC 7692 §7.2): one connection's compressor and decompressor over node:zlib raw
 * streams, run asynchronously on libuv's thread pool, plus the process-wide limit on concurrent zlib work.
 *
 * - Order: outgoing messages are compressed one at a time, and every write the session makes meanwhile (smaller
 *   uncompressed messages, pongs, a close frame) waits behind the compressed message that was sent before it, so
 *   nothing overtakes anything. Incoming: the session pauses its parser while a message inflates, and the driver
 *   stops reading the socket.
 * - Limits: inflated output is counted as it arrives; past the session's limit the connection fails with 1009 at
 *   once (decompression bombs). At most {@link deflateConcurrency} zlib jobs run at a time in the process; the rest
 *   wait in one FIFO queue (zlib memory fragmentation under load, ws#1202).
 * - Memory: zlib streams are created on a connection's first compressed message, not at the handshake. Without
 *   context takeover a stream is only borrowed for one message and goes back to a small process-wide pool (reset),
 *   so idle connections hold none. With context takeover the stream stays with the connection until it ends.
 * @packageDocumentation
 */
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { MessageTooBigError, ProtocolError } from '../errors.js';
import { Opcode } from '../protocol/constants.js';
import type { DeflateDirections } from '../protocol/extensions/deflate-params.js';
import { SessionState, type Session } from '../protocol/session.js';

/** How a connection compresses, beyond what was negotiated. */
export interface DeflateTuning {
  /** Messages smaller than this many bytes are sent uncompressed unless a send asks otherwise. */
  threshold: number;
  /** zlib compression level, 0-9 (or -1 for zlib's default, 6). */
  level: number;
  /** zlib memLevel, 1-9: memory for the compressor's hash tables (2^(memLevel+9) bytes). */
  memLevel: number;
}

/** Everything one connection's {@link PerMessageDeflate} needs: the negotiated directions and the tuning. */
export type DeflateSetup = DeflateDirections & DeflateTuning;

/** What the per-connection compressor asks of the socket driver. */
export interface DeflateHost {
  /** The connection's protocol session. */
  readonly session: Session;
  /** While a hold is set, the driver passes every session write to `hold.hold` instead of the socket. */
  setWriteHold(hold: WriteHold | null): void;
  /** Writes to the socket as a session write would (called with no hold set). */
  sessionWrite(first: Buffer, second: Buffer | null): void;
  /** Starts reading the socket again after an inflation paused it. */
  resumeInput(): void;
  /** The outgoing queue emptied: a close or TCP end deferred behind it may go now. */
  deflateIdle(): void;
  /** A zlib failure the connection cannot recover from (not the peer's fault): drop the connection. */
  deflateBroken(error: Error): void;
}

/** Receives the session writes made while compressed messages are pending. */
export interface WriteHold {
  hold(first: Buffer, second: Buffer | null): void;
}

// ---- process-wide: concurrency limit and stream pool -----------------------------------------------------------

type Job = () => void;
let concurrency = 10;
let running = 0;
const waiting: Job[] = [];
let liveStreams = 0;

/** How many zlib jobs (one message through one stream) may run at once in this process. Default 10, as ws. */
export function deflateConcurrency(): number {
  return concurrency;
}

/** Sets the process-wide limit on concurrent zlib jobs (an integer ≥ 1); queued jobs start as slots free up. */
export function setDeflateConcurrency(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`deflate concurrency must be an integer >= 1, got ${String(limit)}`);
  concurrency = limit;
  drain();
}

function acquire(job: Job): void {
  if (running < concurrency) {
    running++;
    job();
  } else {
    waiting.push(job);
  }
}

function releaseSlot(): void {
  running--;
  drain();
}

function drain(): void {
  while (running < concurrency && waiting.length > 0) {
    running++;
    waiting.shift()!();
  }
}

type ZStream = (DeflateRaw | InflateRaw) & { [kUser]?: ZUser | null; [kKey]?: string; [kDead]?: boolean };
const kUser = Symbol('nopoll.zuser');
const kKey = Symbol('nopoll.zkey');
const kDead = Symbol('nopoll.zdead');

// Counts a stream out of `live` once, when we close it or when it closes by itself (a zlib error destroys it).
function retire(stream: ZStream): void {
  if (stream[kDead] === true) return;
  stream[kDead] = true;
  liveStreams--;
}
function onStreamClose(this: ZStream): void {
  retire(this);
}

/** Whoever is using a stream right now gets its output and errors. */
interface ZUser {
  zData(chunk: Buffer): void;
  zError(error: Error): void;
}

// Idle streams without context, reset, per configuration; at most `concurrency` of each kind are kept.
const pool = new Map<string, ZStream[]>();

function onStreamData(this: ZStream, chunk: Buffer): void {
  this[kUser]?.zData(chunk);
}
function onStreamError(this: ZStream, error: Error): void {
  const user = this[kUser];
  this[kUser] = null;
  user?.zError(error);
}

// Every write is processed with Z_SYNC_FLUSH: one message (or fragment) is one write and one thread-pool job, and
// its output is complete when the write's callback runs.
function newStream(inflate: boolean, windowBits: number, level: number, memLevel: number): ZStream {
  const flush = constants.Z_SYNC_FLUSH;
  const stream: ZStream = inflate
    ? createInflateRaw({ windowBits, flush })
    : createDeflateRaw({ windowBits, level, memLevel, flush });
  liveStreams++;
  stream.on('data', onStreamData);
  stream.on('error', onStreamError);
  stream.once('close', onStreamClose);
  return stream;
}

function streamKey(inflate: boolean, windowBits: number, level: number, memLevel: number): string {
  return inflate ? `i${windowBits}` : `d${windowBits}/${level}/${memLevel}`;
}

function takeStream(inflate: boolean, windowBits: number, level: number, memLevel: number, user: ZUser): ZStream {
  const key = streamKey(inflate, windowBits, level, memLevel);
  const stream = pool.get(key)?.pop() ?? newStream(inflate, windowBits, level, memLevel);
  stream[kKey] = key;
  stream[kUser] = user;
  return stream;
}

// Hands an idle stream back: reset and pooled when there is room, else closed. A stream in an unknown state
// (failed, or dropped mid-job) is always closed.
function giveBack(stream: ZStream, reusable: boolean): void {
  stream[kUser] = null;
  const key = stream[kKey]!;
  const list = pool.get(key) ?? [];
  if (!reusable || list.length >= concurrency || stream[kDead] === true) {
    retire(stream);
    stream.close();
    return;
  }
  stream.reset();
  list.push(stream);
  pool.set(key, list);
}

/** Counters for tests and monitoring: jobs running and queued, zlib streams alive and idle in the pool. */
export function deflateStats(): { running: number; queued: number; live: number; pooled: number } {
  let pooled = 0;
  for (const list of pool.values()) pooled += list.length;
  return { running, queued: waiting.length, live: liveStreams, pooled };
}

/** Closes the idle pooled streams (their memory goes back to the system). */
export function trimDeflatePool(): void {
  for (const list of pool.values()) {
    for (const stream of list) {
      retire(stream);
      stream.close();
    }
  }
  pool.clear();
}

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const EMPTY_BLOCK = Buffer.from([0x00]);

function endsWithTrailer(b: Buffer): boolean {
  const n = b.length;
  return n >= 4 && b[n - 4] === 0x00 && b[n - 3] === 0x00 && b[n - 2] === 0xff && b[n - 1] === 0xff;
}

// zlib cannot compress with a 256-byte window: Node asks for 512 instead. A 512-byte window never emits a distance
// over 512 - 262 = 250 bytes (zlib's MAX_DIST), so the output still fits a peer that inflates with 256 bytes.
const deflateBits = (bits: number): number => (bits < 9 ? 9 : bits);

// ---- one connection ----------------------------------------------------------------------------------------------

/** A message (or fragment) waiting to be compressed, and the session writes made after it was queued. */
interface SendJob {
  opcode: number;
  data: Buffer;
  fin: boolean;
  after: Array<Buffer | null> | null;
}

const EMPTY_JOBS: SendJob[] = [];

/** One connection's permessage-deflate state. Created at session start; holds no zlib memory until used. */
export class PerMessageDeflate implements WriteHold {
  readonly #host: DeflateHost;
  readonly #setup: DeflateSetup;
  // Incoming: the stream (kept only with context takeover), the job in progress.
  #inflater: ZStream | null = null;
  #inUser: ZUser | null = null;
  // Outgoing: the stream (kept only with context takeover), the FIFO of messages, the open fragmented message.
  #deflater: ZStream | null = null;
  #jobs: SendJob[] = EMPTY_JOBS; // replaced by a real array on the first compressed send
  #pendingBytes = 0;
  #fragmented = 0; // 0, or the opcode of the compressed fragmented message being sent
  #closed = false;
  #idleWaiters: Array<() => void> | null = null;

  constructor(host: DeflateHost, setup: DeflateSetup) {
    this.#host = host;
    this.#setup = setup;
  }

  /** The settings in force. */
  get setup(): Readonly<DeflateSetup> {
    return this.#setup;
  }

  /** True while outgoing messages wait for compression (writes are held behind them). */
  get busy(): boolean {
    return this.#jobs.length > 0;
  }

  /** Payload bytes of outgoing messages not yet compressed and written. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Resolves once no outgoing message waits for compression (at once when none does, or after release). */
  whenIdle(): Promise<void> {
    if (this.#jobs.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idleWaiters ??= []).push(resolve));
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = null;
    if (waiters !== null) for (const wake of waiters) wake();
  }

  /** True while a compressed fragmented message is open (its later fragments must be compressed too). */
  get fragmenting(): boolean {
    return this.#fragmented !== 0;
  }

  // ---- sending ----

  /**
   * Sends a whole message, compressed when `compress` says so or, when it is undefined, when it is at least the
   * threshold. Returns the payload bytes accepted, or -1 when the session no longer sends.
   */
  sendMessage(opcode: number, data: Buffer, compress: boolean | undefined): number {
    if (!(compress ?? data.length >= this.#setup.threshold)) return this.#host.session.sendMessage(opcode, data);
    if (this.#fragmented !== 0) throw new TypeError('a fragmented message is still open; finish it first');
    return this.#enqueue(opcode, data, true);
  }

  /**
   * Sends one fragment: the first decides (from `compress`, else the threshold) whether the whole message is
   * compressed (RFC 7692 §6.1: RSV1 on its first frame, one deflate stream over all of its frames).
   */
  sendFragment(kind: number, data: Buffer, fin: boolean, compress: boolean | undefined): number {
    const session = this.#host.session;
    if (this.#fragmented === 0) {
      if (session.sendingFragmented !== 0 || !(compress ?? data.length >= this.#setup.threshold)) {
        return session.sendFragment(kind as typeof Opcode.TEXT, data, fin);
      }
      const sent = this.#enqueue(kind, data, fin);
      if (sent >= 0 && !fin) this.#fragmented = kind;
      return sent;
    }
    if (this.#fragmented !== kind) throw new TypeError('a fragmented message of the other type is still open');
    if (fin) this.#fragmented = 0;
    return this.#enqueue(Opcode.CONTINUATION, data, fin);
  }

  #enqueue(opcode: number, data: Buffer, fin: boolean): number {
    if (this.#closed || this.#host.session.state !== SessionState.OPEN) return -1;
    if (this.#jobs === EMPTY_JOBS) this.#jobs = [];
    this.#jobs.push({ opcode, data, fin, after: null });
    this.#pendingBytes += data.length;
    if (this.#jobs.length === 1) {
      this.#host.setWriteHold(this);
      this.#compressNext();
    }
    return data.length;
  }

  /** @internal Session writes made while messages wait: they go out after the last message queued. */
  hold(first: Buffer, second: Buffer | null): void {
    const job = this.#jobs[this.#jobs.length - 1]!;
    (job.after ??= []).push(first, second);
  }

  #compressNext(): void {
    const job = this.#jobs[0]!;
    acquire(() => {
      if (this.#closed || this.#jobs[0] !== job) return releaseSlot();
      const s = this.#setup;
      const chunks: Buffer[] = [];
      let settled = false;
      const user: ZUser = {
        zData: (chunk) => chunks.push(chunk),
        zError: (error) => {
          // The stream is destroyed by the error (and already detached from this job).
          if (settled) return;
          settled = true;
          if (this.#deflater === stream) this.#deflater = null;
          releaseSlot();
          if (!this.#closed) this.#host.deflateBroken(error);
        },
      };
      let stream: ZStream;
      try {
        stream = this.#deflater ?? takeStream(false, deflateBits(s.deflateWindowBits), s.level, s.memLevel, user);
      } catch (error) {
        releaseSlot();
        this.#host.deflateBroken(error as Error);
        return;
      }
      stream[kUser] = user;
      this.#deflater = stream;
      stream.write(job.data, () => {
        // Not ours any more when the connection ended or dropped its queue meanwhile (they released the slot).
        if (settled || stream[kUser] !== user) return;
        settled = true;
        stream[kUser] = null;
        releaseSlot();
        let out = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (job.fin) {
          // §7.2.1: the message ends with the sync flush's empty stored block, whose 00 00 ff ff is removed. With
          // nothing new to flush zlib writes nothing at all (an empty message after another one); an empty stored
          // block is then sent as its first byte alone, 0x00, as §7.2.3.6 shows for an empty message.
          out = endsWithTrailer(out) ? out.subarray(0, out.length - 4) : Buffer.concat([out, EMPTY_BLOCK]);
          // §7.2.3: without context takeover, the next message starts from an empty window.
          if (s.deflateNoContextTakeover) {
            this.#deflater = null;
            giveBack(stream, true);
          }
        }
        this.#sent(job, out);
      });
    });
  }

  // The head job is compressed: frame it and release what was held behind it, in order.
  #sent(job: SendJob, payload: Buffer): void {
    const host = this.#host;
    this.#jobs.shift();
    this.#pendingBytes -= job.data.length;
    host.setWriteHold(null);
    host.session.writeCompressed(job.opcode, payload, job.fin);
    const after = job.after;
    if (after !== null) for (let i = 0; i < after.length; i += 2) host.sessionWrite(after[i]!, after[i + 1]!);
    if (this.#jobs.length > 0) {
      host.setWriteHold(this);
      this.#compressNext();
    } else {
      host.deflateIdle();
      this.#wakeIdle();
    }
  }

  /**
   * Drops the messages not yet compressed (the connection is failing): what was held behind them is written at once.
   */
  dropPendingSends(): void {
    const jobs = this.#jobs;
    if (jobs.length === 0) return;
    this.#jobs = EMPTY_JOBS;
    this.#pendingBytes = 0;
    this.#fragmented = 0;
    // The stream may be mid-job: it cannot be trusted for the next message.
    const stream = this.#deflater;
    if (stream !== null && stream[kUser] !== null) {
      this.#deflater = null;
      giveBack(stream, false);
      releaseSlot();
    }
    const host = this.#host;
    host.setWriteHold(null);
    for (const job of jobs) {
      const after = job.after;
      if (after !== null) for (let i = 0; i < after.length; i += 2) host.sessionWrite(after[i]!, after[i + 1]!);
    }
    host.deflateIdle();
    this.#wakeIdle();
  }

  // ---- receiving ----

  /**
   * Inflates one compressed message, or in frame mode one frame (`fin` marks the last: RFC 7692 §7.2.2 appends
   * 00 00 ff ff to it), and calls back with the inflated bytes or with the error that fails the connection:
   * MessageTooBigError (1009) as soon as the output passes `limit`, ProtocolError 1007 for data zlib rejects.
   */
  inflate(data: Buffer, fin: boolean, limit: number, done: (error: ProtocolError | null, data?: Buffer) => void): void {
    acquire(() => {
      if (this.#closed) return releaseSlot();
      const s = this.#setup;
      const chunks: Buffer[] = [];
      let total = 0;
      let settled = false;
      // Ends the job with an error: the stream stopped mid-message and is never reused.
      const fail = (error: ProtocolError): void => {
        settled = true;
        this.#inUser = null;
        stream[kUser] = null;
        if (this.#inflater === stream) this.#inflater = null;
        giveBack(stream, false);
        releaseSlot();
        if (!this.#closed) done(error);
      };
      const user: ZUser = {
        zData: (chunk) => {
          if (settled || stream[kUser] !== user) return;
          total += chunk.length;
          // Checked on every piece zlib produces, so a bomb stops within one chunk (16 KiB) of the limit.
          if (total > limit) return fail(new MessageTooBigError(`message inflates to over ${limit} bytes`, limit));
          chunks.push(chunk);
        },
        zError: (error) => {
          if (!settled) fail(new ProtocolError('NOPOLL_ERR_INVALID_COMPRESSED_DATA', `invalid compressed data: ${error.message}`, 1007));
        },
      };
      let stream: ZStream;
      try {
        stream = this.#inflater ?? takeStream(true, Math.max(9, s.inflateWindowBits), 0, 0, user);
      } catch (error) {
        releaseSlot();
        this.#host.deflateBroken(error as Error);
        return;
      }
      stream[kUser] = user;
      this.#inflater = stream;
      this.#inUser = user;
      // §7.2.2: the last frame's data gets the 00 00 ff ff that the sender removed.
      stream.write(fin ? Buffer.concat([data, TRAILER]) : data, () => {
        // Not ours any more when the connection ended meanwhile (release() freed the slot).
        if (settled || stream[kUser] !== user) return;
        settled = true;
        this.#inUser = null;
        stream[kUser] = null;
        releaseSlot();
        if (fin && s.inflateNoContextTakeover) {
          this.#inflater = null;
          giveBack(stream, true);
        }
        done(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
      });
    });
  }

  // ---- end ----

  /** Releases every zlib stream and drops queued work (the connection ended). Idempotent. */
  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#jobs = EMPTY_JOBS;
    this.#pendingBytes = 0;
    this.#wakeIdle();
    const inflater = this.#inflater;
    this.#inflater = null;
    if (inflater !== null) {
      const midJob = this.#inUser !== null && inflater[kUser] === this.#inUser;
      this.#inUser = null;
      if (midJob) {
        inflater[kUser] = null;
        releaseSlot();
      }
      giveBack(inflater, !midJob);
    }
    const deflater = this.#deflater;
    this.#deflater = null;
    if (deflater !== null) {
      const midJob = deflater[kUser] !== null && deflater[kUser] !== undefined;
      if (midJob) {
        deflater[kUser] = null;
        releaseSlot();
      }
      giveBack(deflater, !midJob);
    }
  }
}
