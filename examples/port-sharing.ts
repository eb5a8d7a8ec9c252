// Manual 2.2: port sharing. One TCP port serves WebSocket and a line protocol (each line is echoed back): the
// first bytes of each connection decide (sharePort sniffs them; TLS would go to the TLS accept), and the WebSocket
// accept completes on the socket with the bytes already read (Listener.fromSocket + acceptComplete).
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { Conn, Context, Listener, sharePort } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
const ctx = new Context();
ctx.onMessage = (conn, msg) => void conn.sendText(`ws echo: ${msg.text}`);

// The "legacy" protocol: echo each line. It receives the socket as if fresh (the sniffed bytes were put back).
function echoLines(socket: Socket): void {
  let partial = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    partial += chunk;
    let at: number;
    while ((at = partial.indexOf('\n')) >= 0) {
      socket.write(partial.slice(0, at + 1));
      partial = partial.slice(at + 1);
    }
  });
  socket.on('end', () => socket.end());
}

// The server that owns the port is a plain net.Server; the WebSocket listener has no socket of its own
// (nopoll_listener_from_socket in the manual; here it also records the server's address).
const server = createServer({ noDelay: true });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const wsListener = Listener.fromSocket(ctx, server, { maxMessageSize: 1024 * 1024 });
const shared = sharePort(server, { listener: wsListener, other: echoLines });
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
check(served.length === 1 && served[0]!.listener === wsListener, 'the WebSocket connection belongs to the shared listener');

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
