/**
 * Messages as streams, both ways, through real loopback sockets: a 256 MiB message received as a `MessageStream`
 * in bounded memory (one 256 MiB frame, never assembled), streamed text checked as UTF-8, the stream size limit,
 * and a 32 MiB message sent through a `MessageWriter` to a peer that reads slowly, with bounded sender memory.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Conn, Context, Listener, MessageStream } from '../../src/index.js';
import { fullGc as gc } from '../helpers/gc.js';
import { encodeFrame, expectedAccept, headerValue, rawUpgrade, readHead, within } from '../helpers/net.js';

const MiB = 1024 * 1024;

/**
 * Samples the process's live ArrayBuffer memory and RSS above a baseline while a transfer runs. A full garbage
 * collection before each sample, so the samples measure memory in use rather than garbage the collector has not
 * reached yet (which depends on timing).
 */
function memorySampler(): { stop(): { arrayBuffers: number; rss: number } } {
  gc();
  const base = process.memoryUsage();
  let arrayBuffers = 0;
  let rss = 0;
  const sample = (): void => {
    gc();
    const now = process.memoryUsage();
    arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers - base.arrayBuffers);
    rss = Math.max(rss, now.rss - base.rss);
  };
  const timer = setInterval(sample, 25);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { arrayBuffers, rss };
    },
  };
}

async function streamingListener(
  t: TestContext,
  maxStreamBytes?: number,
): Promise<{ listener: Listener; streams: MessageStream[]; next(): Promise<MessageStream> }> {
  const ctx = new Context();
  const streams: MessageStream[] = [];
  const waiters: Array<(s: MessageStream) => void> = [];
  ctx.onReady = (conn) => {
    conn.onMessageStream = (_conn, stream) => {
      const waiter = waiters.shift();
      if (waiter) waiter(stream);
      else streams.push(stream);
    };
  };
  const listener = await Listener.listen(ctx, {
    host: '127.0.0.1',
    port: 0,
    opts: maxStreamBytes !== undefined ? { maxStreamBytes } : {},
  });
  t.after(async () => {
    await listener.close();
    await ctx.close();
  });
  return {
    listener,
    streams,
    next: () => {
      const queued = streams.shift();
      if (queued) return Promise.resolve(queued);
      return within(new Promise<MessageStream>((resolve) => waiters.push(resolve)), 5000, 'message stream');
    },
  };
}

function writeAll(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

test('a 256 MiB message is received as a stream, in one frame, with memory far below its size', async (t) => {
  const { listener, next } = await streamingListener(t);
  const client = await rawUpgrade(listener.port);
  t.after(() => client.destroy());
  const size = 256 * MiB;
  // A masked frame with an all-zero key (valid, and the payload needs no masking work on this side).
  const header = Buffer.alloc(14);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(size), 2);
  const blocks = Array.from({ length: 4 }, () => randomBytes(MiB));
  const sampler = memorySampler();
  const sent = createHash('sha256');
  const sending = (async () => {
    await writeAll(client.socket, header);
    for (let i = 0; i < size / MiB; i++) {
      const block = blocks[(i * 7 + (i >> 3)) & 3]!;
      sent.update(block);
      await writeAll(client.socket, block);
    }
  })();
  const stream = await next();
  assert.equal(stream.isBinary, true);
  const received = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    received.update(chunk);
    bytes += chunk.length;
    // A consumer slower than the socket now and then, so backpressure has to hold the socket.
    if (++chunks % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await sending;
  const memory = sampler.stop();
  t.diagnostic(
    `256 MiB streamed receive: peak arrayBuffers +${(memory.arrayBuffers / MiB).toFixed(1)} MiB, rss +${(memory.rss / MiB).toFixed(1)} MiB`,
  );
  assert.equal(bytes, size);
  assert.equal(stream.complete, true);
  assert.equal(received.digest('hex'), sent.digest('hex'));
  assert.ok(memory.arrayBuffers < 64 * MiB, `arrayBuffers grew by ${memory.arrayBuffers} bytes`);
  assert.ok(memory.rss < 128 * MiB, `rss grew by ${memory.rss} bytes`);
});

test('streamed messages: fragments and small messages arrive whole and in order; invalid UTF-8 fails with 1007', async (t) => {
  const { listener, next } = await streamingListener(t);
  const client = await rawUpgrade(listener.port);
  t.after(() => client.destroy());
  const mask = randomBytes(4);
  const text = 'añb€c'.repeat(1000);
  const bytes = Buffer.from(text);
  // One text message in three frames, cut inside multi-byte characters, then a small binary message.
  client.socket.write(
    Buffer.concat([
      encodeFrame({ opcode: 0x1, payload: bytes.subarray(0, 1001), fin: false, mask }),
      encodeFrame({ opcode: 0x9, payload: 'ping', mask }),
      encodeFrame({ opcode: 0x0, payload: bytes.subarray(1001, 3002), fin: false, mask }),
    ]),
  );
  await client.writeInPieces(encodeFrame({ opcode: 0x0, payload: bytes.subarray(3002), mask }), [3, 100, 2000], 5);
  client.socket.write(encodeFrame({ opcode: 0x2, payload: Buffer.from([1, 2, 3]), mask }));
  const first = await next();
  assert.equal(first.isText, true);
  first.setEncoding('utf8');
  let got = '';
  for await (const chunk of first as AsyncIterable<string>) got += chunk;
  assert.equal(got, text);
  const second = await next();
  const parts: Buffer[] = [];
  for await (const chunk of second as AsyncIterable<Buffer>) parts.push(chunk);
  assert.deepEqual(Buffer.concat(parts), Buffer.from([1, 2, 3]));
  // A text message that turns out not to be UTF-8 in its second frame: its stream fails, the connection closes with 1007.
  client.socket.write(encodeFrame({ opcode: 0x1, payload: 'valid start', fin: false, mask }));
  client.socket.write(encodeFrame({ opcode: 0x0, payload: Buffer.from([0x61, 0xff, 0x62]), mask }));
  const third = await next();
  await assert.rejects(
    (async () => {
      for await (const _ of third as AsyncIterable<Buffer>) void _;
    })(),
  );
  for (;;) {
    const frame = await client.reader.next(3000);
    if (frame.opcode === 0x8) {
      assert.equal(frame.payload.readUInt16BE(0), 1007);
      break;
    }
  }
});

test('streamed messages: maxStreamBytes replaces the frame and message limits (1009 past it)', async (t) => {
  const { listener, next } = await streamingListener(t, 64 * 1024);
  const client = await rawUpgrade(listener.port);
  t.after(() => client.destroy());
  const mask = randomBytes(4);
  // 48 KiB in one frame is fine; a second message of 2 x 40 KiB frames is over the limit at its second header.
  client.socket.write(encodeFrame({ opcode: 0x2, payload: Buffer.alloc(48 * 1024, 1), mask }));
  const ok = await next();
  let size = 0;
  for await (const chunk of ok as AsyncIterable<Buffer>) size += chunk.length;
  assert.equal(size, 48 * 1024);
  client.socket.write(encodeFrame({ opcode: 0x2, payload: Buffer.alloc(40 * 1024, 2), fin: false, mask }));
  client.socket.write(encodeFrame({ opcode: 0x0, payload: Buffer.alloc(40 * 1024, 2), mask }));
  const big = await next();
  big.resume();
  await assert.rejects(new Promise((resolve, reject) => big.on('end', resolve).on('error', reject)));
  for (;;) {
    const frame = await client.reader.next(3000);
    if (frame.opcode === 0x8) {
      assert.equal(frame.payload.readUInt16BE(0), 1009);
      break;
    }
  }
});

/**
 * A WebSocket server written without the library that reads slowly (one socket chunk per timer tick), parses the
 * client's frames incrementally without keeping them, and hashes the payload.
 */
async function slowReader(
  t: TestContext,
): Promise<{ port: number; done: Promise<{ opcodes: string[]; bytes: number; hash: string }> }> {
  let resolveDone!: (value: { opcodes: string[]; bytes: number; hash: string }) => void;
  const done = new Promise<{ opcodes: string[]; bytes: number; hash: string }>((resolve) => (resolveDone = resolve));
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    void readHead(socket).then(({ head, rest }) => {
      const key = headerValue(head, 'sec-websocket-key') ?? '';
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${expectedAccept(key)}\r\n\r\n`,
      );
      const hash = createHash('sha256');
      const opcodes: string[] = [];
      let bytes = 0;
      let header: number[] = [];
      let remaining = 0;
      let inPayload = false;
      let fin = false;
      let mask = [0, 0, 0, 0];
      let offset = 0;
      const headerSize = (): number => {
        if (header.length < 2) return 2;
        const len7 = header[1]! & 0x7f;
        return (len7 < 126 ? 2 : len7 === 126 ? 4 : 10) + (header[1]! & 0x80 ? 4 : 0);
      };
      const frameDone = (): void => {
        inPayload = false;
        if (fin) resolveDone({ opcodes, bytes, hash: hash.digest('hex') });
      };
      const consume = (chunk: Buffer): void => {
        let pos = 0;
        while (pos < chunk.length) {
          if (!inPayload) {
            header.push(chunk[pos++]!);
            if (header.length < headerSize()) continue;
            const h = Buffer.from(header);
            const len7 = h[1]! & 0x7f;
            remaining = len7 < 126 ? len7 : len7 === 126 ? h.readUInt16BE(2) : Number(h.readBigUInt64BE(2));
            mask = h[1]! & 0x80 ? [...h.subarray(h.length - 4)] : [0, 0, 0, 0];
            fin = (h[0]! & 0x80) !== 0;
            opcodes.push(`${h[0]! & 0x0f}${fin ? 'F' : ''}`);
            header = [];
            offset = 0;
            inPayload = true;
            if (remaining === 0) frameDone();
            continue;
          }
          const take = Math.min(remaining, chunk.length - pos);
          const part = Buffer.from(chunk.subarray(pos, pos + take));
          for (let i = 0; i < part.length; i++) part[i] = part[i]! ^ mask[(offset + i) & 3]!;
          hash.update(part);
          bytes += take;
          offset += take;
          remaining -= take;
          pos += take;
          if (remaining === 0) frameDone();
        }
      };
      if (rest.length > 0) consume(rest);
      socket.on('data', (chunk: Buffer) => {
        consume(chunk);
        socket.pause();
        setTimeout(() => socket.resume(), 1).unref();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, done };
}

test('a 32 MiB message sent through sendStream() to a slow reader: fragments with the right opcodes, bounded sender memory', async (t) => {
  const peer = await slowReader(t);
  const ctx = new Context();
  t.after(() => ctx.close());
  const conn = await Conn.open(ctx, `ws://127.0.0.1:${peer.port}/`, { timeoutMs: 5000, perMessageDeflate: false });
  const size = 32 * MiB;
  const chunk = 64 * 1024;
  const blocks = Array.from({ length: 4 }, () => randomBytes(chunk));
  const expected = createHash('sha256');
  let produced = 0;
  let maxPending = 0;
  const source = new Readable({
    highWaterMark: chunk,
    read() {
      maxPending = Math.max(maxPending, conn.pendingWriteBytes);
      if (produced >= size) return void this.push(null);
      const block = blocks[(produced / chunk) & 3]!;
      expected.update(block);
      produced += block.length;
      this.push(block);
    },
  });
  const sampler = memorySampler();
  const writer = conn.sendStream({ binary: true, highWaterMark: 256 * 1024 });
  await pipeline(source, writer);
  const result = await within(peer.done, 20_000, 'slow reader');
  const memory = sampler.stop();
  t.diagnostic(
    `32 MiB sent to a slow reader: max pendingWriteBytes ${(maxPending / 1024).toFixed(0)} KiB, ` +
      `peak arrayBuffers +${(memory.arrayBuffers / MiB).toFixed(1)} MiB, rss +${(memory.rss / MiB).toFixed(1)} MiB`,
  );
  assert.equal(result.bytes, size);
  assert.equal(result.hash, expected.digest('hex'));
  assert.equal(result.opcodes[0], '2', 'first frame BINARY without FIN');
  assert.ok(
    result.opcodes.slice(1, -1).every((op) => op === '0'),
    'then CONTINUATION frames without FIN',
  );
  assert.equal(result.opcodes.at(-1), '0F', 'the last frame is a CONTINUATION with FIN');
  assert.ok(maxPending <= 256 * 1024 + chunk + 64, `pendingWriteBytes reached ${maxPending}`);
  assert.ok(memory.arrayBuffers < 16 * MiB, `arrayBuffers grew by ${memory.arrayBuffers} bytes`);
  conn.shutdown();
});
