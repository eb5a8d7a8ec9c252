/**
 * `for await (const msg of conn)`: the pull API (`nextMsg`) as an async iterator.
 * @packageDocumentation
 */
import { ConnectionClosedError } from '../errors.js';
import type { Conn } from './conn.js';
import type { Msg } from './msg.js';

/**
 * Yields the messages of `conn` that no handler took, oldest first, until the connection has closed and every
 * queued message was yielded; then it ends. A connection whose handshake fails makes it throw that failure, and
 * so does an aborted `signal` (AbortError). Leaving the loop early (`break`) leaves the connection open.
 */
export async function* messageIterator(
  conn: Conn,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Msg, void, undefined> {
  const wait = options.signal ? { signal: options.signal } : {};
  if (conn.state === 'connecting') await conn.waitUntilReady(wait);
  for (;;) {
    let msg: Msg;
    try {
      msg = await conn.nextMsg(wait);
    } catch (error) {
      if (error instanceof ConnectionClosedError && conn.state === 'closed') return;
      throw error;
    }
    yield msg;
  }
}
