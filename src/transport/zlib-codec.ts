/**
 * zlib for permessage-deflate (RFC 7692 §7.2): one connection's compressor and decompressor over node:zlib raw
 * streams, run on libuv's thread pool, and the process-wide bound on zlib work. It compresses and inflates bytes
 * and knows nothing of frames or sessions: the wire rules are in `protocol/extensions/deflate-framing.ts`, the
 * order of writes in `sender.ts`.
 *
 * - At most {@link deflateConcurrency} zlib jobs run at once in the process; the rest wait in one FIFO queue
 *   (zlib memory fragmentation under load, ws#1202).
 * - zlib streams are made on a connection's first compressed message, not at the handshake. Without context
 *   takeover a stream is only borrowed for one message and goes back to a small process-wide pool (reset), so
 *   idle connections hold none. With context takeover it stays with the connection until it ends.
 * @packageDocumentation
 */
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import type { DeflateDirections } from '../protocol/extensions/deflate-params.js';
import { INFLATE_TAIL, zlibWindowBits } from '../protocol/extensions/deflate-framing.js';

/** How a connection compresses, beyond what was negotiated. */
export interface DeflateTuning {
  /** Messages smaller than this many bytes are sent uncompressed unless a send asks otherwise. */
  threshold: number;
  /** zlib compression level, 0-9 (or -1 for zlib's default, 6). */
  level: number;
  /** zlib memLevel, 1-9: memory for the compressor's hash tables (2^(memLevel+9) bytes). */
  memLevel: number;
}

/** Everything one connection's codec needs: the negotiated directions and the tuning. */
export type DeflateSetup = DeflateDirections & DeflateTuning;

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
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`deflate concurrency must be an integer >= 1, got ${String(limit)}`);
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

const kJob = Symbol('nopoll.zjob');
const kKey = Symbol('nopoll.zkey');
const kDead = Symbol('nopoll.zdead');
type ZStream = (DeflateRaw | InflateRaw) & { [kJob]?: ZJob | null; [kKey]?: string; [kDead]?: boolean };

/** The job a stream is working for: it gets the output and the error. */
interface ZJob {
  data(chunk: Buffer): void;
  error(error: Error): void;
}

// Counts a stream out of `live` once, when we close it or when it closes by itself (a zlib error destroys it).
function retire(stream: ZStream): void {
  if (stream[kDead] === true) return;
  stream[kDead] = true;
  liveStreams--;
}
function onStreamClose(this: ZStream): void {
  retire(this);
}
function onStreamData(this: ZStream, chunk: Buffer): void {
  this[kJob]?.data(chunk);
}
function onStreamError(this: ZStream, error: Error): void {
  const job = this[kJob];
  this[kJob] = null;
  job?.error(error);
}

// Idle streams without context, reset, per configuration; at most `concurrency` of each kind are kept.
const pool = new Map<string, ZStream[]>();

// Every write is processed with Z_SYNC_FLUSH: one message (or fragment) is one write and one thread-pool job, and
// its output is complete when the write's callback runs.
function takeStream(inflate: boolean, windowBits: number, level: number, memLevel: number): ZStream {
  const key = inflate ? `i${windowBits}` : `d${windowBits}/${level}/${memLevel}`;
  let stream = pool.get(key)?.pop();
  if (stream === undefined) {
    const flush = constants.Z_SYNC_FLUSH;
    stream = inflate
      ? createInflateRaw({ windowBits, flush })
      : createDeflateRaw({ windowBits, level, memLevel, flush });
    liveStreams++;
    stream.on('data', onStreamData);
    stream.on('error', onStreamError);
    stream.once('close', onStreamClose);
    stream[kKey] = key;
  }
  return stream;
}

// Hands an idle stream back: reset and pooled when there is room, else closed. A stream in an unknown state
// (failed, or dropped mid-job) is always closed.
function giveBack(stream: ZStream, reusable: boolean): void {
  stream[kJob] = null;
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

// ---- one connection ----------------------------------------------------------------------------------------------

/**
 * One connection's zlib streams. One compression and one decompression may run at a time (the caller keeps its
 * messages in order); each calls back exactly once unless {@link release} came first.
 */
export class ZlibCodec {
  readonly #setup: DeflateSetup;
  // Streams kept between messages (context takeover), and the one running a job now.
  #inflater: ZStream | null = null;
  #deflater: ZStream | null = null;
  #inJob: ZStream | null = null;
  #outJob: ZStream | null = null;
  #released = false;

  constructor(setup: DeflateSetup) {
    this.#setup = setup;
  }

  /** The settings in force. */
  get setup(): Readonly<DeflateSetup> {
    return this.#setup;
  }

  /**
   * Compresses one message, or one fragment of one (`fin` false), with a sync flush. `done` gets zlib's output,
   * ending with 00 00 ff ff unless zlib had nothing to flush (see `finishCompressed`), or zlib's error.
   */
  compress(data: Buffer, fin: boolean, done: (error: Error | null, out: Buffer) => void): void {
    const s = this.#setup;
    acquire(() => {
      if (this.#released) return releaseSlot();
      let stream: ZStream;
      try {
        stream = this.#deflater ?? takeStream(false, zlibWindowBits(s.deflateWindowBits), s.level, s.memLevel);
      } catch (error) {
        releaseSlot();
        return done(error as Error, EMPTY);
      }
      this.#deflater = stream;
      this.#outJob = stream;
      const chunks: Buffer[] = [];
      let total = 0;
      const job: ZJob = {
        data: (chunk) => {
          chunks.push(chunk);
          total += chunk.length;
        },
        error: (error) => {
          // The stream is destroyed by the error and never reused.
          if (this.#outJob !== stream) return;
          this.#outJob = null;
          this.#deflater = null;
          releaseSlot();
          done(error, EMPTY);
        },
      };
      stream[kJob] = job;
      stream.write(data, () => {
        // Not ours any more when the connection was released meanwhile (which freed the slot).
        if (stream[kJob] !== job) return;
        stream[kJob] = null;
        this.#outJob = null;
        releaseSlot();
        // §7.2.3: without context takeover, the next message starts from an empty window.
        if (fin && s.deflateNoContextTakeover) {
          this.#deflater = null;
          giveBack(stream, true);
        }
        done(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
      });
    });
  }

  /**
   * Inflates one compressed message (or frame, `fin` marking the message's last). Each piece of output goes to
   * `output`, which returns false to stop (a limit passed: the stream is then dropped). `done` follows with zlib's
   * error (corrupt data) or null; it is not called after `output` stopped.
   */
  decompress(
    data: Buffer,
    fin: boolean,
    output: (chunk: Buffer) => boolean,
    done: (error: Error | null) => void,
  ): void {
    const s = this.#setup;
    acquire(() => {
      if (this.#released) return releaseSlot();
      let stream: ZStream;
      try {
        stream = this.#inflater ?? takeStream(true, Math.max(9, s.inflateWindowBits), 0, 0);
      } catch (error) {
        releaseSlot();
        return done(error as Error);
      }
      this.#inflater = stream;
      this.#inJob = stream;
      // Ends the job early: the stream stopped mid-message and is never reused.
      const drop = (): void => {
        this.#inJob = null;
        if (this.#inflater === stream) this.#inflater = null;
        giveBack(stream, false);
        releaseSlot();
      };
      const job: ZJob = {
        data: (chunk) => {
          if (stream[kJob] === job && !output(chunk)) drop();
        },
        error: (error) => {
          if (this.#inJob !== stream) return;
          drop();
          done(error);
        },
      };
      stream[kJob] = job;
      const finished = (): void => {
        if (stream[kJob] !== job) return;
        stream[kJob] = null;
        this.#inJob = null;
        releaseSlot();
        if (fin && s.inflateNoContextTakeover) {
          this.#inflater = null;
          giveBack(stream, true);
        }
        done(null);
      };
      // §7.2.2: the last frame's data is followed by the 00 00 ff ff the sender removed (a second write: no copy).
      if (fin) {
        stream.write(data);
        stream.write(INFLATE_TAIL, finished);
      } else {
        stream.write(data, finished);
      }
    });
  }

  /** Releases both streams; a job running is abandoned without a callback. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const [stream, midJob] of [
      [this.#inflater, this.#inJob !== null],
      [this.#deflater, this.#outJob !== null],
    ] as const) {
      if (stream === null) continue;
      if (midJob) releaseSlot();
      giveBack(stream, !midJob);
    }
    this.#inflater = this.#deflater = this.#inJob = this.#outJob = null;
  }

  /** Drops a compression under way (the connection is failing): its callback never comes. */
  abandonCompression(): void {
    const stream = this.#outJob;
    if (stream === null) return;
    this.#outJob = null;
    if (this.#deflater === stream) this.#deflater = null;
    giveBack(stream, false);
    releaseSlot();
  }
}

const EMPTY = Buffer.alloc(0);
