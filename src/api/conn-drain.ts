/**
 * The backpressure signal's one wait (docs/client.md): "the queue has emptied", for `conn.drained()` and
 * `conn.onDrain`. It waits, through the transport's flush wait (compression first, then the stream), for what is
 * pending to reach the kernel, and again while sends keep adding to it, until nothing is left.
 * @packageDocumentation
 */
import type { Transport } from '../transport/transport.js';

/**
 * @internal Calls `done` once nothing is left unsent, or with the error when the connection ends first. Returns a
 * function that cancels the wait.
 */
export function untilEmpty(transport: Transport, done: (error?: Error) => void): () => void {
  let cancel = (): void => undefined;
  const onFlushed = (error?: Error): void => {
    if (error !== undefined || transport.pendingBytes === 0) return done(error);
    cancel = transport.whenFlushed(onFlushed);
  };
  const first = transport.whenFlushed(onFlushed);
  return () => {
    first();
    cancel();
  };
}
