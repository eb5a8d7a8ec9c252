// Manual 2.1: writes. A send never blocks and never writes half a frame; what the kernel has not taken yet waits
// in the socket's buffer (pendingWriteBytes, nopoll_conn_pending_write_bytes) and flushWrites() resolves once it
// has gone (nopoll_conn_flush_writes, without a sleep loop). The peer here stops reading for a while.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Conn, Context, Listener, TimeoutError } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(60_000);
const serverCtx = new Context();
let receivedBytes = 0;
serverCtx.onMessage = (_conn, msg) => {
  receivedBytes += msg.size;
};
const peers: Conn[] = [];
serverCtx.onReady = (conn) => {
  peers.push(conn);
  conn.socket?.pause(); // the peer stops reading
};
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });

const ctx = new Context();
const conn = await Conn.open(ctx, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });

// The manual's websocket_write(), the Node way: send, then wait for the flush with a time limit.
async function websocketWrite(target: Conn, content: Buffer, timeoutMs: number): Promise<number> {
  const accepted = target.sendBinary(content);
  if (accepted === -1) throw new Error('connection closed');
  await target.flushWrites({ timeoutMs });
  return accepted;
}

const message = Buffer.alloc(1024 * 1024, 0x61);
const count = 32; // 32 MiB: more than loopback socket buffers hold while the peer does not read
for (let i = 0; i < count; i++) checkEqual(conn.sendBinary(message), message.length, `send ${i} accepted whole`);
console.log(`after the sends: ${conn.pendingWriteBytes} bytes still buffered`);
check(conn.pendingWriteBytes > 0, 'with a peer that does not read, bytes wait in the buffer');

// The flush cannot finish while the peer does not read: a short wait times out, and the connection stays usable.
const timedOut = await conn.flushWrites({ timeoutMs: 200 }).then(
  () => null,
  (error: unknown) => error,
);
check(
  timedOut instanceof TimeoutError && timedOut.phase === 'flush',
  'flushWrites times out while the peer does not read',
);
check(conn.isReady, 'a flush timeout does not close the connection');

// The peer reads again: everything leaves, and one more write completes with its flush.
for (const peer of peers) peer.socket?.resume();
await conn.flushWrites({ timeoutMs: 30_000 });
checkEqual(conn.pendingWriteBytes, 0, 'nothing buffered after the flush');
checkEqual(await websocketWrite(conn, message, 30_000), message.length, 'websocketWrite');
while (receivedBytes < (count + 1) * message.length) await new Promise((resolve) => setTimeout(resolve, 10));
checkEqual(receivedBytes, (count + 1) * message.length, 'the peer received every byte');

await conn.close();

// A write limit with the 'refuse' policy: a send past it sends nothing and returns 0; wait and send it again.
const limited = await Conn.open(ctx, `ws://127.0.0.1:${listener.port}/`, {
  timeoutMs: 5000,
  maxPendingWriteBytes: 256 * 1024,
  writeLimitPolicy: 'refuse',
});
const before = receivedBytes;
let refused = 0;
for (let i = 0; i < 16; i++) {
  while (limited.sendBinary(message) === 0) {
    refused++;
    check(limited.pendingWriteBytes > 0, 'a refused send leaves the pending bytes visible');
    for (const peer of peers) peer.socket?.resume(); // the peer reads again
    await limited.flushWrites({ timeoutMs: 30_000 });
  }
  check(
    limited.pendingWriteBytes <= 256 * 1024 + message.length + 16,
    'pending bytes stay under the limit plus one message',
  );
}
for (const peer of peers) peer.socket?.resume();
await limited.flushWrites({ timeoutMs: 30_000 });
while (receivedBytes < before + 16 * message.length) await new Promise((resolve) => setTimeout(resolve, 10));
console.log(`write limit: ${refused} sends refused and retried`);

// A message sent as a Writable stream: fragments, backpressure from the socket, bounded memory.
const streamedCtx = new Context();
const digest = new Promise<string>((resolve) => {
  streamedCtx.onReady = (peer) => {
    peer.onMessageStream = (_peer, stream) => {
      const hash = createHash('sha256');
      stream.on('data', (chunk: Buffer) => hash.update(chunk));
      stream.on('end', () => resolve(hash.digest('hex')));
    };
  };
});
const streamedListener = await Listener.listen(streamedCtx, { host: '127.0.0.1', port: 0 });
const streamer = await Conn.open(ctx, `ws://127.0.0.1:${streamedListener.port}/`, { timeoutMs: 5000 });
const expected = createHash('sha256');
let produced = 0;
await pipeline(
  new Readable({
    read() {
      if (produced === 64) return void this.push(null);
      const block = Buffer.alloc(256 * 1024, produced++);
      expected.update(block);
      this.push(block);
    },
  }),
  streamer.sendStream({ binary: true }),
);
checkEqual(await digest, expected.digest('hex'), 'a 16 MiB message sent with sendStream() arrives intact');
await streamer.close();
await streamedListener.close();
await streamedCtx.close();

await limited.close();
await ctx.close();
await serverCtx.close();
ok('writes (manual 2.1)');
