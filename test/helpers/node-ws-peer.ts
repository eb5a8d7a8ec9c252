/**
 * A `ws` peer in its own process, always run on Node (test/integration/runtime-interop.test.ts spawns it), so that
 * nopoll running on another runtime (Bun) talks to the real `ws` package. Prints JSON lines ({@link PeerEvent}).
 *
 *   node node-ws-peer.js server                  ws echo server (permessage-deflate on); prints "listening on ws://H:P/"
 *   node node-ws-peer.js client URL client|server  sends interopMessages(), checks each echo, a ping, then closes
 *                                                (client: ws closes with 4000; server: asks the server to close 4001)
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { closeRequest, interopMessages, parseCloseRequest, whole, type PeerEvent } from './interop-messages.js';

// A safety net: the peer never outlives a stuck test by much.
const TIMEOUT_MS = 60_000;

function print(event: PeerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function bytesOf(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

function serve(): void {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: true,
    maxPayload: 64 * 1024 * 1024,
  });
  wss.on('listening', () =>
    process.stdout.write(`listening on ws://127.0.0.1:${(wss.address() as AddressInfo).port}/\n`),
  );
  wss.on('connection', (ws) => {
    print({ event: 'open', extensions: ws.extensions });
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      const request = isBinary ? null : parseCloseRequest(bytesOf(data).toString('utf8'));
      if (request !== null) ws.close(request.code, request.reason);
      else ws.send(bytesOf(data), { binary: isBinary });
    });
    ws.addEventListener('close', (e) =>
      print({ event: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean }),
    );
  });
  process.on('SIGTERM', () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => process.exit(0));
  });
}

async function client(url: string, closer: string): Promise<void> {
  const failures: string[] = [];
  const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload: 64 * 1024 * 1024 });
  const inbox: Array<{ data: Buffer; isBinary: boolean }> = [];
  let wake: (() => void) | null = null;
  ws.on('message', (data, isBinary) => {
    inbox.push({ data: bytesOf(data), isBinary });
    wake?.();
  });
  ws.on('error', (error) => failures.push(`socket error: ${error.message}`));
  const closed = new Promise<PeerEvent & { event: 'close' }>((resolve) =>
    ws.addEventListener('close', (e) =>
      resolve({ event: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean }),
    ),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = async (): Promise<{ data: Buffer; isBinary: boolean }> => {
    while (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return inbox.shift()!;
  };
  for (const message of interopMessages()) {
    message.parts.forEach((part, i) =>
      ws.send(part, { binary: message.isBinary, fin: i === message.parts.length - 1 }),
    );
    const echo = await next();
    if (echo.isBinary !== message.isBinary)
      failures.push(`${message.name}: echoed as ${echo.isBinary ? 'binary' : 'text'}`);
    if (!echo.data.equals(whole(message)))
      failures.push(`${message.name}: echo differs (${echo.data.length} bytes back)`);
  }
  const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
  ws.ping('are you there');
  if ((await pong).toString() !== 'are you there') failures.push('pong payload differs');
  if (closer === 'client') ws.close(4000, 'done from ws');
  else ws.send(closeRequest(4001, 'your turn, nopoll'));
  const end = await closed;
  print(end);
  print({ event: 'result', ok: failures.length === 0, failures, extensions: ws.extensions });
  process.exitCode = failures.length === 0 ? 0 : 1;
}

const [mode, url, closer] = process.argv.slice(2);
setTimeout(() => {
  print({ event: 'result', ok: false, failures: [`no end within ${TIMEOUT_MS} ms`], extensions: '' });
  process.exit(1);
}, TIMEOUT_MS).unref();
if (mode === 'server') serve();
else if (mode === 'client' && url !== undefined) {
  client(url, closer ?? 'client').catch((error: unknown) => {
    print({ event: 'result', ok: false, failures: [String(error)], extensions: '' });
    process.exit(1);
  });
} else {
  process.stderr.write('usage: node-ws-peer.js server | client URL client|server\n');
  process.exit(2);
}
