/**
 * What the Redis backplane needs of a Redis client: the part of node-redis (`redis` on npm, v4 and v5) it uses,
 * described structurally so the core imports no package. The user creates and owns the client; the backplane
 * only adds an `'error'` listener (an unhandled `'error'` event would end the process) and, for receiving, makes
 * and closes its own `duplicate()`.
 * @packageDocumentation
 */

/** A RESP reply as node-redis returns it (bulk strings as Buffers when asked). */
export type RedisReply = string | number | Buffer | null | RedisReply[];

/** Called by node-redis for each message of a channel (buffer mode). */
export type ChannelListener = (message: Buffer, channel: Buffer) => void;

/** The node-redis client methods the backplane calls (v4 and v5 share them). */
export interface RedisClientLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  duplicate(): RedisClientLike;
  sendCommand(args: Array<string | Buffer>, options?: object): Promise<unknown>;
  subscribe(channel: string, listener: ChannelListener, bufferMode: true): Promise<unknown>;
  unsubscribe(channel: string, listener?: ChannelListener, bufferMode?: true): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off?(event: string, listener: (...args: never[]) => void): unknown;
  removeListener?(event: string, listener: (...args: never[]) => void): unknown;
  /** v5 */
  close?(): Promise<unknown>;
  /** v4 (deprecated in v5) */
  quit?(): Promise<unknown>;
  /** v5 */
  destroy?(): unknown;
  /** v4 */
  disconnect?(): Promise<unknown>;
}

// Bulk strings as Buffers: v4's option, and v5's type mapping (RESP type 36, '$').
const BUFFER_REPLIES = { returnBuffers: true, typeMapping: { 36: Buffer } };

/** Runs a command; with `buffers`, bulk strings come back as Buffers (binary-safe payloads). */
export function command(client: RedisClientLike, args: Array<string | Buffer>, buffers = false): Promise<RedisReply> {
  return client.sendCommand(args, buffers ? BUFFER_REPLIES : undefined) as Promise<RedisReply>;
}

/** Removes a listener added with `on` (v4 and v5 are EventEmitters). */
export function removeListener(client: RedisClientLike, event: string, listener: (...args: never[]) => void): void {
  if (typeof client.off === 'function') client.off(event, listener);
  else client.removeListener?.(event, listener);
}

/** Closes a client the backplane made: politely when it is connected, at once otherwise. */
export async function closeClient(client: RedisClientLike): Promise<void> {
  if (!client.isOpen) return;
  try {
    if (client.isReady && typeof client.close === 'function') await client.close();
    else if (client.isReady && typeof client.quit === 'function') await client.quit();
    else if (typeof client.destroy === 'function') client.destroy();
    else await client.disconnect?.();
  } catch {
    if (typeof client.destroy === 'function') client.destroy();
    else await client.disconnect?.().catch(() => undefined);
  }
}

/** A reply as text (a Buffer decoded as UTF-8, a number written out); null stays null. */
export function text(reply: RedisReply | undefined): string | null {
  if (reply === null || reply === undefined) return null;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'string') return reply;
  if (typeof reply === 'number') return String(reply);
  return null;
}

/** A reply as an integer (0 when absent or not a number). */
export function integer(reply: RedisReply | undefined): number {
  const value = typeof reply === 'number' ? reply : Number(text(reply) ?? 0);
  return Number.isSafeInteger(value) ? value : 0;
}
