/**
 * `nopoll echo-server --share-port`: WebSocket and a line protocol on one TCP port (noPoll manual §2.2). WebSocket
 * handshakes (and, when TLS is available, TLS connections) go to the echo listener; a client whose first line is
 * text gets each line it sends echoed back; anything else is closed once the sniff time is up.
 * @packageDocumentation
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Listener, sharePort, type ConnOptsLike, type Context } from '../index.js';

/** A port shared between the WebSocket echo and the line echo. */
export interface SharedEchoPort {
  server: Server;
  listener: Listener;
  port: number;
  /** Stops listening and drops the line-echo clients (WebSocket connections close with their context). */
  close(): Promise<void>;
}

/** Limits of the line echo. */
export interface LineEchoOptions {
  /** Close a client after this long without a byte read or written (default 60 000 ms; 0: never). */
  idleTimeoutMs?: number;
  /** Stop reading while more than this many echoed bytes are unsent (default 64 KiB). */
  maxPendingWriteBytes?: number;
  /** Close a client whose line grows past this many bytes without a newline (default 64 KiB). */
  maxLineBytes?: number;
}

/** The line echo's defaults (see {@link LineEchoOptions}). */
export const LINE_ECHO_DEFAULTS: Readonly<Required<LineEchoOptions>> = {
  idleTimeoutMs: 60_000,
  maxPendingWriteBytes: 64 * 1024,
  maxLineBytes: 64 * 1024,
};

/**
 * Listens on `host:port` and routes every connection by its first bytes. `listener` defaults to a listener made
 * with `Listener.fromSocket(ctx, server, opts)`; pass one to give TLS accepts its certificate.
 */
export async function listenShared(
  ctx: Context,
  host: string,
  port: number,
  options: {
    opts?: ConnOptsLike;
    listener?: (server: Server) => Listener;
    sniffTimeoutMs?: number;
    lineEcho?: LineEchoOptions;
  } = {},
): Promise<SharedEchoPort> {
  const server = createServer({ noDelay: true });
  const lineClients = new Set<Socket>();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      server.on('error', (error) => ctx.log('critical', `shared port ${host}:${port}: ${error.message}`));
      resolve();
    });
  });
  const listener = options.listener ? options.listener(server) : Listener.fromSocket(ctx, server, options.opts);
  const lineOptions = { ...LINE_ECHO_DEFAULTS, ...options.lineEcho };
  const shared = sharePort(server, {
    listener,
    ...(options.sniffTimeoutMs !== undefined ? { sniffTimeoutMs: options.sniffTimeoutMs } : {}),
    detect: detectTextLine,
    other: (socket) => {
      lineClients.add(socket);
      socket.once('close', () => lineClients.delete(socket));
      lineEcho(socket, lineOptions);
    },
  });
  const address = server.address();
  return {
    server,
    listener,
    port: typeof address === 'object' && address !== null ? address.port : port,
    close: async () => {
      shared.close();
      for (const socket of lineClients) socket.destroy();
      // As Listener.close: stop accepting without waiting for the connections already handed over.
      server.close();
      await listener.close();
    },
  };
}

/**
 * The line protocol's detector: a connection is a line client once its first line is complete (a newline came)
 * and holds only text (no control byte but tab and CR). It waits for more while the bytes are text without a
 * newline, and refuses a control byte, silence and a first line not finished within the sniff time.
 */
export function detectTextLine(head: Buffer, timedOut: boolean): boolean | 'more' {
  for (let i = 0; i < head.length; i++) {
    const byte = head[i]!;
    if (byte === 0x0a) return true;
    if ((byte < 0x20 && byte !== 0x09 && byte !== 0x0d) || byte === 0x7f) return false;
  }
  return timedOut ? false : 'more';
}

/**
 * Echoes back every line (`\n`-terminated) the client sends; a last unterminated line is echoed at its end. One
 * write per chunk read (all the complete lines in it), never one per line, and reading stops while more than
 * `maxPendingWriteBytes` are unsent: memory follows what the client reads back, not how many lines it sends.
 */
export function lineEcho(socket: Socket, options: LineEchoOptions = {}): void {
  const { idleTimeoutMs, maxPendingWriteBytes, maxLineBytes } = { ...LINE_ECHO_DEFAULTS, ...options };
  // The unterminated end of the last chunk(s), kept until its newline comes.
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let paused = false;
  // Each write's callback: once the unsent bytes are down to half the limit, read again.
  const written = (): void => {
    if (paused && socket.writableLength <= maxPendingWriteBytes / 2) {
      paused = false;
      socket.resume();
    }
  };
  socket.on('error', () => undefined);
  if (idleTimeoutMs > 0) {
    socket.setTimeout(idleTimeoutMs);
    socket.on('timeout', () => socket.destroy());
  }
  socket.on('data', (chunk: Buffer) => {
    const last = chunk.lastIndexOf(0x0a);
    if (last < 0) {
      partialBytes += chunk.length;
      if (partialBytes > maxLineBytes) return void socket.destroy();
      partial.push(Buffer.from(chunk));
      return;
    }
    const lines = chunk.subarray(0, last + 1);
    socket.write(partialBytes > 0 ? Buffer.concat([...partial, lines]) : lines, written);
    // Copied: the tail must not keep the whole chunk alive.
    const tail = chunk.subarray(last + 1);
    partial = tail.length > 0 ? [Buffer.from(tail)] : [];
    partialBytes = tail.length;
    if (partialBytes > maxLineBytes) return void socket.destroy();
    if (socket.writableLength > maxPendingWriteBytes) {
      paused = true;
      socket.pause();
    }
  });
  socket.on('end', () => {
    if (partialBytes > 0) socket.end(Buffer.concat(partial));
    else socket.end();
  });
}
