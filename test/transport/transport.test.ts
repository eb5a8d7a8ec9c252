// The transport as a unit, over an in-memory duplex pair instead of a socket: a client Transport and a server
// Transport exchange messages, keep order behind compression, hold to the write limit against a peer that does not
// read, and finish the closing handshake with both ends ended (RFC 6455 §7.1.1).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Opcode } from '../../src/protocol/constants.js';
import { Transport } from '../../src/transport/transport.js';
import type { TransportEnd, TransportEvents, TransportOptions } from '../../src/transport/transport-options.js';
import type { DeflateSetup } from '../../src/transport/zlib-codec.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { withTimeout } from '../helpers/ws-async.js';

/** Records a transport's events. */
class Recorder implements TransportEvents {
  readonly messages: Array<{ opcode: number; text: string; size: number; fin: boolean }> = [];
  readonly pings: string[] = [];
  closeFrame: number | null = null;
  readonly ended: Promise<TransportEnd>;
  #end!: (info: TransportEnd) => void;
  #waiters: Array<() => void> = [];
  constructor() {
    this.ended = new Promise((resolve) => (this.#end = resolve));
  }
  transportMessage(opcode: number, payload: Buffer, fin: boolean): void {
    this.messages.push({ opcode, text: opcode === Opcode.TEXT ? payload.toString() : '', size: payload.length, fin });
    for (const wake of this.#waiters.splice(0)) wake();
  }
  transportStream(): void {}
  transportPing(payload: Buffer): void {
    this.pings.push(payload.toString());
  }
  transportPong(): void {}
  transportCloseFrame(code: number): void {
    this.closeFrame = code;
  }
  transportClosed(info: TransportEnd): void {
    this.#end(info);
  }
  async count(n: number): Promise<void> {
    while (this.messages.length < n)
      await withTimeout(new Promise<void>((resolve) => this.#waiters.push(resolve)), 5000, `message ${n}`);
  }
}

const DEFLATE: DeflateSetup = {
  deflateNoContextTakeover: false,
  inflateNoContextTakeover: false,
  deflateWindowBits: 15,
  inflateWindowBits: 15,
  threshold: 0,
  level: 1,
  memLevel: 8,
};

function pair(t: TestContext, options: Partial<TransportOptions> = {}, highWaterMark?: number) {
  const [a, b] = duplexPair(highWaterMark);
  const base = { maxFrameBytes: 1 << 24, maxMessageBytes: 1 << 24, closeTimeoutMs: 2000, ...options };
  const client = new Recorder();
  const server = new Recorder();
  const c = new Transport(a, client, { ...base, role: 'client' });
  const s = new Transport(b, server, { ...base, role: 'server' });
  t.after(() => {
    c.destroy();
    s.destroy();
  });
  return { a, b, c, s, client, server };
}

describe('Transport over an in-memory duplex', () => {
  it('carries text, binary, fragmented and large messages both ways', async (t) => {
    const { c, s, client, server } = pair(t);
    assert.equal(c.send(Opcode.TEXT, 'hello', true), 5);
    assert.equal(c.send(Opcode.BINARY, Buffer.alloc(200_000, 7), true), 200_000);
    c.send(Opcode.TEXT, Buffer.from('frag'), false);
    c.send(Opcode.TEXT, Buffer.from('mented'), true);
    await server.count(3);
    assert.deepEqual(
      server.messages.map((m) => [m.opcode, m.text, m.size]),
      [
        [Opcode.TEXT, 'hello', 5],
        [Opcode.BINARY, '', 200_000],
        [Opcode.TEXT, 'fragmented', 10],
      ],
    );
    s.send(Opcode.TEXT, 'back', true);
    assert.equal(s.ping(Buffer.from('p')), true);
    await client.count(1);
    assert.equal(client.messages[0]!.text, 'back');
  });

  it('compressed connections keep order: what is sent after a message being compressed goes out after it', async (t) => {
    const { c, server } = pair(t, { deflate: DEFLATE });
    const big = 'x'.repeat(300_000);
    c.send(Opcode.TEXT, big, true);
    c.send(Opcode.TEXT, 'small, uncompressed', true, false);
    assert.ok(c.compressing, 'the first message is still being compressed');
    assert.equal(c.pendingBytes >= big.length, true, 'pending bytes count the message waiting for compression');
    await server.count(2);
    assert.deepEqual(
      server.messages.map((m) => m.size),
      [big.length, 19],
    );
  });

  it('the write limit refuses (policy refuse) or closes with 1008 (policy close) once the peer stops reading', async (t) => {
    const refusing = pair(t, { maxPendingWriteBytes: 64 * 1024, writeLimitPolicy: 'refuse' }, 4096);
    refusing.b.pause(); // the server side stops reading
    let sent = 0;
    let result = 0;
    for (let i = 0; i < 1000 && (result = refusing.c.send(Opcode.BINARY, Buffer.alloc(8192), true)) > 0; i++) sent++;
    assert.equal(result, 0, 'refused, nothing sent');
    assert.ok(sent >= 4 && sent <= 9, `${sent} sends of 8 KiB accepted under a 64 KiB limit`);
    assert.equal(refusing.c.open, true);
    refusing.b.resume();
    await refusing.server.count(sent);

    const closing = pair(t, { maxPendingWriteBytes: 64 * 1024 }, 4096);
    closing.b.pause();
    for (let i = 0; i < 1000 && (result = closing.c.send(Opcode.BINARY, Buffer.alloc(8192), true)) > 0; i++);
    assert.equal(result, -1);
    assert.equal(closing.c.open, false, 'the closing handshake started');
    closing.b.resume();
    const info = await withTimeout(closing.client.ended, 5000, 'the client end');
    assert.equal(info.error?.name, 'PolicyViolationError');
  });

  it('a closing handshake ends both sides cleanly; the server ends its stream first (§7.1.1)', async (t) => {
    const { a, b, c, client, server } = pair(t);
    const ends: string[] = [];
    b.once('finish', () => ends.push('server'));
    a.once('finish', () => ends.push('client'));
    assert.equal(c.close(1000, 'bye'), true);
    assert.equal(c.close(1000, 'again'), false, 'one close frame');
    const [ci, si] = await withTimeout(Promise.all([client.ended, server.ended]), 5000, 'both ends');
    assert.equal(server.closeFrame, 1000);
    assert.deepEqual([ci.wasClean, ci.code, si.wasClean, si.code], [true, 1000, true, 1000]);
    assert.deepEqual(ends, ['server', 'client'], 'the server ended its side first');
  });
});
