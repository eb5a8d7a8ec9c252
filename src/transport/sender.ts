/**
 * The one way out: every byte a connection writes passes here, whether the application sent a message or the
 * session answered a ping or a close. The sender
 * - applies the write limit and picks the path of each message (whole or fragment, compressed or not: one
 *   decision, RFC 7692 §6.1 "the first frame decides"), and runs compression through the connection's
 *   {@link ZlibCodec};
 * - keeps order: while a message is being compressed, every later write (a smaller message, a pong, the close
 *   frame) waits behind it, so nothing overtakes anything;
 * - batches: writes made while one received chunk is processed leave together at its end (one write, or one writev
 *   for large frames), so a chunk that carried many messages is answered with one syscall;
 * - tells when what was accepted has reached the kernel (flush waits);
 * - writes frames shared by many connections (publish, `sendFrame`) into a per-turn cork (turn-cork.ts).
 * Framing itself (headers, masking) is the protocol session's; the sender decides when and how bytes leave. It is
 * the base of the connection's {@link Transport} (one object per connection, not two).
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';
import { ConnectionClosedError, PolicyViolationError } from '../errors.js';
import { finishCompressed } from '../protocol/extensions/deflate-framing.js';
import { SessionState, type Session } from '../protocol/session.js';
import { uncorkWhenTurnEnds, type TurnCorked } from './turn-cork.js';
import type { Inflation } from './inflation.js';
import type { ZlibCodec } from './zlib-codec.js';

/** A message (or fragment) waiting to be compressed, and the writes made after it was queued. */
interface Job {
  opcode: number;
  data: Buffer;
  fin: boolean;
  after: Array<Buffer | null> | null;
}

/**
 * @internal What a connection that agreed on permessage-deflate keeps for it (none otherwise): the codec, the send
 * threshold, the FIFO of messages to compress (the head one is compressing), their payload bytes, the open
 * fragmented message's decision (its opcode when compressed, else 0), flush waits held behind the queue, and the
 * receiving side's inflation (the transport's, made on the first compressed message).
 */
export interface Compression {
  readonly codec: ZlibCodec;
  readonly threshold: number;
  jobs: Job[];
  jobBytes: number;
  fragment: number;
  idleWaiters: Array<() => void> | null;
  inflation: Inflation | null;
}

// Writes gathered while one received chunk is processed, up to this size, leave as one buffer.
const BATCH_LIMIT = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * @internal Bits of {@link Sender.bits}: the sender's below 0x100, the transport's from 0x100 up. One integer holds
 * every flag of a connection's writer and transport, so an idle connection costs a few fields.
 */
export const SenderBit = {
  REFUSE_OVER_LIMIT: 0x1, // writeLimitPolicy 'refuse'
  BATCHING: 0x2, // a received chunk is being processed
  CORKED: 0x4, // large frames answered during the chunk wait in the stream's cork
  RELEASING: 0x8, // a compressed job's frame and what was held behind it are being written
  TURN_CORKED: 0x10, // shared frames wait in the cork until the event-loop turn ends
} as const;

/** The connection's writer. See the module comment. */
export abstract class Sender implements TurnCorked {
  /** @internal The byte stream written to. */
  protected readonly stream: Duplex;
  /** @internal The session that frames; set by the transport right after construction. */
  protected session!: Session;
  /** @internal permessage-deflate's state, or null. */
  protected readonly compression: Compression | null;
  /** @internal Flags: {@link SenderBit} and the transport's. */
  protected bits: number;
  readonly #writeLimit: number;
  #written = 0; // bytes handed to the stream
  // Writes gathered while a received chunk is processed, and their bytes.
  #batch: Buffer[] | null = null;
  #batchBytes = 0;
  #turnBytes = 0; // shared frames written during this event-loop turn

  constructor(stream: Duplex, codec: ZlibCodec | null, writeLimit: number, refuseOverLimit: boolean) {
    this.stream = stream;
    this.compression =
      codec === null
        ? null
        : {
            codec,
            threshold: codec.setup.threshold,
            jobs: [],
            jobBytes: 0,
            fragment: 0,
            idleWaiters: null,
            inflation: null,
          };
    this.#writeLimit = writeLimit;
    this.bits = refuseOverLimit ? SenderBit.REFUSE_OVER_LIMIT : 0;
  }

  /** The queue of messages being compressed emptied: what waited for it (a close, the end of TCP) may go. */
  protected abstract senderIdle(): void;
  /** zlib failed on our side (not the peer's data): the connection cannot go on. */
  protected abstract senderBroken(error: Error): void;
  /** The write limit was passed under policy 'close': close the connection with this error (1008). */
  protected abstract writeLimitPassed(error: PolicyViolationError): void;

  /** Bytes accepted and not yet handed to the kernel: queued in the stream, in the batch, or waiting to compress. */
  get pendingBytes(): number {
    return this.stream.writableLength + this.#batchBytes + (this.compression?.jobBytes ?? 0);
  }

  /** Bytes handed to the operating system so far (frame headers included). */
  get flushedBytes(): number {
    return this.#written - this.stream.writableLength;
  }

  /** True while messages wait for compression (later writes are held behind them). */
  get compressing(): boolean {
    return this.compression !== null && this.compression.jobs.length > 0;
  }

  /** The write limit: most bytes pending before a send is refused. */
  get writeLimit(): number {
    return this.#writeLimit;
  }

  /** True when a send past the write limit is refused (policy 'refuse'), false when it closes the connection. */
  get refusesOverLimit(): boolean {
    return (this.bits & SenderBit.REFUSE_OVER_LIMIT) !== 0;
  }

  /**
   * Sends a message, or a frame of a fragmented one (`fin` false), TEXT or BINARY. The first frame decides
   * compression for its whole message: `compress`, else the threshold. A send that would take the pending bytes
   * past the write limit is refused (0) or closes the connection with 1008 (-1), per the policy; a message always
   * goes when nothing is pending, whatever its size.
   * @returns the payload bytes accepted, 0 when refused by the write limit, -1 when the session no longer sends.
   * @throws TypeError for a send the protocol forbids (another type while a fragmented message is open, text that
   * is not UTF-8).
   */
  send(opcode: number, data: string | Buffer, fin: boolean, compress?: boolean): number {
    const pending = this.pendingBytes;
    if (pending !== 0 && data.length !== 0 && this.overLimit(data, pending)) return this.refuseWrite(pending);
    const session = this.session;
    const compression = this.compression;
    if (compression !== null) {
      const open = session.sendingFragmented;
      const compressed =
        open === 0 ? (compress ?? byteLength(data) >= compression.threshold) : compression.fragment !== 0;
      if (compressed) {
        const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
        const wire = session.beginCompressed(opcode, bytes, fin);
        if (wire < 0) return -1;
        compression.fragment = fin ? 0 : opcode;
        this.enqueue(compression, wire, bytes, fin);
        return bytes.length;
      }
    }
    return session.sendData(opcode, data, fin);
  }

  /** @internal */
  private overLimit(data: string | Buffer, pending: number): boolean {
    const room = this.#writeLimit - pending;
    if (typeof data !== 'string') return data.length > room;
    return data.length * 3 > room && Buffer.byteLength(data, 'utf8') > room;
  }

  /** @internal */
  private refuseWrite(pending: number): number {
    if ((this.bits & SenderBit.REFUSE_OVER_LIMIT) !== 0) return 0;
    this.writeLimitPassed(
      new PolicyViolationError(`write limit of ${this.#writeLimit} bytes exceeded (${pending} pending)`),
    );
    return -1;
  }

  // True when a write must wait behind messages being compressed: it is appended to the last one's `after`.
  /** @internal */
  private heldBehindJobs(first: Buffer, second: Buffer | null): boolean {
    const compression = this.compression;
    if (compression === null || compression.jobs.length === 0 || (this.bits & SenderBit.RELEASING) !== 0) return false;
    (compression.jobs[compression.jobs.length - 1]!.after ??= []).push(first, second);
    return true;
  }

  // ---- the write path ----

  /** @internal Writes framed bytes (`second`, when given, follows `first` in one writev), or holds them behind compression. */
  sessionWrite(first: Buffer, second: Buffer | null): void {
    if (this.compression !== null && this.heldBehindJobs(first, second)) return;
    const stream = this.stream;
    if (stream.destroyed) return;
    const batching = (this.bits & SenderBit.BATCHING) !== 0;
    if (batching && second === null && this.#batchBytes + first.length <= BATCH_LIMIT) {
      (this.#batch ??= []).push(first);
      this.#batchBytes += first.length;
      return;
    }
    this.flushBatch();
    this.#written += first.length;
    if (second === null) {
      stream.write(first);
      return;
    }
    this.#written += second.length;
    if (batching) {
      // Large frames answered while one chunk is processed leave in one writev when the chunk is done.
      if ((this.bits & SenderBit.CORKED) === 0) {
        this.bits |= SenderBit.CORKED;
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
   * Sends a whole data message already framed for the server role (`frameServerMessage`), the same bytes other
   * connections get: a published message is framed once, not once per subscriber. The same state check and write
   * limit as {@link send}; held behind messages being compressed like every write, after what the current batch
   * gathered; and written into the connection's per-turn cork, so all it gets during one event-loop turn leaves in
   * one writev when the turn ends (turn-cork.ts). Not while a fragmented message is being sent: frames of two
   * messages may not interleave (RFC 6455 §5.4).
   * @returns the frame's bytes; 0 when refused (write limit with policy 'refuse', or a fragmented message is open);
   * -1 when the connection no longer sends.
   */
  sendFrame(frame: Buffer): number {
    const session = this.session;
    if (session.state !== SessionState.OPEN) return -1;
    if (session.sendingFragmented !== 0) return 0;
    const pending = this.pendingBytes;
    if (pending !== 0 && frame.length > this.#writeLimit - pending) return this.refuseWrite(pending);
    if (this.compression !== null && this.heldBehindJobs(frame, null)) return frame.length;
    const stream = this.stream;
    if (stream.destroyed) return frame.length;
    this.flushBatch();
    if ((this.bits & SenderBit.TURN_CORKED) === 0) {
      this.bits |= SenderBit.TURN_CORKED;
      stream.cork();
      uncorkWhenTurnEnds(this);
    }
    this.#written += frame.length;
    this.#turnBytes += frame.length;
    stream.write(frame);
    return frame.length;
  }

  /**
   * Bytes still unsent from before the current event-loop turn: {@link pendingBytes} without the shared frames
   * written during this turn (they leave together when it ends). What a peer that does not read lets pile up; a
   * burst published in one turn does not count until the turn is over.
   */
  get backlogBytes(): number {
    const backlog = this.pendingBytes - this.#turnBytes;
    return backlog > 0 ? backlog : 0;
  }

  /** @internal The event-loop turn ended (turn-cork.ts): what was written during it leaves now. */
  uncorkTurn(): void {
    this.bits &= ~SenderBit.TURN_CORKED;
    this.#turnBytes = 0;
    this.stream.uncork();
  }

  /** @internal Starts gathering writes (a received chunk is about to be processed). */
  protected beginBatch(): void {
    this.bits |= SenderBit.BATCHING;
  }

  /** @internal Writes what was gathered since {@link beginBatch}. */
  protected endBatch(): void {
    const bits = this.bits;
    this.bits = bits & ~(SenderBit.BATCHING | SenderBit.CORKED);
    if (!this.compressing) this.flushBatch();
    if ((bits & SenderBit.CORKED) !== 0) this.stream.uncork();
  }

  /** @internal Writes the batch now (before TCP is ended, or before a write that must follow it). */
  protected flushBatch(): void {
    const batch = this.#batch;
    if (batch === null) return;
    const stream = this.stream;
    this.#batch = null;
    const out = batch.length === 1 ? batch[0]! : Buffer.concat(batch, this.#batchBytes);
    this.#batchBytes = 0;
    if (stream.destroyed) return;
    this.#written += out.length;
    stream.write(out);
  }

  /**
   * Calls `done` once every byte accepted before the call has reached the kernel (messages still being compressed
   * first), with an error when the connection ends first. Returns a function that cancels the wait.
   */
  whenFlushed(done: (error?: Error) => void): () => void {
    let active = true;
    let cleanup = (): void => {
      active = false;
    };
    const stream = this.stream;
    const onClose = (): void => finish(new ConnectionClosedError('connection closed before the writes were flushed'));
    const finish = (error?: Error): void => {
      if (!active) return;
      cleanup();
      done(error);
    };
    const waitStream = (): void => {
      if (!active) return;
      if (stream.writableLength === 0 || stream.destroyed) return finish();
      // 'drain' only follows a write that returned false; below the high-water mark, an empty write's callback
      // runs once everything queued before it reached the kernel (writes complete in order).
      const onFlushed = (error?: Error | null): void => (error ? onClose() : finish());
      cleanup = (): void => {
        active = false;
        stream.off('drain', onFlushed);
        stream.off('close', onClose);
      };
      stream.on('close', onClose);
      if (stream.writableNeedDrain) stream.on('drain', onFlushed);
      else stream.write(EMPTY, onFlushed);
    };
    const compression = this.compression;
    if (compression !== null && compression.jobs.length > 0) (compression.idleWaiters ??= []).push(waitStream);
    else waitStream();
    return () => cleanup();
  }

  // ---- compression ----

  /** @internal */
  private enqueue(compression: Compression, opcode: number, data: Buffer, fin: boolean): void {
    const jobs = compression.jobs;
    // What was gathered before this message must leave before it.
    if (jobs.length === 0) this.flushBatch();
    jobs.push({ opcode, data, fin, after: null });
    compression.jobBytes += data.length;
    if (jobs.length === 1) this.compressNext(compression);
  }

  /** @internal */
  private compressNext(compression: Compression): void {
    const job = compression.jobs[0]!;
    compression.codec.compress(job.data, job.fin, (error, out) => {
      const jobs = compression.jobs; // replaced when the queue was dropped meanwhile
      if (jobs[0] !== job) return;
      if (error !== null) return this.senderBroken(error);
      jobs.shift();
      compression.jobBytes -= job.data.length;
      this.bits |= SenderBit.RELEASING;
      // §7.2.1: the message's last compressed bytes lose the sync flush's trailer.
      this.session.writeCompressed(job.opcode, job.fin ? finishCompressed(out) : out, job.fin);
      const after = job.after;
      if (after !== null) for (let i = 0; i < after.length; i += 2) this.sessionWrite(after[i]!, after[i + 1]!);
      this.bits &= ~SenderBit.RELEASING;
      if (jobs.length > 0) this.compressNext(compression);
      else this.wakeIdle(compression);
    });
  }

  /** @internal */
  private wakeIdle(compression: Compression): void {
    const waiters = compression.idleWaiters;
    compression.idleWaiters = null;
    if (waiters !== null) for (const wake of waiters) wake();
    this.senderIdle();
  }

  /** @internal Drops the messages not yet compressed (the connection is failing); what was held behind them is written. */
  protected dropPending(): void {
    const compression = this.compression;
    if (compression === null || compression.jobs.length === 0) return;
    const jobs = compression.jobs;
    compression.jobs = [];
    compression.jobBytes = 0;
    compression.fragment = 0;
    compression.codec.abandonCompression();
    for (const job of jobs) {
      const after = job.after;
      if (after !== null) for (let i = 0; i < after.length; i += 2) this.sessionWrite(after[i]!, after[i + 1]!);
    }
    this.wakeIdle(compression);
  }

  /** @internal The connection ended: nothing more is written; flush waits are answered. */
  protected releaseSender(): void {
    this.#batch = null;
    this.#batchBytes = 0;
    const compression = this.compression;
    if (compression === null) return;
    compression.jobs = [];
    compression.jobBytes = 0;
    if (compression.idleWaiters !== null) this.wakeIdle(compression);
  }
}

// Text is measured in bytes only when compression has to compare it with the threshold.
function byteLength(data: string | Buffer): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
}
