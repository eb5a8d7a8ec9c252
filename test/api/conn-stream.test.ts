/**
 * Node idioms over a connection: `for await (const msg of conn)`, AbortSignal on every wait, and the Duplex stream
 * (`ConnStream`) with backpressure both ways. Real sockets on loopback; sizes are chosen so that kernel buffers
 * cannot absorb everything, and the assertions are about amounts, never about time.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { Conn } from '../../src/api/conn.js';
import { ConnStream, createConnStream } from '../../src/api/conn-stream.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { AbortError, HandshakeError, ProtocolError } from '../../src/errors.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { OP, rawClient } from '../helpers/raw-peer.js';

const KiB = 1024;

/** A listener whose accepted connections are queued (no handler: the test drives them). */
async function server(
  t: TestContext,
): Promise<{ ctx: Context; listener: Listener; url: string; ready: AsyncQueue<Conn> }> {
  const ctx = new Context();
  const ready = new AsyncQueue<Conn>();
  ctx.onReady = (conn) => {
    ready.push(conn);
  };
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the server context'));
  return { ctx, listener, url: `ws://127.0.0.1:${listener.port}/`, ready };
}

function clientCtx(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return ctx;
}

/** Resolves once `check()` holds (polled), failing after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((done) => setTimeout(done, 5));
  }
}

describe('for await (const msg of conn)', () => {
  it('yields every message in order, then ends when the peer closes', async (t) => {
    const srv = await server(t);
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const peer = await srv.ready.next();
    for (let i = 0; i < 5; i++) peer.sendText(`m${i}`);
    peer.sendBinary(Buffer.from([7]));
    void peer.close(1000, 'bye');
    const got: string[] = [];
    for await (const msg of conn) got.push(msg.isText ? msg.text : `bin:${msg.payload[0]}`);
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4', 'bin:7']);
    assert.equal(conn.closeStatus, 1000);
    assert.equal(conn.closeReason, 'bye');
  });

  it('break leaves the connection open; a later loop goes on where it stopped', async (t) => {
    const srv = await server(t);
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const peer = await srv.ready.next();
    peer.sendText('a');
    peer.sendText('b');
    for await (const msg of conn) {
      assert.equal(msg.text, 'a');
      break;
    }
    assert.equal(conn.isReady, true);
    const rest: string[] = [];
    void peer.close();
    for await (const msg of conn.messages()) rest.push(msg.text);
    assert.deepEqual(rest, ['b']);
  });

  it('throws AbortError when its signal aborts, and the handshake failure when there was no connection', async (t) => {
    const srv = await server(t);
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const controller = new AbortController();
    const loop = (async () => {
      for await (const _msg of conn.messages({ signal: controller.signal })) {
        /* nothing arrives */
      }
    })();
    controller.abort();
    await assert.rejects(loop, AbortError);
    assert.equal(conn.isReady, true, 'aborting the wait does not close the connection');

    srv.ctx.onOpen = () => false;
    const refused = Conn.connect(clientCtx(t), srv.url);
    await assert.rejects(
      (async () => {
        for await (const _msg of refused) {
          /* never */
        }
      })(),
      (error: unknown) => error instanceof HandshakeError && error.status === 403,
    );
  });
});

describe('AbortSignal on every wait', () => {
  it('waitUntilReady, nextMsg, flushWrites, accept and loopWait reject with AbortError', async (t) => {
    const srv = await server(t);
    const ctx = clientCtx(t);
    const aborted = AbortSignal.abort();

    // Already aborted: rejected at once.
    const pendingConn = Conn.connect(ctx, srv.url);
    await assert.rejects(pendingConn.waitUntilReady({ signal: aborted }), AbortError);
    await assert.rejects(ctx.loopWait(0, { signal: aborted }), AbortError);
    const conn = await pendingConn.waitUntilReady({ timeoutMs: 5000 });
    await assert.rejects(conn.nextMsg({ signal: aborted }), AbortError);
    // The accept queue holds the server side of `conn`; once it is taken, accept() has to wait.
    const peer = await srv.listener.accept({ timeoutMs: 5000 });
    await assert.rejects(srv.listener.accept({ signal: aborted }), AbortError);

    // Aborted while waiting.
    const controller = new AbortController();
    const waits: Array<Promise<unknown>> = [
      conn.nextMsg({ signal: controller.signal }),
      srv.listener.accept({ signal: controller.signal }),
      ctx.loopWait(0, { signal: controller.signal }),
    ];
    // A flush that cannot finish: the server stops reading, the client sends more than the kernel buffers hold.
    await peer.waitUntilReady({ timeoutMs: 5000 });
    peer.socket!.pause();
    const big = Buffer.alloc(4 * 1024 * KiB, 1);
    for (let i = 0; i < 16 && conn.pendingWriteBytes === 0; i++) conn.sendBinary(big);
    assert.ok(conn.pendingWriteBytes > 0, 'writes are pending');
    waits.push(conn.flushWrites({ signal: controller.signal }));
    controller.abort(new Error('stop'));
    for (const waiting of waits) await assert.rejects(waiting, AbortError);
    assert.equal(conn.isReady, true);
    peer.socket!.resume();
    await conn.flushWrites({ timeoutMs: 10_000 });
  });
});

describe('ConnStream: a Duplex over a connection', () => {
  it('pipes bytes both ways through an echo that is itself a ConnStream piped into itself', async (t) => {
    const srv = await server(t);
    srv.ctx.onReady = (conn) => {
      const echo = new ConnStream(conn, { messageMode: true });
      echo.on('error', () => undefined);
      echo.pipe(echo);
    };
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const stream = createConnStream(conn);
    const sent = Buffer.alloc(300 * KiB);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 31) & 0xff;
    const received: Buffer[] = [];
    let total = 0;
    const done = new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        received.push(chunk);
        total += chunk.length;
        if (total >= sent.length) resolve();
      });
    });
    for (let at = 0; at < sent.length; at += 10 * KiB) stream.write(sent.subarray(at, at + 10 * KiB));
    await withTimeout(done, 10_000, 'the echo');
    assert.deepEqual(Buffer.concat(received), sent);
    stream.end();
    const info = await withTimeout(conn.closed, 5000, 'the close after end()');
    assert.equal(info.code, 1000);
    assert.equal(info.wasClean, true);
    await withTimeout(once(stream, 'close'), 5000, 'the stream closing');
  });

  it('message mode: one payload per read, empty messages kept; text mode writes text messages', async (t) => {
    const srv = await server(t);
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const peer = await srv.ready.next();
    peer.sendText('one');
    peer.sendBinary(Buffer.alloc(0));
    peer.sendBinary(Buffer.from([1, 2]));
    void peer.close();
    const reads: Buffer[] = [];
    for await (const payload of new ConnStream(conn, { messageMode: true })) reads.push(payload as Buffer);
    assert.deepEqual(
      reads.map((b) => b.toString('hex')),
      [Buffer.from('one').toString('hex'), '', '0102'],
    );

    const conn2 = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const peer2 = await srv.ready.next();
    const writer = new ConnStream(conn2, { writeAs: 'text' });
    writer.write('héllo');
    writer.write(Buffer.from('wörld'));
    const first = await peer2.nextMsg({ timeoutMs: 5000 });
    const second = await peer2.nextMsg({ timeoutMs: 5000 });
    assert.deepEqual([first.isText, first.text, second.isText, second.text], [true, 'héllo', true, 'wörld']);
    const failed = once(writer, 'error');
    writer.write(Buffer.from([0xff]));
    const [error] = (await withTimeout(failed, 5000, 'the invalid text write failing')) as [Error];
    assert.ok(error instanceof TypeError);
  });

  it('a full readable side stops reading the socket until it is read (bounded memory), then everything arrives', async (t) => {
    const srv = await server(t);
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const peer = await srv.ready.next();
    const stream = new ConnStream(conn, { readableHighWaterMark: 16 * KiB });
    const count = 400;
    const size = 64 * KiB;
    for (let i = 0; i < count; i++) peer.sendBinary(Buffer.alloc(size, i & 0xff));
    // Nobody reads: the client stops reading its socket, so the bytes back up to the server's socket buffer.
    await until(
      () => peer.pendingWriteBytes > 0 && conn.socket!.isPaused(),
      10_000,
      'backpressure reaching the sender',
    );
    await new Promise((done) => setTimeout(done, 50));
    // Held in memory on the client: the stream's buffer, plus at most what one socket read carried.
    assert.ok(
      stream.readableLength <= 16 * KiB + 2 * size + 64 * KiB,
      `readable side holds ${stream.readableLength} bytes`,
    );
    let total = 0;
    let mismatch = -1;
    let index = 0;
    stream.on('data', (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte !== (Math.floor(index / size) & 0xff) && mismatch < 0) mismatch = index;
        index++;
      }
      total += chunk.length;
    });
    await until(() => total === count * size, 20_000, 'every byte arriving');
    assert.equal(mismatch, -1, 'bytes arrive in order');
  });

  it('writes wait while the socket holds more than the high-water mark, and go on when the peer reads', async (t) => {
    const srv = await server(t);
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const peer = await srv.ready.next();
    let received = 0;
    peer.onMessage = (_c, msg) => void (received += msg.size);
    peer.socket!.pause();
    const hwm = 256 * KiB;
    const stream = new ConnStream(conn, { writableHighWaterMark: hwm });
    const chunk = Buffer.alloc(128 * KiB, 3);
    const total = 400 * chunk.length; // 50 MiB: far more than loopback buffers hold
    let written = 0;
    let maxPending = 0;
    const writing = (async () => {
      while (written < total) {
        written += chunk.length;
        maxPending = Math.max(maxPending, conn.pendingWriteBytes);
        if (!stream.write(chunk)) await once(stream, 'drain');
      }
    })();
    await until(() => stream.writableNeedDrain && stream.writableLength >= hwm, 10_000, 'the writer being held');
    const heldAt = written;
    assert.ok(heldAt < total, 'the writer stopped before the end');
    // What sits in the socket's buffer stays near the high-water mark plus one message.
    assert.ok(maxPending <= hwm + 2 * chunk.length + 64 * KiB, `socket buffer reached ${maxPending} bytes`);
    peer.socket!.resume();
    await withTimeout(writing, 30_000, 'all writes');
    await until(() => received === total, 30_000, 'the server receiving everything');
    assert.ok(maxPending <= hwm + 2 * chunk.length + 64 * KiB, `socket buffer reached ${maxPending} bytes`);
  });

  it('an error that fails the connection destroys the stream with it; destroy() closes with 1011', async (t) => {
    const srv = await server(t);
    const stream = await (async () => {
      const ready = srv.ready.next();
      const { peer } = await rawClient(srv.listener.port);
      t.after(() => peer.destroy());
      const conn = await ready;
      const s = new ConnStream(conn);
      // Invalid UTF-8 in a text frame: the server fails the connection with 1007; the peer then drops TCP.
      peer.send({ opcode: OP.TEXT, payload: Buffer.from([0xc3, 0x28]) });
      const close = await peer.nextFrame(5000);
      assert.equal(close.opcode, OP.CLOSE);
      peer.destroy();
      return s;
    })();
    const [error] = (await withTimeout(once(stream, 'error'), 5000, 'the stream error')) as [Error];
    assert.ok(error instanceof ProtocolError);

    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const peer = await srv.ready.next();
    const s2 = new ConnStream(conn);
    s2.on('error', () => undefined);
    s2.destroy(new Error('local failure'));
    const info = await withTimeout(peer.closed, 5000, 'the server seeing the close');
    assert.equal(info.code, 1011);
    assert.equal(conn.onMessage, null, 'the stream gave message delivery back');
  });

  it('works with stream.pipeline from a Readable to a Writable through the connection', async (t) => {
    const srv = await server(t);
    srv.ctx.onMessage = (conn, msg) =>
      void conn.sendBinary(Buffer.from(msg.payload.toString('latin1').toUpperCase(), 'latin1'));
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const stream = new ConnStream(conn, { messageMode: true });
    const out: string[] = [];
    const sink = new Writable({
      objectMode: true,
      write(payload: Buffer, _encoding, callback) {
        out.push(payload.toString('latin1'));
        if (out.length === 3) void conn.close();
        callback();
      },
    });
    await withTimeout(
      pipeline(Readable.from(['abc', 'def', 'ghi'].map((s) => Buffer.from(s))), stream, sink),
      10_000,
      'the pipeline',
    );
    assert.deepEqual(out, ['ABC', 'DEF', 'GHI']);
  });

  it('reads what was queued before the stream was made', async (t) => {
    const srv = await server(t);
    const conn = await Conn.open(clientCtx(t), srv.url, { timeoutMs: 5000 });
    const peer = await srv.ready.next();
    // A ping after the message: once the client saw the ping, the message sits in its queue.
    const pinged = new Promise<void>((resolve) => (conn.onPing = () => resolve()));
    peer.sendText('queued');
    peer.ping();
    await withTimeout(pinged, 5000, 'the ping');
    const stream = new ConnStream(conn, { messageMode: true });
    const [payload] = (await withTimeout(once(stream, 'data'), 5000, 'the queued message')) as [Buffer];
    assert.equal(payload.toString(), 'queued');
  });
});
