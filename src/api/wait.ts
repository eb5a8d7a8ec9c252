/**
 * The one wait of the API: a Promise that settles when something happens, or rejects with a TimeoutError after
 * `timeoutMs` or an AbortError when `signal` aborts, and in every case unregisters what it registered.
 * @packageDocumentation
 */
import { AbortError, TimeoutError } from '../errors.js';

/** Options of a wait. */
export interface WaitOptions {
  /** Give up after this many ms (TimeoutError). No timeout when absent or 0. */
  timeoutMs?: number;
  /** Give up when aborted (AbortError). */
  signal?: AbortSignal;
}

/**
 * Runs a wait. `start` registers it and returns its cleanup, called exactly once however the wait ends. `phase`
 * names the wait in its TimeoutError; `onTimeout`, when given, settles the wait instead of the TimeoutError (a read
 * that resolves with what it has).
 */
export function wait<T = void>(
  options: WaitOptions,
  phase: string,
  start: (resolve: (value: T) => void, reject: (error: Error) => void) => () => void,
  onTimeout?: (resolve: (value: T) => void) => void,
): Promise<T> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | null = null;
    let done = false;
    let cleanup: (() => void) | null = null;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (timer !== null) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup?.();
      return true;
    };
    const onAbort = (): void => {
      if (finish()) reject(new AbortError(undefined, { cause: signal?.reason }));
    };
    const stop = start(
      (value) => {
        if (finish()) resolve(value);
      },
      (error) => {
        if (finish()) reject(error);
      },
    );
    if (done) return stop(); // settled synchronously by start
    cleanup = stop;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => {
        if (!finish()) return;
        if (onTimeout !== undefined) onTimeout(resolve);
        else reject(new TimeoutError(phase, `${phase} did not complete within ${timeoutMs} ms`));
      }, timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
