// nopoll/sansio: a WebSocket echo server on a raw `net` socket, with nothing of nopoll but its protocol core. The
// handshake is parsed and checked by the core, the 101 is built by it, and one Session per connection turns bytes
// into messages and messages into bytes; this file only moves bytes between the socket and the core. The client is
// nopoll's own (a different code path), which checks the echoes and a clean closing handshake.
import { createServer, type Socket } from 'node:net';
import {
  buildAcceptResponse,
  buildRejectResponse,
  checkClientRequest,
  HttpHeadParser,
  Opcode,
  Session,
  type RequestHead,
  type SessionHandler,
} from '../src/sansio.js';
import { Conn, Context } from '../src/index.js';
import { checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);

// One connection after the handshake: the session's outputs go to the socket or back into the session.
function serve(socket: Socket, rest: Buffer): void {
  const handler: SessionHandler = {
    // Every byte the session wants sent: echoes, pongs, close frames. `second` (a large payload) follows `first`.
    sessionWrite(first, second) {
      socket.write(first);
      if (second !== null) socket.write(second);
    },
    sessionMessage(opcode, payload) {
      session.sendData(opcode, opcode === Opcode.TEXT ? payload.toString('utf8') : payload);
    },
    sessionPing() {}, // the pong was queued by the session (RFC 6455 §5.5.2)
    sessionPong() {},
    sessionClose() {
      socket.end(); // the server ends TCP first once close frames crossed (§7.1.1)
    },
    sessionError(error) {
      console.log(`sansio server: failing the connection: ${error.message} (close code ${error.closeCode})`);
      socket.end();
    },
  };
  const session = new Session(handler, { role: 'server', maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20 });
  socket.on('data', (chunk: Buffer) => session.receive(chunk));
  if (rest.length > 0) session.receive(rest);
}

const server = createServer((socket) => {
  socket.on('error', () => socket.destroy());
  const parser = new HttpHeadParser('request', { maxHeadBytes: 16 * 1024, maxHeaderCount: 100 });
  const onHead = (chunk: Buffer): void => {
    const parsed = parser.push(chunk);
    if (parsed.kind === 'incomplete') return;
    socket.off('data', onHead);
    if (parsed.kind === 'error') return void socket.end(buildRejectResponse(parsed.status, parsed.message));
    const checked = checkClientRequest(parsed.head as RequestHead);
    if (!checked.ok) return void socket.end(buildRejectResponse(checked.status, checked.message, checked.headers));
    socket.write(buildAcceptResponse(checked.request.key, { protocol: null, extensions: null }));
    serve(socket, parsed.rest);
  };
  socket.on('data', onHead);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as { port: number }).port;

const ctx = new Context();
const conn = await Conn.open(ctx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000, perMessageDeflate: false });
conn.sendText('hello from nopoll');
checkEqual((await conn.nextMsg({ timeoutMs: 5000 })).text, 'hello from nopoll', 'text echo');
const big = Buffer.alloc(100_000, 7);
conn.sendBinary(big);
checkEqual((await conn.nextMsg({ timeoutMs: 5000 })).payload.equals(big), true, 'binary echo of 100 kB');
conn.sendTextFragment('in ');
conn.sendTextFragment('three ');
conn.sendText('parts');
checkEqual(
  (await conn.nextMsg({ timeoutMs: 5000 })).text,
  'in three parts',
  'a fragmented message, reassembled by the core',
);
const info = await conn.close(1000, 'bye');
checkEqual(info.wasClean, true, 'clean closing handshake');
await ctx.close();
server.close();
ok('a sans-I/O server on a raw socket echoed text, binary and fragments, and closed cleanly');
