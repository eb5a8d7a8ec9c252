// Guide: limits and where to set them.
import { Conn, ConnOpts, Context, Listener, MessageTooBigError } from '../../src/index.js';

// Context: the defaults for every connection made with it.
const serverCtx = new Context({
  maxFrameSize: 64 * 1024, // default 16 MiB
  maxMessageSize: 256 * 1024, // default 16 MiB
  maxHeadBytes: 8 * 1024, // default 16 KiB
  maxHeaderCount: 50, // default 100
  handshakeTimeoutMs: 5000, // default 10000
  closeTimeoutMs: 2000, // default 5000
});
serverCtx.onMessage = (conn, msg) => {
  conn.sendText(`got ${msg.size} bytes`);
};
// When a limit fails a connection, its closeInfo.error says which one.
serverCtx.onClose = (_conn, info) => {
  if (info.error instanceof MessageTooBigError) console.log(`server: limit of ${info.error.limit} bytes exceeded`);
};

// Listener options: they win over the context for the connections it accepts.
const listener = await Listener.listen(serverCtx, {
  host: '127.0.0.1',
  port: 0,
  opts: { maxMessageSize: 1024 * 1024 },
});

// Client options (ConnOpts or a plain object): they win over the client's context.
const ctx = new Context();
const opts = new ConnOpts().setMaxFrameSize(1024 * 1024);
const conn = Conn.connect(ctx, `ws://127.0.0.1:${listener.port}/`, opts);
await conn.waitUntilReady({ timeoutMs: 5000 });
console.log(`client frame limit: ${conn.maxFrameSize}`); // 1048576

// 100 KiB in one frame: over the server's 64 KiB frame limit. The server fails the
// connection with close code 1009 before it buffers the payload.
conn.sendBinary(Buffer.alloc(100 * 1024));
const info = await conn.closed;
console.log(`closed with ${info.code}`); // 1009

await ctx.close();
await serverCtx.close();
