// Guide §2.1: writes, buffering and flushing.
import { Conn, Context, Listener } from '../../src/index.js';

const serverCtx = new Context();
serverCtx.onMessage = () => undefined; // read and drop
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });

const ctx = new Context();
const conn = await Conn.open(ctx, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });

// A send never blocks and never writes half a frame: it returns the payload size
// accepted, or -1 when the connection no longer sends (closing or closed).
const payload = Buffer.alloc(8 * 1024 * 1024, 0x61);
const accepted = conn.sendBinary(payload);
if (accepted === -1) throw new Error('connection closed');

// Node keeps what the kernel did not take yet. pendingWriteBytes counts it
// (nopoll_conn_pending_write_bytes); flushWrites waits until it reached the kernel
// (nopoll_conn_flush_writes, without sleeping in a loop).
console.log(`accepted ${accepted} bytes, ${conn.pendingWriteBytes} still buffered`);
if (conn.pendingWriteBytes > 0) {
  await conn.flushWrites({ timeoutMs: 2000 }); // TimeoutError if it takes longer
}
console.log(`buffered after flush: ${conn.pendingWriteBytes}`);

await conn.close();
await ctx.close();
await serverCtx.close();
