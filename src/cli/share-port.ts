/**
 * `nopoll echo-server --share-port`: WebSocket and a line protocol on one TCP port (noPoll manual §2.2). WebSocket
 * handshakes (and, when TLS is available, TLS connections) go to the echo listener; any other client gets each
 * line it sends echoed back.
 * @packageDocumentation
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { ConnOptsLike } from '../api/conn-opts.js';
import type { Context } from '../api/context.js';
import { Listener } from '../api/listener.js';
import { sharePort } from '../api/port-sharing.js';

/** A port shared between the WebSocket echo and the line echo. */
export interface SharedEchoPort {
  server: Server;
  listener: Listener;
  port: number;
  /** Stops listening and drops the line-echo clients (WebSocket connections close with their context). */
  close(): Promise<void>;
}

// A line longer than this without a newline is not a line protocol; the client is dropped.
const MAX_LINE = 64 * 1024;

/**
 * Listens on `host:port` and routes every connection by its first bytes. `listener` defaults to a listener made
 * with `Listener.fromSocket(ctx, server, opts)`; pass one to give TLS accepts its certificate.
 */
export async function listenShared(
  ctx: Context,
  host: string,
  port: number,
  options: { opts?: ConnOptsLike; listener?: (server: Server) => Listener } = {},
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
  const shared = sharePort(server, {
    listener,
    other: (socket) => {
      lineClients.add(socket);
      socket.once('close', () => lineClients.delete(socket));
      lineEcho(socket);
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

/** Echoes back every line (`\n`-terminated) the client sends; a last unterminated line is echoed at its end. */
export function lineEcho(socket: Socket): void {
  let partial: Buffer = Buffer.alloc(0);
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    let data = partial.length > 0 ? Buffer.concat([partial, chunk]) : chunk;
    let newline: number;
    while ((newline = data.indexOf(0x0a)) >= 0) {
      socket.write(data.subarray(0, newline + 1));
      data = data.subarray(newline + 1);
    }
    partial = Buffer.from(data);
    if (partial.length > MAX_LINE) socket.destroy();
  });
  socket.on('end', () => {
    if (partial.length > 0) socket.end(partial);
    else socket.end();
  });
}
