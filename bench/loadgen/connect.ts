/** Opening connections: raw TCP plus a hand-made HTTP upgrade that checks only for `101`. */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Target } from '../lib/jobs.js';
import { acceptsDeflate, DEFLATE_OFFER, isSwitchingProtocols, upgradeRequest } from './frames.js';
import { openH2Many } from './h2.js';

/** An open, upgraded connection (a TCP socket, or an HTTP/2 stream) and any bytes that arrived after the response head. */
export interface OpenConnection {
  socket: Duplex;
  leftover: Buffer;
  /**
   * Opened with `sharedReads`: the bytes read after the upgrade go here instead of to 'data' (a view of the load
   * generator's one read buffer, valid only during the call). Null drops them.
   */
  onBytes: ((bytes: Buffer) => void) | null;
}

// One read buffer for every socket of the load generator opened with `sharedReads` (Node's documented `onread`):
// no allocation per read, and the kernel copies into memory that stays in cache. Readers keep nothing of it.
const SHARED_READ_BYTES = 256 * 1024;
let sharedReadBuffer: Buffer | null = null;

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Connects, writes `greeting` and hands every reply chunk to `onReply` until it answers: null to wait for more, the
 * leftover bytes to resolve with the connection, or an Error to reject (the socket is destroyed). A refused
 * connection, an early close or `timeoutMs` also reject.
 */
function openAndGreet(
  target: Target,
  greeting: Buffer | string,
  timeoutMs: number,
  onReply: (chunk: Buffer) => Buffer | Error | null,
  sharedReads = false,
): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    let greeted = false;
    const connection: OpenConnection = { socket: null as unknown as Duplex, leftover: Buffer.alloc(0), onBytes: null };
    const onread = {
      buffer: (sharedReadBuffer ??= Buffer.allocUnsafe(SHARED_READ_BYTES)),
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        const view = (buffer as Buffer).subarray(0, bytes);
        // The reply head is kept across reads: copied; after it, the reader consumes the view at once.
        if (!greeted) onData(Buffer.from(view));
        else connection.onBytes?.(view);
        return true;
      },
    };
    const socket = connect({ host: target.host, port: target.port, noDelay: true, ...(sharedReads ? { onread } : {}) });
    connection.socket = socket;
    const fail = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error): void => fail(error);
    const onClose = (): void => fail(new Error('closed before the reply'));
    const onConnect = (): void => {
      socket.write(greeting);
    };
    const onData = (chunk: Buffer): void => {
      const outcome = onReply(chunk);
      if (outcome === null) return;
      if (outcome instanceof Error) return fail(outcome);
      cleanup();
      greeted = true;
      connection.leftover = outcome;
      resolve(connection);
    };
    const timer = setTimeout(() => fail(new Error('no reply in time')), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    socket.on('connect', onConnect);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

/** Connects and upgrades; rejects on a refused connection, a non-101 reply or a timeout. */
export function openWebSocket(
  target: Target,
  request: Buffer,
  timeoutMs = 10_000,
  deflate = false,
  sharedReads = false,
): Promise<OpenConnection> {
  let head: Buffer | null = null;
  return openAndGreet(
    target,
    request,
    timeoutMs,
    (chunk) => {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) return head.length > 16_384 ? new Error('oversized handshake response') : null;
      if (!isSwitchingProtocols(head))
        return new Error(`handshake refused: ${head.toString('latin1', 0, head.indexOf(13)).trim()}`);
      if (deflate && !acceptsDeflate(head.subarray(0, end))) {
        return new Error('the server did not accept permessage-deflate (is compression on?)');
      }
      return head.subarray(end + 4);
    },
    sharedReads,
  );
}

/**
 * Plain TCP connection to the floor server, confirmed by a one-byte echo so the server has certainly accepted it
 * (a bare `connect` completes in the kernel before the server process even sees the socket).
 */
export function openTcp(target: Target, timeoutMs = 10_000): Promise<OpenConnection> {
  return openAndGreet(target, 'x', timeoutMs, () => Buffer.alloc(0));
}

/**
 * Opens `count` connections with at most `concurrency` handshakes under way; rejects on the first failure.
 * `sharedReads` (TCP only): after the upgrade, bytes go to each connection's `onBytes` from one shared read buffer.
 */
export async function openMany(
  target: Target,
  count: number,
  concurrency: number,
  deflate = false,
  path = '/',
  sharedReads = false,
): Promise<OpenConnection[]> {
  if (target.transport === 'h2c') return openH2Many(target, count, concurrency, deflate);
  const request = upgradeRequest(target.host, target.port, deflate ? DEFLATE_OFFER : undefined, path);
  const open: OpenConnection[] = [];
  const state = { next: 0, failure: null as Error | null };
  const lane = async (): Promise<void> => {
    while (state.failure === null && state.next < count) {
      state.next++;
      try {
        open.push(
          target.kind === 'tcp'
            ? await openTcp(target)
            : await openWebSocket(target, request, 10_000, deflate, sharedReads),
        );
      } catch (error) {
        state.failure ??= error instanceof Error ? error : new Error(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (state.failure !== null) {
    for (const c of open) c.socket.destroy();
    throw new Error(`opened ${open.length} of ${count} connections, then: ${state.failure.message}`);
  }
  return open;
}

/** Destroys every socket and waits (bounded) until they are all closed. */
export async function closeAll(connections: readonly OpenConnection[], timeoutMs = 5_000): Promise<void> {
  await Promise.race([
    Promise.all(
      connections.map(
        ({ socket }) =>
          new Promise<void>((resolve) => {
            if (socket.destroyed && socket.closed) resolve();
            else {
              socket.once('close', () => resolve());
              socket.destroy();
            }
          }),
      ),
    ),
    new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
  ]);
}
