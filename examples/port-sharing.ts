// Manual 2.2: port sharing. One TCP port serves WebSocket and a line protocol (each line is echoed back): the
// first bytes of each connection decide (sharePort sniffs them; TLS would go to the TLS accept), and the WebSocket
// accept completes on the socket with the bytes already read (Listener.fromSocket + acceptComplete).
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { Conn, Context, Listener, sharePort } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
const ctx = new Context();
ctx.onMessage = (conn, msg) => void conn.sendText(`ws echo: ${msg.text}`);

// How the "legacy" protocol is recognised: its first line is text. Anything that is neither this, HTTP nor TLS,
// and anything silent past the sniff timeout, is closed by sharePort.
function detectLine(head: Buffer, timedOut: boolean): boolean | 'more' {
  const end = head.indexOf(0x0a);
  if ((end < 0 ? head : head.subarray(0, end)).some((byte) => byte < 0x20 && byte !== 0x0d)) return false;
  return end >= 0 ? true : timedOut ? false : 'more';
}

// The "legacy" protocol: echo each line. It receives the socket as if fresh (the sniffed bytes were put back).
// One write per chunk read (its complete lines), and no reading while the echo waits to be sent.
function echoLines(socket: Socket): void {
  socket.setTimeout(60_000, () => socket.destroy());
  let partial = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const data = partial.length > 0 ? Buffer.concat([partial, chunk]) : chunk;
    const end = data.lastIndexOf(0x0a) + 1;
    partial = Buffer.from(data.subarray(end));
    if (partial.length > 64 * 1024) return void socket.destroy();
    if (end > 0 && !socket.write(data.subarray(0, end))) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('end', () => socket.end());
}

// The server that owns the port is a plain net.Server; the WebSocket listener has no socket of its own
// (nopoll_listener_from_socket in the manual; here it also records the server's address).
const server = createServer({ noDelay: true });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const wsListener = Listener.fromSocket(ctx, server, { maxMessageSize: 1024 * 1024 });
const shared = sharePort(server, { listener: wsListener, detect: detectLine, other: echoLines });
const port = wsListener.port;

// A WebSocket client and a line client on the same port, at the same time.
const clientCtx = new Context();
const conn = await Conn.open(clientCtx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
const lines = await new Promise<string>((resolve, reject) => {
  const socket = tcpConnect(port, '127.0.0.1', () => socket.end('hello\nworld\n'));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('close', () => resolve(text));
  socket.on('error', reject);
});
conn.sendText('hello');
checkEqual((await conn.nextMsg({ timeoutMs: 5000 })).text, 'ws echo: hello', 'WebSocket echo on the shared port');
checkEqual(lines, 'hello\nworld\n', 'line echo on the shared port');
const served = [...ctx.conns];
check(
  served.length === 1 && served[0]!.listener === wsListener,
  'the WebSocket connection belongs to the shared listener',
);

// The same by hand, for full control: sniff, then acceptComplete with the bytes read.
//   const result = await sniff(socket);
//   if (result.kind === 'http') wsListener.acceptComplete(socket, result.head);
//   else if (result.kind === 'tls') wsListener.acceptComplete(socket, result.head, { tls: true });

await conn.close();
shared.close();
server.close();
await clientCtx.close();
await ctx.close();
ok('port-sharing (manual 2.2)');
