/**
 * The stream view of a connection (`nopoll_conn_read`, manual 1.7 and 1.8): payload bytes of the data messages
 * received, in order, with frame and message boundaries gone, including the bytes of a frame that has only partly
 * arrived. A {@link ReadBuffer} holds what was received and not read yet; it stops the socket while it holds
 * {@link READ_HIGH_WATER} bytes or more, so a connection nobody reads slows its peer down through TCP.
 * @packageDocumentation
 */
import { AbortError } from '../errors.js';
import { wait } from './wait.js';

/** Options of `conn.read()`. */
export interface ReadOptions {
  /**
   * `true` (default): wait until `n` bytes are there, the connection ends, or `timeoutMs` passes. `false`: resolve at
   * once with what is there, or null when nothing is (noPoll's non-blocking read; check `conn.isOk` to tell the end).
   */
  block?: boolean;
  /** Stop waiting after this many ms and resolve with what is there (possibly nothing). No timeout when absent or 0. */
  timeoutMs?: number;
  /** Give up when aborted (AbortError); no byte is taken then. */
  signal?: AbortSignal;
}

/** Pauses and resumes the input (the connection's socket). */
export interface InputFlow {
  pause(): void;
  resume(): void;
}

/** Bytes held before the socket stops being read (1 MiB); it is read again once a read takes them below. */
export const READ_HIGH_WATER = 1024 * 1024;

type ReadWaiter = { n: number; settle: (value: Buffer | null) => void };
const EMPTY = Buffer.alloc(0);

/** Received bytes not read yet, and the reads waiting for them. */
export class ReadBuffer {
  readonly #flow: InputFlow;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #ended = false;
  #paused = false;
  #waiters: ReadWaiter[] | null = null;

  constructor(flow: InputFlow) {
    this.#flow = flow;
  }

  /** Bytes received and not read yet. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds received bytes (kept as they are: views of the socket's chunks). */
  push(data: Buffer): void {
    if (data.length === 0 || this.#ended) return;
    this.#chunks.push(data);
    this.#bytes += data.length;
    if (this.#bytes >= READ_HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.#flow.pause();
    }
    if (this.#waiters !== null) this.#wake();
  }

  /** No more bytes will come (the connection ended): waiting reads get what is left, then null. */
  end(): void {
    this.#ended = true;
    if (this.#waiters !== null) this.#wake();
  }

  /** Takes up to `n` bytes now; null when there are none. */
  take(n: number): Buffer | null {
    if (this.#bytes === 0) return null;
    const chunks = this.#chunks;
    let out: Buffer;
    const first = chunks[0]!;
    if (first.length > n) {
      out = first.subarray(0, n);
      chunks[0] = first.subarray(n);
    } else if (first.length === n || chunks.length === 1) {
      out = first;
      chunks.shift();
    } else {
      const parts: Buffer[] = [];
      let size = 0;
      while (size < n && chunks.length > 0) {
        const chunk = chunks[0]!;
        const want = n - size;
        if (chunk.length > want) {
          parts.push(chunk.subarray(0, want));
          chunks[0] = chunk.subarray(want);
          size += want;
        } else {
          parts.push(chunk);
          chunks.shift();
          size += chunk.length;
        }
      }
      out = Buffer.concat(parts, size);
    }
    this.#bytes -= out.length;
    if (this.#paused && this.#bytes < READ_HIGH_WATER) {
      this.#paused = false;
      this.#flow.resume();
    }
    return out;
  }

  /**
   * Up to `n` bytes: at once when `n` are there or the input ended; otherwise when they arrive, the input ends, or
   * the timeout passes (with what is there then, possibly an empty Buffer). null once the input ended and every byte
   * was read.
   */
  read(n: number, options: ReadOptions): Promise<Buffer | null> {
    if (options.signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: options.signal.reason }));
    if (options.block === false) return Promise.resolve(this.take(n));
    if (this.#bytes >= n || this.#ended) return Promise.resolve(this.#takeOrEnd(n));
    return wait<Buffer | null>(
      options,
      'read',
      (settle) => {
        const waiter: ReadWaiter = { n, settle };
        (this.#waiters ??= []).push(waiter);
        return () => {
          const list = this.#waiters;
          const at = list === null ? -1 : list.indexOf(waiter);
          if (at >= 0) list!.splice(at, 1);
        };
      },
      // Out of time: what is there, possibly nothing.
      (settle) => settle(this.#takeOrEnd(n) ?? EMPTY),
    );
  }

  #takeOrEnd(n: number): Buffer | null {
    const out = this.take(n);
    if (out !== null) return out;
    return this.#ended ? null : EMPTY;
  }

  #wake(): void {
    const waiters = this.#waiters!;
    while (waiters.length > 0 && (this.#bytes >= waiters[0]!.n || this.#ended)) {
      const waiter = waiters[0]!;
      waiter.settle(this.#takeOrEnd(waiter.n)); // settle removes it
    }
  }
}
