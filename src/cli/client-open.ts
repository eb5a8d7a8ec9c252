/**
 * Opening the client connection of `echo-client` and `connect`: a URL or option the library refuses (`TypeError`,
 * `RangeError`: a bad header, subprotocol, port...) is a usage mistake (exit 2); anything else that stops the
 * connection (refused, TLS, proxy, handshake, timeout) exits 1 with the reason.
 * @packageDocumentation
 */
import { Conn, type ConnOptsInit, type Context } from '../index.js';
import { failure, usageError } from './args.js';
import { escapeText } from './terminal-text.js';

/** The open connection, or the process ends with the reason. */
export async function openClient(ctx: Context, url: string, options: ConnOptsInit): Promise<Conn> {
  try {
    return await Conn.open(ctx, url, options);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // A server's answer may be quoted in the reason: escaped before it reaches the terminal.
    if (error instanceof TypeError || error instanceof RangeError) usageError(escapeText(message));
    failure(escapeText(message));
  }
}
