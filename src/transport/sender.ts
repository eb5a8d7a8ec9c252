/**
 * The one way out: every byte a connection writes passes here, whether the application sent a message or the
 * session answered a ping or a close. The sender
 * - picks the path of each message (whole or fragment, compressed or not: one decision, RFC 7692 §6.1 "the first
 *   frame decides"), and runs compression through the connection's {@link ZlibCodec};
 * - keeps order: while a message is being compressed, every later write (a smaller message, a pong, the close
 *   frame) waits behind it, so nothing overtakes anything;
 * - batches: writes made while one received chunk is processed leave together at its end (one write, or one writev
 *   for large frames), so a chunk that carried many messages is answered with one syscall.
 * Framing itself (headers, masking) is the protocol session's; the sender decides when and how bytes leave.
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';
import { finishCompressed } from '../protocol/extensions/deflate-framing.js';
import type { Session } from '../protocol/session.js';
import { uncorkWhenTurnEnds, type TurnCorked } from './turn-cork.js';
import type { ZlibCodec } from './zlib-codec.js';

/** What the sender reports to its transport. */
export interface SenderHost {
  /** The compression queue emptied: a close or TCP end that waited may go now. */
  senderIdle(): void;
  /** zlib failed on our side (not the peer's data): the connection cannot go on. */
  senderBroken(error: Error): void;
}

/** A message (or fragment) waiting to be compressed, and the writes made after it was queued. */
interface Job {
  opcode: number;
  data: Buffer;
  fin: boolean;
  after: Array<Buffer | null> | null;
}

// Writes gathered while one received chunk is processed, up to this size, leave as one buffer.
const BATCH_LIMIT = 16 * 1024;
const NO_JOBS: Job[] = [];

/** The connection's writer. See the module comment. */
export class Sender implements TurnCorked {
  readonly #stream: Duplex;
  readonly #session: Session;
  readonly #host: SenderHost;
  readonly #codec: ZlibCodec | null;
  readonly #threshold: number;
  #written = 0; // bytes handed to the stream
  // Batching while a received chunk is processed.
  #batching = false;
  #corked = false;
  #batch: Buffer[] | null = null;
  #batchBytes = 0;
  // Compression: the FIFO of messages (the head one is compressing), their payload bytes, and the open fragmented
  // message's decision (the opcode when it is compressed, else 0).
  #jobs: Job[] = NO_JOBS;
  #jobBytes = 0;
  #compressedFragment = 0;
  #releasing = false; // a compressed job's frame and what was held behind it are being written
  #turnCorked = false; // corked until the event-loop turn ends (shared frames, see writeShared)
  #turnBytes = 0; // bytes of shared frames written during this turn

  constructor(stream: Duplex, session: Session, host: SenderHost, codec: ZlibCodec | null) {
    this.#stream = stream;
    this.#session = session;
    this.#host = host;
    this.#codec = codec;
    this.#threshold = codec?.setup.threshold ?? 0;
  }

  /** Bytes accepted and not yet handed to the kernel: queued in the stream, in the batch, or waiting to compress. */
  get pendingBytes(): number {
    return this.#stream.writableLength + this.#batchBytes + this.#jobBytes;
  }

  /** Bytes handed to the operating system so far (frame headers included). */
  get flushedBytes(): number {
    return this.#written - this.#stream.writableLength;
  }

  /** True while messages wait for compression (later writes are held behind them). */
  get compressing(): boolean {
    return this.#jobs.length > 0;
  }

  /**
   * Sends a message, or a frame of a fragmented one. The first frame decides compression for its whole message:
   * `compress`, else the threshold. Returns the payload bytes accepted, or -1 when the session no longer sends.
   * @throws TypeError for a send the protocol forbids (another type while a fragmented message is open, text that
   * is not UTF-8).
   */
  send(opcode: number, data: string | Buffer, fin: boolean, compress: boolean | undefined): number {
    const session = this.#session;
    if (this.#codec !== null) {
      const open = session.sendingFragmented;
      const compressed = open === 0 ? (compress ?? byteLength(data) >= this.#threshold) : this.#compressedFragment !== 0;
      if (compressed) {
        const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
        const wire = session.beginCompressed(opcode, bytes, fin);
        if (wire < 0) return -1;
        this.#compressedFragment = fin ? 0 : opcode;
        this.#enqueue(wire, bytes, fin);
        return bytes.length;
      }
    }
    return session.sendData(opcode, data, fin);
  }

  // ---- the write path ----

  /** Writes framed bytes (`second`, when given, follows `first` in one writev), or holds them behind compression. */
  write(first: Buffer, second: Buffer | null): void {
    const jobs = this.#jobs;
    if (jobs.length > 0 && !this.#releasing) {
      (jobs[jobs.length - 1]!.after ??= []).push(first, second);
      return;
    }
    const stream = this.#stream;
    if (stream.destroyed) return;
    if (this.#batching && second === null && this.#batchBytes + first.length <= BATCH_LIMIT) {
      (this.#batch ??= []).push(first);
      this.#batchBytes += first.length;
      return;
    }
    if (this.#batch !== null) this.#flushBatch();
    this.#written += first.length;
    if (second === null) {
      stream.write(first);
      return;
    }
    this.#written += second.length;
    if (this.#batching) {
      // Large frames answered while one chunk is processed leave in one writev when the chunk is done.
      if (!this.#corked) {
        this.#corked = true;
        stream.cork();
      }
      stream.write(first);
      stream.write(second);
      return;
    }
    stream.cork();
    stream.write(first);
    stream.write(second);
    stream.uncork();
  }

  // ---- shared frames (publish) ----

  /**
   * Writes a frame built once for many connections (a published message). It keeps the order of every write (held
   * behind messages being compressed, after what the current batch gathered), and joins the per-turn cork: every
   * frame the connection gets during one event-loop turn leaves in one writev when the turn ends (turn-cork.ts).
   */
  writeShared(frame: Buffer): void {
    const jobs = this.#jobs;
    if (jobs.length > 0 && !this.#releasing) {
      (jobs[jobs.length - 1]!.after ??= []).push(frame, null);
      return;
    }
    const stream = this.#stream;
    if (stream.destroyed) return;
    if (this.#batch !== null) this.#flushBatch();
    if (!this.#turnCorked) {
      this.#turnCorked = true;
      stream.cork();
      uncorkWhenTurnEnds(this);
    }
    this.#written += frame.length;
    this.#turnBytes += frame.length;
    stream.write(frame);
  }

  /** Bytes of shared frames written during the current event-loop turn (they leave when it ends). */
  get turnBytes(): number {
    return this.#turnBytes;
  }

  /** @internal The event-loop turn ended (turn-cork.ts): what was written during it leaves now. */
  uncorkTurn(): void {
    this.#turnCorked = false;
    this.#turnBytes = 0;
    this.#stream.uncork();
  }

  /** Starts gathering writes (a received chunk is about to be processed). */
  beginBatch(): void {
    this.#batching = true;
  }

  /** Writes what was gathered since {@link beginBatch}. */
  endBatch(): void {
    this.#batching = false;
    if (this.#batch !== null && this.#jobs.length === 0) this.#flushBatch();
    if (this.#corked) {
      this.#corked = false;
      this.#stream.uncork();
    }
  }

  /** Writes the batch now (before TCP is ended). */
  flush(): void {
    if (this.#batch !== null) this.#flushBatch();
  }

  #flushBatch(): void {
    const batch = this.#batch!;
    const stream = this.#stream;
    this.#batch = null;
    const out = batch.length === 1 ? batch[0]! : Buffer.concat(batch, this.#batchBytes);
    this.#batchBytes = 0;
    if (stream.destroyed) return;
    this.#written += out.length;
    stream.write(out);
  }

  // ---- compression ----

  #enqueue(opcode: number, data: Buffer, fin: boolean): void {
    if (this.#jobs === NO_JOBS) this.#jobs = [];
    // What was gathered before this message must leave before it.
    if (this.#jobs.length === 0 && this.#batch !== null) this.#flushBatch();
    this.#jobs.push({ opcode, data, fin, after: null });
    this.#jobBytes += data.length;
    if (this.#jobs.length === 1) this.#compressNext();
  }

  #compressNext(): void {
    const job = this.#jobs[0]!;
    this.#codec!.compress(job.data, job.fin, (error, out) => {
      if (this.#jobs[0] !== job) return; // dropped meanwhile
      if (error !== null) return this.#host.senderBroken(error);
      this.#jobs.shift();
      this.#jobBytes -= job.data.length;
      this.#releasing = true;
      // §7.2.1: the message's last compressed bytes lose the sync flush's trailer.
      this.#session.writeCompressed(job.opcode, job.fin ? finishCompressed(out) : out, job.fin);
      const after = job.after;
      if (after !== null) for (let i = 0; i < after.length; i += 2) this.write(after[i]!, after[i + 1]!);
      this.#releasing = false;
      if (this.#jobs.length > 0) this.#compressNext();
      else this.#host.senderIdle();
    });
  }

  /** Drops the messages not yet compressed (the connection is failing); what was held behind them is written. */
  dropPending(): void {
    const jobs = this.#jobs;
    if (jobs.length === 0) return;
    this.#jobs = NO_JOBS;
    this.#jobBytes = 0;
    this.#compressedFragment = 0;
    this.#codec!.abandonCompression();
    for (const job of jobs) {
      const after = job.after;
      if (after !== null) for (let i = 0; i < after.length; i += 2) this.write(after[i]!, after[i + 1]!);
    }
    this.#host.senderIdle();
  }

  /** The connection ended: nothing more is written. */
  release(): void {
    this.#jobs = NO_JOBS;
    this.#jobBytes = 0;
    this.#batch = null;
    this.#batchBytes = 0;
  }
}

function byteLength(data: string | Buffer): number {
  // A string of n UTF-16 units is between n and 3n bytes: measure only when that range straddles the threshold.
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
}
