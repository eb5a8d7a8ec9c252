/**
 * noPoll's stream view (`nopoll_conn_read`, manual 1.7 and 1.8) and its write back-pressure (manual 2.1), ported to
 * `conn.read()` / `tryRead()` / `readPending` and to the write limit, `completePendingWrite()` and `flushWrites()`:
 * test_03, test_04 (chunks 1024, 512, 137, 17), test_04a, test_04b, test_04c and test_17 (a frame read in the
 * middle). Peers that must stop reading are raw sockets that really pause.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Conn, Context, InvalidStateError, Listener, type ConnOptsLike } from '../../src/index.js';
import { startRegressionListener, type RegressionListener } from '../../src/cli/regression-listener.js';
import { RawWsServer, closeBody, encodeFrame, rawUpgrade, within } from '../helpers/net.js';

const READY = { timeoutMs: 5000 };
let rl: RegressionListener;
let dir: string;
let fileContent: Buffer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nopoll-read-'));
  const lines: string[] = [];
  for (let i = 0; lines.join('').length < 5000; i++)
    lines.push(`line ${String(i).padStart(4, '0')}: the quick brown fox ${'#'.repeat(i % 23)}\n`);
  fileContent = Buffer.from(lines.join('').slice(0, 5000), 'latin1');
  const file = join(dir, 'get-file.txt');
  writeFileSync(file, fileContent);
  rl = await startRegressionListener({ port4: 0, port6: null, host4: '127.0.0.1', getFile: file, fileDir: dir });
});

after(async () => {
  await rl?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function newCtx(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => {
    for (const conn of [...ctx.conns]) conn.shutdown();
  });
  return ctx;
}

async function open(t: TestContext, opts?: ConnOptsLike): Promise<Conn> {
  return Conn.connect(newCtx(t), `ws://127.0.0.1:${rl.ipv4.port}/`, opts).waitUntilReady(READY);
}

/** Waits (polling a condition, bounded) until `check` holds. */
async function until(check: () => boolean, label: string, ms = 3000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`${label}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('noPoll test_03: 14 bytes sent come back through read(14) as exactly those 14 bytes', async (t) => {
  const conn = Conn.connect(newCtx(t), `ws://127.0.0.1:${rl.ipv4.port}/`);
  assert.equal(conn.sendText('This is a test'), 14);
  const bytes = await conn.read(14, { timeoutMs: 3000 });
  assert.deepEqual(bytes, Buffer.from('This is a test'));
  assert.equal(conn.readPending, 0);
  assert.equal(conn.tryRead(14), null);
  await conn.close();
});

for (const chunk of [1024, 512, 137, 17]) {
  test(`noPoll test_04 (chunk ${chunk}): get-file read as a stream with read(${chunk}) is byte-identical`, async (t) => {
    const conn = await open(t);
    assert.equal(conn.sendText('get-file'), 8);
    const parts: Buffer[] = [];
    let total = 0;
    let empty = 0;
    while (total < fileContent.length) {
      const part = await conn.read(Math.min(chunk, fileContent.length - total), { timeoutMs: 1000 });
      assert.ok(part !== null, 'the connection ended');
      assert.ok(part.length <= chunk);
      if (part.length === 0 && ++empty > 100) assert.fail('more than 100 empty reads');
      parts.push(part);
      total += part.length;
    }
    assert.deepEqual(Buffer.concat(parts), fileContent);
    assert.equal(conn.readPending, 0);
    await conn.close();
    assert.equal(await conn.read(1), null, 'null once the connection ended and everything was read');
  });
}

test('noPoll test_04a: a non-blocking read with nothing received returns null at once; a blocking one times out empty', async (t) => {
  const conn = await open(t);
  assert.equal(conn.tryRead(10), null);
  for (const timeoutMs of [0, 300, 1000]) assert.equal(await conn.read(10, { block: false, timeoutMs }), null);
  const timedOut = await conn.read(10, { timeoutMs: 100 });
  assert.deepEqual(timedOut, Buffer.alloc(0));
  assert.equal(conn.isOk, true);
  // An aborted read takes nothing.
  const controller = new AbortController();
  const aborted = conn.read(5, { signal: controller.signal });
  controller.abort();
  await assert.rejects(aborted, { name: 'AbortError' });
  conn.sendText('abc');
  assert.deepEqual(await conn.read(3, { timeoutMs: 3000 }), Buffer.from('abc'));
  await conn.close();
});

test('stream reads and message handlers are exclusive; queued messages become bytes to read', async (t) => {
  const ctx = newCtx(t);
  const conn = await Conn.connect(ctx, `ws://127.0.0.1:${rl.ipv4.port}/`).waitUntilReady(READY);
  conn.onMessage = () => undefined;
  assert.throws(() => conn.tryRead(1), InvalidStateError);
  conn.onMessage = null;
  conn.sendText('first');
  await until(() => conn.readPending === 5, 'queued message');
  assert.equal(conn.getMsg()?.text, 'first');
  conn.sendText('queued');
  await until(() => conn.readPending === 6, 'queued message');
  assert.deepEqual(conn.tryRead(100), Buffer.from('queued'));
  conn.sendText('later');
  assert.deepEqual(await conn.read(5, { timeoutMs: 3000 }), Buffer.from('later'));
  assert.equal(conn.getMsg(), null, 'data goes to reads only, once read() was used');
  assert.throws(() => (conn.onMessageStream = () => undefined), InvalidStateError);
  await conn.close();
});

test('noPoll test_17: a frame written by hand in pieces is read after the header, after the mask, and mid-frame (10 of 22 bytes)', async (t) => {
  const ctx = newCtx(t);
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  t.after(() => listener.close());
  const message = Buffer.from('This is a test message'); // 22 bytes
  assert.equal(message.length, 22);
  const client = await rawUpgrade(listener.port);
  t.after(() => client.destroy());
  const server = await listener.accept({ timeoutMs: 3000 });
  await server.waitUntilReady(READY);
  const socket = server.socket!;
  const mask = Buffer.from([23, 24, 25, 26]);
  const frame = encodeFrame({ opcode: 0x1, payload: message, mask });
  assert.deepEqual(frame.subarray(0, 2), Buffer.from([0x81, 0x96]));
  // Round 0: the whole frame in one write.
  client.socket.write(frame);
  assert.deepEqual(await server.read(22, { timeoutMs: 3000 }), message);
  for (const round of ['after header', 'after mask', 'mid-frame'] as const) {
    const base = socket.bytesRead;
    client.socket.write(frame.subarray(0, 2));
    await until(() => socket.bytesRead >= base + 2, 'header bytes');
    if (round === 'after header') assert.equal(server.tryRead(22), null);
    client.socket.write(frame.subarray(2, 6));
    await until(() => socket.bytesRead >= base + 6, 'mask bytes');
    if (round === 'after mask') assert.equal(server.tryRead(22), null);
    client.socket.write(frame.subarray(6, 16)); // 10 payload bytes
    const got: Buffer[] = [];
    if (round === 'mid-frame') {
      // The frame is not complete (12 bytes are still to come), yet its first 10 bytes are readable.
      await until(() => server.readPending === 10, 'first 10 payload bytes');
      const first = server.tryRead(22);
      assert.equal(first?.length, 10);
      got.push(first!);
      assert.equal(server.tryRead(22), null);
    }
    client.socket.write(frame.subarray(16));
    const rest = await server.read(22 - (got[0]?.length ?? 0), { timeoutMs: 3000 });
    got.push(rest!);
    assert.deepEqual(Buffer.concat(got), message, round);
  }
  // Boundaries disappear: two messages read as one stream.
  client.socket.write(
    Buffer.concat([
      encodeFrame({ opcode: 0x1, payload: 'abc', mask }),
      encodeFrame({ opcode: 0x2, payload: 'def', mask }),
    ]),
  );
  assert.deepEqual(await server.read(6, { timeoutMs: 3000 }), Buffer.from('abcdef'));
  client.socket.write(encodeFrame({ opcode: 0x8, payload: closeBody(1000), mask }));
  assert.equal(await server.read(1, { timeoutMs: 3000 }), null);
});

test('noPoll test_04b: flooding a peer that stopped reading: sends are refused at the limit, pending bytes drain once it reads', async (t) => {
  const server = await RawWsServer.start();
  t.after(() => server.close());
  const limit = 256 * 1024;
  const conn = await Conn.connect(newCtx(t), `ws://127.0.0.1:${server.port}/`, {
    maxPendingWriteBytes: limit,
    writeLimitPolicy: 'refuse',
  }).waitUntilReady(READY);
  assert.deepEqual(conn.writeLimit, { maxPendingWriteBytes: limit, policy: 'refuse' });
  const peer = await server.nextConn();
  peer.socket.pause();
  const text = Array.from(
    { length: 40 },
    (_, i) => `1234-${i + 1}) klasdfkla akldfj klafklajetqkljt camión España`,
  ).join(' ');
  const bytes = Buffer.byteLength(text);
  let sent = 0;
  let result = bytes;
  while (sent < 20_000) {
    result = conn.sendText(text);
    if (result !== bytes) break;
    sent++;
  }
  assert.equal(result, 0, `no send was refused after ${sent} messages`);
  const pending = conn.pendingWriteBytes;
  assert.ok(pending > 0 && pending <= limit + bytes, `pending ${pending}`);
  assert.equal(conn.isOk, true);
  // Everything before the refusal is either in the kernel or pending; once the peer reads, the rest gets there.
  conn.completePendingWrite();
  const stillPending = conn.pendingWriteBytes;
  peer.socket.resume();
  await conn.flushWrites({ timeoutMs: 5000 });
  assert.equal(conn.pendingWriteBytes, 0);
  assert.equal(conn.completePendingWrite(), stillPending, 'completePendingWrite reports what drained');
  assert.equal(conn.completePendingWrite(), 0);
  assert.equal(conn.sendText(text), bytes, 'sends are accepted again');
  // The peer got every accepted message, in order, none of the refused one.
  let frames = 0;
  while (frames < sent + 1) {
    const frame = await peer.reader.next(3000);
    assert.equal(frame.payload.toString(), text);
    frames++;
  }
  await conn.close();
});

test('write limit, policy close: a send past the limit closes with 1008 and the peer sees that close frame', async (t) => {
  const server = await RawWsServer.start();
  t.after(() => server.close());
  const conn = await Conn.connect(newCtx(t), `ws://127.0.0.1:${server.port}/`, {
    maxPendingWriteBytes: 128 * 1024,
  }).waitUntilReady(READY);
  assert.equal(conn.writeLimit.policy, 'close');
  const peer = await server.nextConn();
  peer.socket.pause();
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  let result = 0;
  for (let i = 0; i < 10_000; i++) {
    result = conn.sendBinary(chunk);
    if (result !== chunk.length) break;
  }
  assert.equal(result, -1);
  assert.equal(conn.state, 'closing');
  assert.equal(conn.sendBinary(chunk), -1);
  peer.socket.resume();
  for (;;) {
    const frame = await peer.reader.next(3000);
    if (frame.opcode !== 0x8) continue;
    assert.equal(frame.payload.readUInt16BE(0), 1008);
    break;
  }
  const info = await within(conn.closed, 5000, 'close');
  assert.equal(info.code, 1008);
});

test('noPoll test_04c: a file streamed in 4096-byte text frames under a small write limit is copied identically', async (t) => {
  const target = join(dir, 'copy-test-04c.txt');
  const lines: string[] = [];
  for (let i = 0; lines.length < 5000; i++)
    lines.push(`${String(i).padStart(5, '0')} the quick brown fox jumps over the lazy dog\n`);
  const source = Buffer.from(lines.join(''), 'latin1');
  const conn = await open(t, { maxPendingWriteBytes: 8192, writeLimitPolicy: 'refuse' });
  // noPoll's client names the copy, which lands in the listener's file directory.
  const command = 'open-file: copy-test-04c.txt';
  assert.equal(conn.sendText(command), Buffer.byteLength(command));
  let total = 0;
  let refused = 0;
  for (let at = 0; at < source.length;) {
    const chunk = source.subarray(at, at + 4096);
    const written = conn.sendText(chunk);
    if (written === 0) {
      // noPoll: a short send is completed with nopoll_conn_flush_writes; here nothing was sent, so send it again.
      refused++;
      assert.ok(conn.pendingWriteBytes > 0);
      await conn.flushWrites({ timeoutMs: 10_000 });
      continue;
    }
    assert.equal(written, chunk.length);
    total += written;
    at += chunk.length;
  }
  assert.equal(total, source.length);
  if (refused === 0) t.diagnostic('the kernel took every write at once: no send was refused');
  await conn.flushWrites({ timeoutMs: 10_000 });
  assert.equal(conn.sendText('close-file'), 10);
  await until(() => existsSync(target) && readFileSync(target).length >= source.length, 'copied file');
  assert.deepEqual(readFileSync(target), source);
  await conn.close();
});
