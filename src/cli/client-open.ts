/**
 * Opening the client connection of `echo-client` and `connect`: a URL or option the library refuses (`TypeError`,
 * `RangeError`: a bad header, subprotocol, port...) is a usage mistake (exit 2); anything else that stops the
 * connection (refused, TLS, proxy, handshake, timeout) exits 1 with the reason.
 * @packageDocumentation
 */
import { Conn, type ConnOptsInit, type Context } from '../index.js';
import { failure, usageError } from './args.js';
import { escapeText } from './terminal-text.js';

function fail(error: unknown, url: string): never {
  const message = error instanceof Error ? error.message : String(error);
  // A server's answer may be quoted in the reason: escaped before it reaches the terminal.
  if ((error as { code?: unknown }).code === 'ERR_INVALID_URL')
    usageError(`invalid URL ${escapeText(JSON.stringify(url))}`);
  if (error instanceof TypeError || error instanceof RangeError) usageError(escapeText(message));
  failure(escapeText(message));
}

/**
 * The open connection, or the process ends with the reason. `prepare` runs before the handshake completes, so
 * handlers it sets see everything the server sends, even what comes in the same packet as its 101.
 */
export async function openClient(
  ctx: Context,
  url: string,
  options: ConnOptsInit,
  prepare?: (conn: Conn) => void,
): Promise<Conn> {
  let conn: Conn;
  try {
    conn = Conn.connect(ctx, url, options);
  } catch (error) {
    fail(error, url);
  }
  prepare?.(conn);
  try {
    return await conn.waitUntilReady();
  } catch (error) {
    conn.shutdown();
    fail(error, url);
  }
}
