/**
 * Echo server on `nopoll/ws`: ws-echo.ts with only the import changed (here to the source of `nopoll/ws`, so that
 * the benchmark measures the tree it is run from). Its ratio to `ws` is compared with nopoll's own (the `nopoll`
 * row, the CLI echo server): the `ws` API layer should keep at least 90% of it (issue 13).
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from '../../src/ws/index.js';
import { announce, installExitHandlers, listenOptions } from './common.js';

installExitHandlers();
const { host, port } = listenOptions(process.argv.slice(2));

const server = new WebSocketServer({
  host,
  port,
  perMessageDeflate: false,
  maxPayload: 64 * 1024 * 1024,
});

server.on('connection', (socket: WebSocket) => {
  socket.on('message', (data: RawData, isBinary: boolean) => {
    // Text is echoed as text, binary as binary. With the default binaryType, `data` is one Buffer.
    socket.send(data as Buffer, { binary: isBinary });
  });
  socket.on('error', () => socket.terminate());
});

server.on('listening', () => {
  announce('ws', host, (server.address() as AddressInfo).port, 'ws API over nopoll');
});
