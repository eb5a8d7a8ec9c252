// Issue 11 item 4: slow peers cannot hold memory for ever. A message (or frame) that has started must keep moving
// at minMessageRate (default 512 bytes/s over messageRateWindowMs, default 20 s; the tests shorten the window), and
// a process-wide budget bounds the bytes of partial messages and unread data of all connections together.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  Context,
  DEFAULT_INBOUND_BUDGET,
  inboundBudgetStats,
  Listener,
  TimeoutError,
  type CloseInfo,
  type ConnOptsInit,
} from '../../src/index.js';
import { startChild } from '../helpers/memory-peer.js';
import { OP, rawClient, type RawPeer } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';

const MiB = 1024 * 1024;

async function listen(
  t: TestContext,
  options: ConnOptsInit & { context?: ConstructorParameters<typeof Context>[0] } = {},
) {
  const { context, ...opts } = options;
  const ctx = new Context(context);
  const closed: CloseInfo[] = [];
  ctx.onClose = (_conn, info) => void closed.push(info);
  ctx.onMessage = (conn, msg) => void conn.sendText(`size:${msg.size}`);
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0, opts });
  t.after(() => ctx.close());
  return { ctx, listener, closed };
}

/** A masked frame header announcing `length` bytes (zero mask key: the payload goes as it is). */
function header(opcode: number, length: number, fin = true): Buffer {
  if (length < 126) return Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | length, 0, 0, 0, 0]);
  if (length < 65536)
    return Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, length >> 8, length & 0xff, 0, 0, 0, 0]);
  const h = Buffer.alloc(14);
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = 0x80 | 127;
  h.writeUInt32BE(length, 6);
  return h;
}

async function closeCode(peer: RawPeer, timeoutMs: number): Promise<number> {
  for (;;) {
    const frame = await peer.nextFrame(timeoutMs);
    if (frame.opcode === OP.CLOSE) return frame.payload.readUInt16BE(0);
  }
}

describe('slow-message protection (rate-guard.ts)', () => {
  it('defaults: 512 bytes/s over 20 s, on for every connection', () => {
    const ctx = new Context();
    assert.equal(ctx.minMessageRate, 512);
    assert.equal(ctx.messageRateWindowMs, 20_000);
  });

  it('a frame trickled at 1 byte/s is cut with 1008 and a TimeoutError (phase "message")', async (t) => {
    const srv = await listen(t, { context: { messageRateWindowMs: 2000 } });
    const { peer } = await rawClient(srv.listener.port);
    t.after(() => peer.destroy());
    peer.socket.write(header(OP.BINARY, 1000));
    const trickle = setInterval(() => peer.socket.write(Buffer.from([0x61])), 1000);
    t.after(() => clearInterval(trickle));
    const started = Date.now();
    assert.equal(await closeCode(peer, 10_000), 1008);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1500 && elapsed < 6000, `cut after ${elapsed} ms`);
    clearInterval(trickle);
    peer.destroy();
    await withTimeout(
      (async () => {
        while (srv.closed.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
      5000,
      'the server connection ending',
    );
    const error = srv.closed[0]!.error;
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal(error.phase, 'message');
  });

  it('a peer that stops one byte short of a frame is cut, and its bytes leave the inbound budget', async (t) => {
    const srv = await listen(t, { messageRateWindowMs: 2000 });
    const peers: RawPeer[] = [];
    for (let i = 0; i < 4; i++) {
      const { peer } = await rawClient(srv.listener.port);
      t.after(() => peer.destroy());
      peers.push(peer);
      peer.socket.write(Buffer.concat([header(OP.BINARY, 2 * MiB), Buffer.alloc(2 * MiB - 1, 0x62)]));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(inboundBudgetStats().used >= 4 * (2 * MiB - 1) - 64 * 1024, `budget used: ${inboundBudgetStats().used}`);
    const codes = await Promise.all(peers.map((peer) => closeCode(peer, 10_000)));
    assert.deepEqual(codes, [1008, 1008, 1008, 1008]);
    for (const peer of peers) peer.destroy();
    await withTimeout(
      (async () => {
        while (inboundBudgetStats().used > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
      5000,
      'the budget being given back',
    );
  });

  it('a slow but steady upload (4 KiB/s, 5 s) passes; so does a message the application holds back', async (t) => {
    const srv = await listen(t, { messageRateWindowMs: 2000 });
    const { peer } = await rawClient(srv.listener.port);
    t.after(() => peer.destroy());
    const size = 20 * 1024;
    peer.socket.write(header(OP.BINARY, size));
    for (let sent = 0; sent < size; sent += 1024) {
      peer.socket.write(Buffer.alloc(1024, 0x63));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const reply = await peer.nextFrame(5000);
    assert.equal(reply.payload.toString(), `size:${size}`);

    // A streamed message whose consumer does not read for 7 s (three windows and more): the input is paused by us,
    // which is no fault of the peer.
    const ctx = new Context({ messageRateWindowMs: 2000 });
    t.after(() => ctx.close());
    ctx.onReady = (conn) => {
      conn.onMessageStream = (c, stream) => {
        setTimeout(() => {
          let bytes = 0;
          stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
          stream.on('end', () => c.sendText(`stream:${bytes}`));
        }, 7000);
      };
    };
    const held = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
    const { peer: second } = await rawClient(held.port);
    t.after(() => second.destroy());
    const big = 8 * MiB; // far beyond the socket buffers, so the sender is held by TCP while nobody reads
    second.socket.write(Buffer.concat([header(OP.BINARY, big), Buffer.alloc(big, 0x64)]));
    const streamed = await second.nextFrame(20_000);
    assert.equal(streamed.payload.toString(), `stream:${big}`);
  });
});

describe('the process-wide inbound budget (inbound-budget.ts)', () => {
  it('defaults to 256 MiB', () => {
    assert.equal(DEFAULT_INBOUND_BUDGET, 256 * MiB);
  });

  it('past it, a new partial message is refused with 1008 while complete small messages keep flowing', async (t) => {
    const server = await startChild(t, ['server', JSON.stringify({ budget: 4 * MiB })]);
    const hog = (await rawClient(server.port)).peer;
    const late = (await rawClient(server.port)).peer;
    const small = (await rawClient(server.port)).peer;
    t.after(() => [hog, late, small].forEach((p) => p.destroy()));
    hog.socket.write(Buffer.concat([header(OP.BINARY, 4 * MiB), Buffer.alloc(3 * MiB + 512 * 1024, 0x65)]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    late.socket.write(Buffer.concat([header(OP.BINARY, 2 * MiB), Buffer.alloc(1 * MiB, 0x66)]));
    assert.equal(await closeCode(late, 5000), 1008);
    late.destroy();
    // A message that arrives whole needs no room: it is served.
    small.socket.write(Buffer.concat([header(OP.TEXT, 5), Buffer.from('hello')]));
    assert.equal((await small.nextFrame(5000)).payload.toString(), 'size:5');
    let report = await server.report();
    for (let i = 0; i < 100 && report.closes.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      report = await server.report();
    }
    assert.ok(report.budget.refused > 0);
    assert.ok(report.budget.used <= 4 * MiB, `budget used ${report.budget.used}`);
    assert.ok(
      report.closes.some((c) => c.error?.includes('NOPOLL_ERR_POLICY_VIOLATION') && c.error.includes('budget')),
      JSON.stringify(report.closes),
    );
  });
});
