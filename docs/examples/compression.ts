// Guide: compression (permessage-deflate, RFC 7692). See docs/compression.md.
import { Conn, Context, Listener, deflateStats } from '../../src/index.js';

const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => {
  // Echo: at least 1 KiB is compressed (the threshold), smaller replies go as they are.
  if (msg.isText) conn.sendText(msg.payload);
  else conn.sendBinary(msg.payload);
};
// A listener accepts compression only when told to (default false).
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0, opts: { perMessageDeflate: true } });

// A client offers it by default ("permessage-deflate; client_max_window_bits", as browsers do).
const ctx = new Context();
const conn = await Conn.open(ctx, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });
console.log(`agreed: ${conn.extensions}`); // "permessage-deflate"

const bigJson = JSON.stringify(
  Array.from({ length: 500 }, (_, id) => ({ id, name: `user ${id}`, active: id % 2 === 0 })),
);
conn.sendText(bigJson); // compressed (1 KiB and more)
conn.sendText(bigJson, { compress: false }); // not this one
conn.sendText('{"small":true}', { compress: true }); // forced, although under the threshold
for (let i = 0; i < 3; i++) {
  const echo = await conn.nextMsg({ timeoutMs: 5000 });
  console.log(`echo ${i + 1}: ${echo.size} bytes`);
}
console.log(`bytes sent on the wire: ${conn.socket?.bytesWritten} for ${2 * bigJson.length + 14} bytes of messages`);

await conn.close();
await serverCtx.close();
console.log(deflateStats()); // zlib jobs and streams: nothing running, streams back in the pool
