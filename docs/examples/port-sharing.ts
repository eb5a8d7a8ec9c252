// Guide §2.2: one TCP port for WebSocket and another protocol.
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { Conn, Context, Listener } from '../../src/index.js';

const ctx = new Context();
ctx.onMessage = (conn, msg) => {
  conn.sendText(`ws echo: ${msg.text}`);
};

// A listener with no listening socket of its own (the role of
// nopoll_listener_from_socket in noPoll's manual). Its options apply to every
// connection handed over to it.
const wsListener = Listener.detached(ctx, { maxMessageSize: 1024 * 1024 });

// The other protocol: here, a line-based one that answers "PONG" to "PING".
function legacy(socket: Socket, head: Buffer): void {
  const onData = (chunk: Buffer): void => {
    if (chunk.toString('latin1').startsWith('PING')) socket.end('PONG\n');
  };
  socket.on('data', onData);
  onData(head);
}

// Reads until 3 bytes are in, then decides. The bytes read so far go along with
// the socket, so neither handler misses them.
function sniff(socket: Socket): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    if (head.length < 3) return;
    socket.off('data', onData);
    if (head.subarray(0, 3).toString('latin1') === 'GET') {
      wsListener.acceptSocket(socket, head); // runs the WebSocket server handshake
    } else {
      legacy(socket, head);
    }
  };
  socket.on('data', onData);
}

const server = createServer({ noDelay: true }, sniff);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };

// A WebSocket client and a plain TCP client on the same port.
const clientCtx = new Context();
const conn = await Conn.open(clientCtx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
conn.sendText('hello');
console.log((await conn.nextMsg({ timeoutMs: 5000 })).text); // "ws echo: hello"
await conn.close();

const plain = tcpConnect(port, '127.0.0.1', () => plain.write('PING\n'));
plain.on('data', (data) => console.log(`legacy: ${data.toString().trim()}`)); // "legacy: PONG"
await new Promise((resolve) => plain.on('close', resolve));

server.close();
await clientCtx.close();
await ctx.close();
