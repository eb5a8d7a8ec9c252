/**
 * The backpressure signal of a connection (docs/client.md): `conn.needsDrain` says a send left the unsent bytes at
 * or past the socket's high-water mark, as `false` from Node's `writable.write()` does; `onDrain` and `drained()`
 * say when the queue has emptied again. Created only once a connection uses `onDrain` or `drained()`, so others
 * carry nothing. The sources: the socket's `'drain'` (it follows a write that went past the mark, once every byte
 * is out), and with permessage-deflate, compression catching up on the messages waiting for it.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';

/** @internal What the watch reads from its connection. */
export interface DrainHost {
  /** The socket carrying the session, once open. */
  readonly drainSocket: Socket | null;
  /** Unsent bytes: the socket's plus those of messages waiting for compression. */
  readonly pendingWriteBytes: number;
  /** Resolves when no message waits for compression; null when none does. */
  compressionIdle(): Promise<void> | null;
  /** The queue emptied after a send had gone past the mark: call `onDrain`. */
  drainEmptied(): void;
}

type Waiter = { resolve: () => void; reject: (error: Error) => void };

const EMPTY = Buffer.alloc(0);

/** @internal Turns the socket's and the compressor's progress into one "emptied" notification. */
export class DrainWatch {
  readonly #host: DrainHost;
  #socket: Socket | null = null;
  #waiters: Waiter[] = [];
  // A send went past the mark and the queue has not emptied since: the next emptying is reported.
  #over = false;
  #watchingIdle = false;
  #watchingFlush = false;
  // 'drain' follows a write that went past the mark: that write is the one reported.
  readonly #onDrain = (): void => {
    this.#over = true;
    this.#check();
  };

  constructor(host: DrainHost) {
    this.#host = host;
    this.attach();
  }

  /** Follows the host's current socket (called again once the session started). */
  attach(): void {
    const socket = this.#host.drainSocket;
    if (socket === this.#socket) return;
    this.#socket?.off('drain', this.#onDrain);
    this.#socket = socket;
    socket?.on('drain', this.#onDrain);
  }

  /** A send (or a `needsDrain` read) found the queue at or past the mark. */
  over(): void {
    this.#over = true;
    this.#check();
  }

  /** Waits for the next emptying. */
  wait(waiter: Waiter): () => void {
    this.#over = true;
    this.#waiters.push(waiter);
    this.#check();
    return () => {
      const at = this.#waiters.indexOf(waiter);
      if (at >= 0) this.#waiters.splice(at, 1);
    };
  }

  /** The connection ended: waits fail with `error`; the socket is let go. */
  closed(error: Error): void {
    this.#socket?.off('drain', this.#onDrain);
    this.#socket = null;
    this.#over = false;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  // Reports the emptying once nothing is unsent; otherwise waits for what will change that: compression finishing,
  // the socket's 'drain' (when a write went past the mark), or an empty write's callback (which runs after every
  // byte queued before it is out, when the bytes left are below the mark and no 'drain' will come).
  #check(): void {
    if (!this.#over) return;
    const socket = this.#socket;
    if (socket === null || socket.destroyed) return;
    const idle = this.#host.compressionIdle();
    if (idle !== null) {
      if (!this.#watchingIdle) {
        this.#watchingIdle = true;
        void idle.then(() => {
          this.#watchingIdle = false;
          this.#check();
        });
      }
      return;
    }
    if (this.#host.pendingWriteBytes === 0) {
      this.#over = false;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
      this.#host.drainEmptied();
      return;
    }
    if (socket.writableNeedDrain || this.#watchingFlush) return;
    this.#watchingFlush = true;
    socket.write(EMPTY, () => {
      this.#watchingFlush = false;
      this.#check();
    });
  }
}
