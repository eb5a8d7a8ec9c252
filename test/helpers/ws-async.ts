/**
 * Small async utilities shared by the integration tests: bounded waits and a queue of values that arrive as events.
 */

/** Rejects with `Error("<what> timed out after N ms")` unless `promise` settles first. The timer is always cleared. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Values pushed by event handlers, taken in order by tests. `next` waits (bounded) when none is queued. */
export class AsyncQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(value: T) => void> = [];

  /** Adds a value (wakes the oldest waiter, if any). */
  push(value: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(value);
    else this.#items.push(value);
  }

  /** Number of values queued and not taken. */
  get size(): number {
    return this.#items.length;
  }

  /** Takes the next value, waiting at most `timeoutMs`. */
  next(timeoutMs = 5000, what = 'queue.next'): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift() as T);
    let take!: (value: T) => void;
    const waiting = new Promise<T>((resolve) => {
      take = resolve;
      this.#waiters.push(take);
    });
    return withTimeout(waiting, timeoutMs, what).catch((error: unknown) => {
      const at = this.#waiters.indexOf(take);
      if (at >= 0) this.#waiters.splice(at, 1);
      throw error;
    });
  }
}
