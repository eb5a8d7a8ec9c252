/**
 * The baseline of the pub/sub scenarios: ws's README broadcast ("Server broadcast", to every other client), with
 * bufferutil. Every message a client sends goes, with its type, to every other open client of the server:
 *
 *     wss.clients.forEach((client) => {
 *       if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
 *     });
 *
 * One server is one "topic" (the request path is ignored). Prints the ready line; exits on SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { announce, installExitHandlers, listenOptions } from './common.js';

installExitHandlers();
const { host, port } = listenOptions(process.argv.slice(2));
const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });

wss.on('connection', (ws: WebSocket) => {
  ws.on('error', () => ws.terminate());
  ws.on('message', (data: RawData, isBinary: boolean) => {
    wss.clients.forEach((client) => {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
  });
});

wss.on('listening', () => announce('ws', host, (wss.address() as AddressInfo).port, 'ws README broadcast loop'));
