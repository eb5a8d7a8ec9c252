/**
 * The shared read buffer (transport/read-buffer.ts): plain sockets read into one process-wide buffer that the next
 * read overwrites, so everything the connection hands on must be a copy. The same traffic (small and large frames,
 * frames cut at every kind of boundary, fragments, pings, a frame larger than the buffer) is run with the buffer on
 * and off; the bytes echoed, and the messages the application kept, must be identical and intact either way.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { Msg } from '../../src/api/msg.js';
import { setSharedReadBuffer } from '../../src/transport/read-buffer.js';
import { encodeFrame, OP, rawClient, type FrameSpec } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

const ON_BUN = process.versions['bun'] !== undefined;

/** Deterministic bytes, different for each seed. */
function bytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function useSharedBuffer(t: TestContext, on: boolean): void {
  const was = setSharedReadBuffer(on);
  t.after(() => setSharedReadBuffer(was));
}

// Whole messages of many sizes (one larger than the 256 KiB buffer), a fragmented text message with a UTF-8
// sequence cut between fragments, and a ping in the middle of it.
const euro = Buffer.from('€', 'utf8');
const MESSAGES = [1, 3, 64, 125, 126, 4095, 4096, 16 * 1024, 65_535, 65_536, 300 * 1024].map((size, i) =>
  bytes(size, i + 1),
);
const TRAFFIC: FrameSpec[] = [
  ...MESSAGES.map((payload) => ({ opcode: OP.BINARY, payload })),
  { opcode: OP.TEXT, fin: false, payload: Buffer.concat([Buffer.from('a'.repeat(5000)), euro.subarray(0, 1)]) },
  { opcode: OP.PING, payload: Buffer.from('in between') },
  { opcode: OP.CONT, fin: true, payload: Buffer.concat([euro.subarray(1), Buffer.from('b'.repeat(70_000))]) },
];
const TEXT = `${'a'.repeat(5000)}€${'b'.repeat(70_000)}`;

/** Writes `wire` in pieces of the given sizes (cycling), each in its own turn so that the server reads them apart. */
async function writeInPieces(write: (piece: Buffer) => void, wire: Buffer, sizes: number[]): Promise<void> {
  for (let at = 0, i = 0; at < wire.length; i++) {
    const end = Math.min(wire.length, at + sizes[i % sizes.length]!);
    write(wire.subarray(at, end));
    at = end;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('the shared read buffer', () => {
  for (const shared of [true, false]) {
    const how = shared ? 'on' : 'off';
    for (const sizes of [[1 << 20], [1, 2, 3, 5, 7, 11, 13, 1000], [70_000, 9]]) {
      it(`${how}, written in pieces of ${sizes.join('/')} bytes: echoes are exact and kept messages stay intact`, async (t) => {
        useSharedBuffer(t, shared);
        const srv = await startEchoListener();
        t.after(() => srv.close());
        const { peer } = await rawClient(srv.port);
        t.after(() => peer.destroy());
        const conn = await srv.ready.next(5000);
        let dataEvents = 0;
        conn.socket!.on('data', () => dataEvents++);
        await writeInPieces(
          (piece) => peer.write(piece),
          Buffer.concat(TRAFFIC.map((spec) => encodeFrame(spec, true))),
          sizes,
        );

        for (const expected of MESSAGES) {
          const echo = await peer.nextFrame(5000);
          assert.equal(echo.opcode, OP.BINARY);
          assert.ok(echo.payload.equals(expected), `echo of ${expected.length} bytes`);
        }
        const pong = await peer.nextFrame(5000);
        assert.deepEqual([pong.opcode, pong.payload.toString()], [OP.PONG, 'in between']);
        const text = await peer.nextFrame(5000);
        assert.deepEqual([text.opcode, text.payload.toString()], [OP.TEXT, TEXT]);

        // What the application kept was not overwritten by later reads.
        const kept: Msg[] = [];
        for (let i = 0; i <= MESSAGES.length; i++) kept.push((await srv.received.next(5000)).msg);
        MESSAGES.forEach((expected, i) =>
          assert.ok(Buffer.from(kept[i]!.payload).equals(expected), `kept message ${i}`),
        );
        assert.equal(kept.at(-1)!.text, TEXT);
        // With the buffer on, the socket emits no 'data': every read went through the shared buffer. Bun's sockets
        // have other internals, so there it stays off (read-buffer.ts leaves such sockets alone) and 'data' flows.
        if (shared && !ON_BUN) assert.equal(dataEvents, 0);
        else assert.ok(dataEvents > 0);
      });
    }

    for (const via of ['the socket', 'the connection'] as const) {
      it(`${how}: pausing ${via} in onReady stops delivery until it resumes`, async (t) => {
        useSharedBuffer(t, shared);
        const serverCtx = new Context();
        let received = 0;
        let server: Conn | null = null;
        serverCtx.onMessage = (_conn, msg) => {
          received += msg.size;
        };
        serverCtx.onReady = (conn) => {
          server = conn;
          if (via === 'the socket') conn.socket!.pause();
          else conn.pause();
        };
        const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });
        t.after(() => withTimeout(serverCtx.close(), 10_000, 'closing the server context'));
        const ctx = new Context();
        t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
        const conn = await Conn.open(ctx, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });
        const total = 8 * 1024 * 1024;
        for (let i = 0; i < 8; i++) conn.sendBinary(bytes(1024 * 1024, i));
        // Everything the client wrote has had time to reach the server's socket buffer.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(received, 0, 'nothing delivered while paused');
        assert.ok(conn.pendingWriteBytes > 0, 'the paused peer leaves bytes unsent');
        if (via === 'the socket') server!.socket!.resume();
        else server!.resume();
        await withTimeout(
          (async () => {
            while (received < total) await new Promise((resolve) => setTimeout(resolve, 10));
          })(),
          5000,
          'delivery after resume',
        );
        assert.equal(received, total);
      });
    }

    it(`${how}: a client connection receives unmasked frames of every size intact`, async (t) => {
      useSharedBuffer(t, shared);
      const srv = await startEchoListener();
      t.after(() => srv.close());
      const ctx = new Context();
      t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
      const conn = await Conn.connect(ctx, srv.url).waitUntilReady({ timeoutMs: 5000 });
      for (const payload of MESSAGES) conn.sendBinary(payload);
      const got: Msg[] = [];
      for (let i = 0; i < MESSAGES.length; i++) got.push(await conn.nextMsg({ timeoutMs: 5000 }));
      MESSAGES.forEach((expected, i) => assert.ok(Buffer.from(got[i]!.payload).equals(expected), `message ${i}`));
    });
  }
});
