/** Opening connections: raw TCP plus a hand-made HTTP upgrade that checks only for `101`. */
import { connect, type Socket } from 'node:net';
import type { Target } from '../lib/jobs.js';
import { acceptsDeflate, DEFLATE_OFFER, isSwitchingProtocols, upgradeRequest } from './frames.js';

/** An open, upgraded connection and any bytes that arrived after the response head. */
export interface OpenConnection {
  socket: Socket;
  leftover: Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** Connects and upgrades; rejects on a refused connection, a non-101 reply or a timeout. */
export function openWebSocket(target: Target, request: Buffer, timeoutMs = 10_000, deflate = false): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    let head: Buffer | null = null;
    const fail = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error): void => fail(error);
    const onClose = (): void => fail(new Error('closed during the handshake'));
    const onConnect = (): void => {
      socket.write(request);
    };
    const onData = (chunk: Buffer): void => {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > 16_384) fail(new Error('oversized handshake response'));
        return;
      }
      if (!isSwitchingProtocols(head)) {
        fail(new Error(`handshake refused: ${head.toString('latin1', 0, head.indexOf(13)).trim()}`));
        return;
      }
      if (deflate && !acceptsDeflate(head.subarray(0, end))) {
        fail(new Error('the server did not accept permessage-deflate (is compression on?)'));
        return;
      }
      cleanup();
      resolve({ socket, leftover: head.subarray(end + 4) });
    };
    const timer = setTimeout(() => fail(new Error('handshake timed out')), timeoutMs);
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

/**
 * Plain TCP connection to the floor server, confirmed by a one-byte echo so the server has certainly accepted it
 * (a bare `connect` completes in the kernel before the server process even sees the socket).
 */
export function openTcp(target: Target, timeoutMs = 10_000): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    const fail = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error): void => fail(error);
    const onClose = (): void => fail(new Error('closed before the echo'));
    const onConnect = (): void => {
      socket.write('x');
    };
    const onData = (): void => {
      cleanup();
      resolve({ socket, leftover: Buffer.alloc(0) });
    };
    const timer = setTimeout(() => fail(new Error('echo timed out')), timeoutMs);
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

/** Opens `count` connections with at most `concurrency` handshakes under way; rejects on the first failure. */
export async function openMany(target: Target, count: number, concurrency: number, deflate = false): Promise<OpenConnection[]> {
  const request = upgradeRequest(target.host, target.port, deflate ? DEFLATE_OFFER : undefined);
  const open: OpenConnection[] = [];
  const state = { next: 0, failure: null as Error | null };
  const lane = async (): Promise<void> => {
    while (state.failure === null && state.next < count) {
      state.next++;
      try {
        open.push(target.kind === 'tcp' ? await openTcp(target) : await openWebSocket(target, request, 10_000, deflate));
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
