/**
 * Echo server on `ws`, the baseline. Run with WS_NO_BUFFER_UTIL=1 for the row without bufferutil (ws's
 * lib/buffer-util.js reads that variable when it loads and then keeps its JavaScript mask/unmask). The ready line
 * says which masking code ws actually loaded, so a missing native build cannot pass unnoticed.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { announce, installExitHandlers, listenOptions } from './common.js';

installExitHandlers();
const { host, port } = listenOptions(process.argv.slice(2));
// `--deflate` turns permessage-deflate on with ws's defaults (threshold 1024, zlib's default level);
// `--deflate-level N` sets the zlib level, to compare with nopoll at the same level.
const argv = process.argv.slice(2);
const deflate = argv.includes('--deflate');
const levelAt = argv.indexOf('--deflate-level');
const level = levelAt >= 0 ? Number(argv[levelAt + 1]) : undefined;

const server = new WebSocketServer({
  host,
  port,
  perMessageDeflate: deflate ? (level === undefined ? true : { zlibDeflateOptions: { level } }) : false,
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
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  const bufferutil = loaded.some((k) => k.includes('/bufferutil/') && k.endsWith('.node'))
    ? 'bufferutil native'
    : loaded.some((k) => k.includes('/bufferutil/'))
      ? 'bufferutil JS fallback'
      : 'no bufferutil';
  announce(
    'ws',
    host,
    (server.address() as AddressInfo).port,
    deflate ? `${bufferutil}, deflate level ${level ?? 'default'}` : bufferutil,
  );
});
