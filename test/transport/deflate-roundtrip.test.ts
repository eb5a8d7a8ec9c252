/**
 * permessage-deflate between our client and our listener over loopback: every size class both ways, context
 * takeover over many messages (and without it), fragmented messages, ordering, and what zlib memory a connection
 * holds: none before its first message, none between messages without context takeover, none after it ends.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Conn } from '../../src/api/conn.js';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import { Context } from '../../src/api/context.js';
import type { Msg } from '../../src/api/msg.js';
import { deflateConcurrency, deflateStats, setDeflateConcurrency } from '../../src/transport/zlib-codec.js';
import { compressibleText } from '../helpers/deflate.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { startEchoListener, type EchoListener } from '../helpers/ws-peers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** zlib streams held by connections (alive and not idle in the shared pool). */
const held = (): number => deflateStats().live - deflateStats().pooled;

interface Client {
  ctx: Context;
  conn: Conn;
  received: AsyncQueue<Msg>;
}

async function client(t: TestContext, url: string, opts: ConnOptsInit = {}): Promise<Client> {
  const ctx = new Context();
  const received = new AsyncQueue<Msg>();
  ctx.onMessage = (_conn, msg) => received.push(msg);
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  const conn = await Conn.open(ctx, url, { ...opts, timeoutMs: 5000 });
  return { ctx, conn, received };
}

async function echoPair(
  t: TestContext,
  serverOpts: ConnOptsInit,
  clientOpts: ConnOptsInit = {},
): Promise<{ srv: EchoListener; c: Client }> {
  const srv = await startEchoListener(serverOpts);
  t.after(() => srv.close());
  const c = await client(t, srv.url, clientOpts);
  return { srv, c };
}

describe('round trips', () => {
  it(
    'every size class, text and binary, compressed both ways (0, 1, 1 KiB, 64 KiB, 1 MiB, 16 MiB)',
    { timeout: 120_000 },
    async (t) => {
      const { srv, c } = await echoPair(t, { perMessageDeflate: { threshold: 0 } });
      assert.equal(c.conn.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      const server = await srv.ready.next(1000);
      assert.equal(server.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      let sent = 0;
      for (const size of [0, 1, KiB, 64 * KiB, MiB, 16 * MiB]) {
        const text = compressibleText(size, size);
        assert.equal(c.conn.sendText(text, { compress: true }), size);
        const binary = Buffer.from(text);
        binary[0] = size & 0xff; // binary need not be UTF-8
        assert.equal(c.conn.sendBinary(binary, { compress: true }), size);
        sent += 2 * size;
        const t1 = await c.received.next(30_000, `text echo of ${size} bytes`);
        assert.equal(t1.isText, true);
        assert.ok(t1.payload.equals(text), `text of ${size} bytes`);
        const b1 = await c.received.next(30_000, `binary echo of ${size} bytes`);
        assert.equal(b1.isBinary, true);
        assert.ok(b1.payload.equals(binary), `binary of ${size} bytes`);
      }
      const wire = c.conn.socket!.bytesWritten;
      assert.ok(wire < sent / 4, `${wire} bytes on the wire for ${sent} bytes of messages`);
    },
  );

  it('incompressible data round-trips too (deflate only grows it by a few bytes per block)', async (t) => {
    const { c } = await echoPair(t, { perMessageDeflate: true });
    const noise = Buffer.alloc(MiB);
    let x = 12345;
    for (let i = 0; i < noise.length; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      noise[i] = x >>> 16;
    }
    c.conn.sendBinary(noise);
    assert.ok((await c.received.next(10_000)).payload.equals(noise));
  });

  it('context takeover across 500 messages: order kept, each repeat costs a small fraction of its size', async (t) => {
    const { c } = await echoPair(
      t,
      { perMessageDeflate: { contextTakeover: true } },
      { perMessageDeflate: { contextTakeover: true } },
    );
    const messages = Array.from({ length: 500 }, (_, i) => compressibleText(2000 + (i % 7) * 100, i % 13).toString());
    const before = c.conn.socket!.bytesWritten;
    for (const m of messages) c.conn.sendText(m);
    for (let i = 0; i < messages.length; i++)
      assert.equal((await c.received.next(10_000)).text, messages[i], `message ${i}`);
    const perMessage = (c.conn.socket!.bytesWritten - before) / messages.length;
    assert.ok(perMessage < 200, `${perMessage} bytes per ~2.3 KB message with context takeover`);
  });

  it('by default no context is taken over either way: correct, and no zlib stream stays with an idle connection', async (t) => {
    const { srv, c } = await echoPair(t, { perMessageDeflate: true });
    assert.equal(c.conn.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    const agreement = c.conn.perMessageDeflate!;
    assert.equal(agreement.serverNoContextTakeover && agreement.clientNoContextTakeover, true);
    const m = compressibleText(3000).toString();
    const before = c.conn.socket!.bytesWritten;
    for (let i = 0; i < 50; i++) c.conn.sendText(m);
    for (let i = 0; i < 50; i++) assert.equal((await c.received.next(10_000)).text, m);
    const perMessage = (c.conn.socket!.bytesWritten - before) / 50;
    assert.ok(perMessage > 200 && perMessage < 3000, `${perMessage} bytes per message without context takeover`);
    assert.equal(held(), 0, 'idle connections without context takeover hold no zlib stream');
    void srv;
  });

  it('server window and client window limits from both sides interoperate', async (t) => {
    for (const [serverDeflate, clientDeflate] of [
      [{ serverMaxWindowBits: 9, clientMaxWindowBits: 8 }, {}],
      [{}, { serverMaxWindowBits: 8, clientMaxWindowBits: 10 }],
      [{ clientMaxWindowBits: 12 }, { serverMaxWindowBits: 11, clientMaxWindowBits: 9 }],
    ] as const) {
      const { c } = await echoPair(
        t,
        { perMessageDeflate: { ...serverDeflate, threshold: 0 } },
        { perMessageDeflate: clientDeflate },
      );
      const messages = Array.from({ length: 20 }, (_, i) => compressibleText(10_000 + i, i));
      for (const m of messages) c.conn.sendBinary(m);
      for (const m of messages) assert.ok((await c.received.next(10_000)).payload.equals(m), c.conn.extensions);
    }
  });

  it('fragmented compressed messages: whole on a listener, frame by frame with deliverFragments', async (t) => {
    const whole = await echoPair(t, { perMessageDeflate: true });
    const parts = [compressibleText(5000, 1), compressibleText(10, 2), Buffer.alloc(0), compressibleText(70_000, 3)];
    whole.c.conn.sendFragment(parts[0]!, { compress: true, binary: true });
    whole.c.conn.sendBinaryFragment(parts[1]!);
    whole.c.conn.sendBinaryFragment(parts[2]!);
    whole.c.conn.sendBinary(parts[3]!);
    const { msg } = await whole.srv.received.next(10_000);
    assert.equal(msg.isBinary, true);
    assert.ok(msg.payload.equals(Buffer.concat(parts)));
    assert.ok((await whole.c.received.next(10_000)).payload.equals(Buffer.concat(parts)));

    const framed = await echoPair(t, { perMessageDeflate: true, deliverFragments: true });
    const text = compressibleText(9000, 4);
    framed.c.conn.sendFragment(text.subarray(0, 3000), { compress: true });
    framed.c.conn.sendTextFragment(text.subarray(3000, 6001));
    framed.c.conn.sendText(text.subarray(6001));
    const pieces: Msg[] = [];
    do pieces.push((await framed.srv.received.next(10_000)).msg);
    while (!pieces.at(-1)!.isFinal);
    assert.equal(pieces.length, 3);
    assert.deepEqual(
      pieces.map((p) => [p.opcode, p.isFragment]),
      [
        [1, true],
        [0, true],
        [0, true],
      ],
    );
    assert.ok(Buffer.concat(pieces.map((p) => p.payload)).equals(text));
  });

  it('order across compressed and uncompressed messages, with a small threshold and mixed options', async (t) => {
    const { srv, c } = await echoPair(
      t,
      { perMessageDeflate: { threshold: 100 } },
      { perMessageDeflate: { threshold: 100 } },
    );
    const sent: string[] = [];
    for (let i = 0; i < 300; i++) {
      const m = i % 3 === 0 ? `short ${i}` : compressibleText(50 + (i % 50) * 40, i).toString();
      sent.push(m);
      c.conn.sendText(m, i % 5 === 0 ? { compress: false } : i % 7 === 0 ? { compress: true } : undefined);
      if (i % 11 === 0) c.conn.ping(String(i));
    }
    for (let i = 0; i < sent.length; i++) assert.equal((await srv.received.next(10_000)).msg.text, sent[i]);
    for (let i = 0; i < sent.length; i++) assert.equal((await c.received.next(10_000)).text, sent[i]);
  });
});

describe('resources', () => {
  it('zlib streams are created on first use, kept with context takeover, and released when connections end', async (t) => {
    const srv = await startEchoListener({ perMessageDeflate: { contextTakeover: true } });
    t.after(() => srv.close());
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing'));
    const received = new AsyncQueue<Msg>();
    ctx.onMessage = (_conn, msg) => received.push(msg);
    const conns = await Promise.all(
      Array.from({ length: 20 }, () =>
        Conn.open(ctx, srv.url, { timeoutMs: 5000, perMessageDeflate: { contextTakeover: true } }),
      ),
    );
    assert.ok(conns.every((c) => c.extensions === 'permessage-deflate'));
    assert.equal(held(), 0, 'an idle compressed connection holds no zlib memory before its first message');
    conns[0]!.sendText(compressibleText(5000).toString());
    await received.next(5000);
    // Client deflate + server inflate + server deflate + client inflate, all kept for context takeover.
    assert.equal(held(), 4);
    const serverSide = await Promise.all(conns.map(() => srv.ready.next(1000)));
    await Promise.all(conns.map((c) => c.close()));
    await Promise.all(serverSide.map((c) => c.closed));
    assert.equal(held(), 0, 'ending the connections released their streams');
    assert.deepEqual([deflateStats().running, deflateStats().queued], [0, 0]);
  });

  it('the process-wide concurrency limit queues zlib jobs and runs them all', async (t) => {
    const previous = deflateConcurrency();
    setDeflateConcurrency(1);
    t.after(() => setDeflateConcurrency(previous));
    assert.throws(() => setDeflateConcurrency(0), RangeError);
    const { srv } = await echoPair(t, { perMessageDeflate: true });
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing'));
    const received = new AsyncQueue<Msg>();
    ctx.onMessage = (_conn, msg) => received.push(msg);
    const conns = await Promise.all(Array.from({ length: 5 }, () => Conn.open(ctx, srv.url, { timeoutMs: 5000 })));
    const payload = compressibleText(200_000);
    for (const c of conns) c.sendBinary(payload);
    assert.equal(deflateStats().running, 1);
    assert.equal(deflateStats().queued, 4, 'the other jobs wait their turn');
    for (let i = 0; i < conns.length; i++) assert.ok((await received.next(10_000)).payload.equals(payload));
    assert.deepEqual([deflateStats().running, deflateStats().queued], [0, 0]);
  });

  it('a connection dropped while its messages wait for zlib frees its place in the queue', async (t) => {
    const previous = deflateConcurrency();
    setDeflateConcurrency(1);
    t.after(() => setDeflateConcurrency(previous));
    const { c } = await echoPair(t, { perMessageDeflate: true });
    for (let i = 0; i < 5; i++) c.conn.sendBinary(compressibleText(500_000, i));
    c.conn.shutdown();
    await c.conn.closed;
    assert.deepEqual([deflateStats().running, deflateStats().queued], [0, 0]);
    assert.equal(held(), 0);
  });
});
