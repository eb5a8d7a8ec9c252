// Guide: the connection handlers.
import { Conn, Context, Listener } from '../../src/index.js';

const serverCtx = new Context();

// After the TCP accept, before any handshake byte is read. false drops the socket.
serverCtx.onAccept = (conn) => {
  console.log(`accept from ${conn.host}:${conn.port}`);
  return true;
};

// A valid request arrived; the 101 answer is not sent yet. false answers 403.
// This is where to look at the request and choose the subprotocol.
serverCtx.onOpen = (conn) => {
  if (conn.origin === 'http://deny.example') return false;
  if (conn.requestedProtocols.includes('chat.v2')) conn.acceptedProtocol = 'chat.v2';
  console.log(`open: ${conn.requestedUrl}, Host ${conn.hostHeader}, cookie ${conn.cookie}`);
  return true;
};

// The handshake is complete (both sides). May return a Promise; false closes.
serverCtx.onReady = async (conn) => {
  conn.sendText(`welcome, you speak ${conn.acceptedProtocol}`);
};

serverCtx.onMessage = (conn, msg) => {
  conn.sendText(msg.text.toUpperCase());
};

serverCtx.onClose = (conn, info) => {
  console.log(`server: connection ${conn.id} closed with ${info.code}`);
};

const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });

const ctx = new Context();
const conn = await Conn.open(ctx, `ws://127.0.0.1:${listener.port}/room/7`, {
  protocols: ['chat.v1', 'chat.v2'],
  cookie: 'session=abc',
  timeoutMs: 5000,
});
console.log((await conn.nextMsg({ timeoutMs: 5000 })).text); // "welcome, you speak chat.v2"

// Per-connection handlers win over the context's. Pings are answered by the
// library; onPing and onPong only report them.
conn.onPong = (_conn, payload) => console.log(`pong: ${payload.toString()}`);
conn.ping('are you there?');
conn.sendText('hello');
console.log((await conn.nextMsg({ timeoutMs: 5000 })).text); // "HELLO"

await conn.close();
await ctx.close();
await serverCtx.close();
