/**
 * Two in-memory `Duplex` streams joined back to back: what one writes, the other reads, with backpressure (a write
 * completes only once the other side has room), ends (end() on one side ends the other's readable side) and
 * destruction (destroying one closes both). The transport runs over these as over a socket.
 */
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  #pendingWrite: (() => void) | null = null;

  constructor(highWaterMark: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.peer.destroyed) return callback(new Error('the other end is gone'));
    if (this.peer.push(chunk)) callback();
    else this.#pendingWrite = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.push(null);
    callback();
  }

  override _read(): void {
    const pending = this.peer.#pendingWrite;
    this.peer.#pendingWrite = null;
    pending?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    pending?.();
    if (!this.peer.destroyed) this.peer.destroy();
    callback(error);
  }
}

/** A joined pair; `highWaterMark` bounds what each side buffers (default 16 KiB). */
export function duplexPair(highWaterMark = 16 * 1024): [Duplex, Duplex] {
  const a = new End(highWaterMark);
  const b = new End(highWaterMark);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
