/**
 * noPoll regression client (`test/nopoll-regression-client.c`, nopoll-api.md §4.2), the tests that talk to the
 * regression listener through the library's own client. The listener runs in this process on ephemeral loopback
 * ports. Tests whose bytes on the wire must be shaped by hand are in nopoll-raw-frames.test.ts; listener API
 * tests (43-46) in nopoll-listener-api.test.ts; the offline ones in nopoll-support.test.ts.
 *
 * Skipped, with the reason:
 * - test_04b, the errno half: a Node socket never makes a send short (it buffers), so there is no EWOULDBLOCK to
 *   check; the pending-bytes and flush halves are ported.
 * - test_06, test_06a, test_07, test_08, test_13, test_18, test_19, test_21, test_48 and the TLS halves of test_22
 *   and test_23 are in nopoll-tls.test.ts.
 * - test_20: pthread mutex handlers; JavaScript has no shared-memory threads to lock.
 * - test_26: needs the public internet (echo.websocket.org); tests here stay on loopback.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import {
  Conn,
  ConnOpts,
  Context,
  HandshakeError,
  MessageTooBigError,
  TimeoutError,
  type CloseInfo,
  type ConnOptsLike,
} from '../../src/index.js';
import {
  REGRESSION_CLOSE_CODE,
  REGRESSION_CLOSE_REASON,
  startRegressionListener,
  type RegressionListener,
} from '../../src/cli/regression-listener.js';
import { RawWsServer, ipv6LoopbackAvailable, within } from '../helpers/net.js';

const READY = { timeoutMs: 5000 };
const READ = { timeoutMs: 3000 };
const MiB = 1024 * 1024;

let rl: RegressionListener;
let dir: string;
let fileContent: Buffer;
let ipv6 = false;

before(async () => {
  // The file served by get-file (test_04): ASCII so each 1024-byte slice is valid UTF-8, and not a multiple of
  // 1024 bytes so the last frame is short.
  dir = mkdtempSync(join(tmpdir(), 'nopoll-regression-'));
  const lines: string[] = [];
  for (let i = 0; lines.join('').length < 5000; i++)
    lines.push(`line ${String(i).padStart(4, '0')}: the quick brown fox ${'#'.repeat(i % 23)}\n`);
  fileContent = Buffer.from(lines.join('').slice(0, 5000), 'latin1');
  const file = join(dir, 'get-file.txt');
  writeFileSync(file, fileContent);
  rl = await startRegressionListener({ port4: 0, port6: 0, host4: '127.0.0.1', getFile: file, fileDir: dir });
  ipv6 = rl.ipv6 !== null && (await ipv6LoopbackAvailable());
});

after(async () => {
  await rl?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function url(): string {
  return `ws://127.0.0.1:${rl.ipv4.port}/`;
}

/** A fresh context whose connections are all dropped when the test ends, whatever happened. */
function newCtx(t: TestContext, ctx = new Context()): Context {
  t.after(() => {
    for (const conn of [...ctx.conns]) conn.shutdown();
  });
  return ctx;
}

/** Connects to the regression listener and waits for the handshake. */
async function open(t: TestContext, opts?: ConnOptsLike, ctx = newCtx(t)): Promise<Conn> {
  const conn = Conn.connect(ctx, url(), opts);
  return conn.waitUntilReady(READY);
}

/** The listener's side of a client connection (matched by the client's local port). */
function serverSideOf(client: Conn): Conn {
  const port = client.socket?.localPort;
  const found = rl.ctx.forEachConn((c) => c.port === port);
  assert.ok(found, 'the listener has no connection for this client');
  return found;
}

/** Sends `text` and checks the echo (noPoll's test_sending_and_check_echo). */
async function echo(conn: Conn, text: string): Promise<void> {
  assert.equal(conn.sendText(text), Buffer.byteLength(text));
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.isText, true);
  assert.equal(msg.text, text);
}

/** A stream view over received messages or frames, as noPoll's nopoll_conn_read(buffer, n): up to n bytes. */
class StreamView {
  readonly #conn: Conn;
  #buffer: Buffer = Buffer.alloc(0);
  /** Largest message (or frame) payload seen. */
  largest = 0;
  constructor(conn: Conn) {
    this.#conn = conn;
  }
  async read(n: number): Promise<Buffer> {
    while (this.#buffer.length === 0) {
      const msg = await this.#conn.nextMsg({ timeoutMs: 1000 });
      assert.ok(msg.isText || (msg.isFragment && msg.opcode === 0), 'get-file streams text frames');
      this.largest = Math.max(this.largest, msg.size);
      this.#buffer = msg.payload;
    }
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }
}

test('noPoll test_01: a new context has no connections; connect registers one, becomes ready, closes', async (t) => {
  const ctx = newCtx(t);
  assert.equal(ctx.connCount, 0);
  const conn = Conn.connect(ctx, url());
  assert.equal(conn.isOk, true);
  assert.equal(ctx.connCount, 1);
  await conn.waitUntilReady(READY);
  assert.equal(conn.isReady, true);
  assert.equal(conn.role, 'client');
  const info = await conn.close();
  assert.equal(info.wasClean, true);
  assert.equal(conn.isOk, false);
  assert.equal(ctx.connCount, 0);
});

test('noPoll test_02: text sent right after connect (before the handshake) is echoed', async (t) => {
  const ctx = newCtx(t);
  const conn = Conn.connect(ctx, url());
  assert.equal(conn.isReady, false);
  assert.equal(conn.sendText('This is a test'), 14);
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.text, 'This is a test');
  await conn.close();
});

test('noPoll test_02a: the same echo over IPv6 (::1)', async (t) => {
  if (!ipv6) {
    t.skip('::1 is not available on this machine');
    return;
  }
  const ctx = newCtx(t);
  const conn = Conn.connect(ctx, { host: '::1', port: rl.ipv6!.port, ipv6: true });
  assert.equal(conn.sendText('This is a test'), 14);
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.text, 'This is a test');
  assert.equal(conn.socket?.remoteAddress, '::1');
  await conn.close();
});

test('noPoll test_02b: a client PING mid-stream is answered and does not disturb the echo stream', async (t) => {
  const conn = await open(t);
  await echo(conn, 'This is a test');
  let pongs = 0;
  conn.onPong = (_conn, payload) => {
    pongs++;
    assert.equal(payload.toString(), 'are you there');
  };
  assert.equal(conn.ping('are you there'), true);
  await echo(conn, 'This is a test');
  assert.equal(pongs, 1);
  // And the other way: the listener's `ping` command pings us; we answer and the stream goes on.
  let pings = 0;
  conn.onPing = () => pings++;
  assert.equal(conn.sendText('ping'), 4);
  await echo(conn, 'This is a test (after ping)');
  assert.equal(pings, 1);
  assert.equal(conn.getMsg(), null);
  await conn.close();
});

test('noPoll test_03: 14 bytes sent come back as exactly those 14 bytes', async (t) => {
  const ctx = newCtx(t);
  const conn = Conn.connect(ctx, url());
  assert.equal(conn.sendText('This is a test'), 14);
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.size, 14);
  assert.deepEqual(msg.payload, Buffer.from('This is a test'));
  await conn.close();
});

for (const chunk of [1024, 512, 137, 17]) {
  test(`noPoll test_04 (chunk ${chunk}): get-file streams the file in <=1024-byte text frames, byte-identical`, async (t) => {
    // Frames are delivered one by one, so their size is checked whether the listener sends one message per
    // piece (noPoll) or one message in 1024-byte frames.
    const conn = await open(t, { deliverFragments: true });
    assert.equal(conn.sendText('get-file'), 8);
    const view = new StreamView(conn);
    const parts: Buffer[] = [];
    let total = 0;
    while (total < fileContent.length) {
      const part = await view.read(chunk);
      assert.ok(part.length > 0 && part.length <= chunk);
      parts.push(part);
      total += part.length;
    }
    assert.equal(total, fileContent.length);
    assert.deepEqual(Buffer.concat(parts), fileContent);
    assert.ok(view.largest <= 1024, `a frame of ${view.largest} bytes`);
    assert.equal(conn.getMsg(), null);
    await conn.close();
  });
}

test('noPoll test_04 (UTF-8 file): a file whose characters straddle the 1024-byte cuts arrives byte-identical', async (t) => {
  // noPoll streams its own nopoll-regression-client.c, which holds UTF-8 text ("camión", "España"). Each text
  // message must be valid UTF-8 (RFC 6455 §5.6, §8.1), so the listener has to cut on character boundaries or
  // send one fragmented message; either way the bytes must all arrive and the connection must stay up.
  // One ASCII byte, then two-byte characters: the one at bytes 1023-1024 straddles the first cut.
  const content = Buffer.from(`x${'ñ'.repeat(1200)}${' camión España'.repeat(150)}`, 'utf8');
  const first = content.subarray(0, 1024);
  assert.equal(Buffer.from(first.toString('utf8')).equals(first), false, 'a character straddles byte 1024');
  const file = join(dir, 'get-file-utf8.txt');
  writeFileSync(file, content);
  const utf8 = await startRegressionListener({ port4: 0, port6: null, host4: '127.0.0.1', getFile: file });
  t.after(() => utf8.close());
  const listenerErrors: unknown[] = [];
  utf8.ctx.onError = (error) => listenerErrors.push(error);
  const ctx = newCtx(t);
  // Frames are delivered one by one so their size can be checked whatever the listener chose.
  const conn = await Conn.connect(ctx, `ws://127.0.0.1:${utf8.ipv4.port}/`, { deliverFragments: true }).waitUntilReady(
    READY,
  );
  assert.equal(conn.sendText('get-file'), 8);
  const view = new StreamView(conn);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    while (total < content.length) {
      const part = await view.read(1024);
      parts.push(part);
      total += part.length;
    }
  } catch (error) {
    assert.fail(
      `the stream stopped after ${total} of ${content.length} bytes (${String(error)}, close status ${conn.closeStatus}); ` +
        `listener handler errors: ${listenerErrors.map(String).join('; ') || 'none'}`,
    );
  }
  assert.deepEqual(Buffer.concat(parts), content);
  assert.ok(view.largest <= 1024, `a frame of ${view.largest} bytes`);
  assert.equal(conn.isOk, true);
  await conn.close();
});

test('noPoll test_04a: with no message available getMsg() returns null at once, and a bounded wait times out', async (t) => {
  const ctx = newCtx(t);
  const conn = Conn.connect(ctx, url());
  assert.equal(conn.getMsg(), null);
  await conn.waitUntilReady(READY);
  const started = performance.now();
  for (let i = 0; i < 3; i++) assert.equal(conn.getMsg(), null);
  assert.ok(performance.now() - started < 50, 'getMsg() blocked');
  await assert.rejects(conn.nextMsg({ timeoutMs: 300 }), TimeoutError);
  assert.equal(conn.isOk, true);
  await echo(conn, 'still works');
  await conn.close();
});

test('noPoll test_04b: flooding a listener that reads slowly: pending bytes drain with flushWrites()', async (t) => {
  // The listener stops reading for 100 ms after each "1234-1) " message (noPoll blocks its loop instead).
  const sentence =
    'klasdfkla akldfj klafklajetqkljt kjlwergklwejry90246tkgwr kñljwrglkjdfg lksdjglskg slkg camión adsfasdf pruébasdfad España';
  const text = Array.from({ length: 40 }, (_, i) => `1234-${i + 1}) ${sentence}`).join(' ');
  const bytes = Buffer.byteLength(text);
  assert.ok(bytes > 5000);
  const ctx = newCtx(t);
  const conn = await open(t, undefined, ctx);
  let pendingSeen = 0;
  for (let i = 0; i < 100; i++) {
    assert.equal(conn.sendText(text), bytes);
    pendingSeen = Math.max(pendingSeen, conn.pendingWriteBytes);
  }
  if (pendingSeen === 0) t.diagnostic('the kernel took every write at once: flushWrites() had nothing to wait for');
  await conn.flushWrites({ timeoutMs: 3000 });
  assert.equal(conn.pendingWriteBytes, 0);
  assert.equal(conn.isOk, true);
  await conn.close();
  // Then a new connection cleans the listener up.
  const second = await open(t, undefined, ctx);
  assert.equal(second.sendText('release-message'), 15);
  await echo(second, 'This is a test');
  await second.close();

  // Loopback kernel buffers usually take all of that. Against a peer that does not read at all they fill up, the
  // writes wait in the socket, and flushWrites() resolves only once the peer reads again.
  const server = await RawWsServer.start();
  t.after(() => server.close());
  const flooded = await Conn.connect(ctx, `ws://127.0.0.1:${server.port}/`).waitUntilReady(READY);
  const peer = await server.nextConn();
  peer.socket.pause();
  let sent = 0;
  while (sent < 4000 && flooded.pendingWriteBytes === 0) {
    assert.equal(flooded.sendText(text), bytes);
    sent++;
  }
  assert.ok(flooded.pendingWriteBytes > 0, `nothing pending after ${sent} messages`);
  const flushing = flooded.flushWrites({ timeoutMs: 3000 });
  let flushed = false;
  flushing.then(
    () => (flushed = true),
    () => undefined,
  );
  await delay(50);
  assert.equal(flushed, false, 'flushWrites() resolved while the peer was not reading');
  peer.socket.resume();
  try {
    await flushing;
  } catch (error) {
    assert.fail(`flushWrites() failed (${String(error)}) with ${flooded.pendingWriteBytes} bytes still pending`);
  }
  assert.equal(flooded.pendingWriteBytes, 0);
  await flooded.close();
});

test('noPoll test_04c: a file streamed in 4096-byte text frames through open-file / close-file is copied identically', async (t) => {
  const target = join(dir, 'copy-test-04c.txt');
  const lines: string[] = [];
  for (let i = 0; lines.length < 2500; i++)
    lines.push(`${String(i).padStart(5, '0')} the quick brown fox jumps over the lazy dog\n`);
  const source = Buffer.from(lines.join(''), 'latin1');
  const conn = await open(t);
  // noPoll's client names the copy, which lands in the listener's file directory.
  const command = 'open-file: copy-test-04c.txt';
  assert.equal(conn.sendText(command), Buffer.byteLength(command));
  let total = 0;
  let flushRequired = false;
  for (let at = 0; at < source.length; at += 4096) {
    const chunk = source.subarray(at, at + 4096);
    assert.equal(conn.sendText(chunk), chunk.length);
    if (conn.pendingWriteBytes > 0) flushRequired = true;
    await conn.flushWrites({ timeoutMs: 3000 });
    total += chunk.length;
  }
  assert.equal(total, source.length);
  if (!flushRequired) t.diagnostic('no write was ever pending: the flush path was not exercised');
  assert.equal(conn.sendText('close-file'), 10);
  let copy = Buffer.alloc(0);
  for (let i = 0; i < 50; i++) {
    if (existsSync(target)) {
      copy = readFileSync(target);
      if (copy.length >= source.length) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(copy.length, total);
  assert.deepEqual(copy, source);
  // Back to echo mode after close-file.
  await echo(conn, 'This is a test');
  await conn.close();
});

test('noPoll test_05: 322 bytes of UTF-8 text are echoed identically', async (t) => {
  const text =
    ' klasdfkla akldfj klafklajetqkljt kjlwergklwejry90246tkgwr kñljwrglkjdfg lksdjglskg slkg camión adsfasdf ' +
    'pruébasdfad España asdfaklsjdflk jasfkjaslfjetql tjñqgkjadgklj aglkjalk jafkjaslfkjaskj asjaslfkjasfklajg ' +
    'klajefñlqkjetrlkqj lqkj ñlskdfjañlk asldfjñlafj añlfj ñdfjkjt4ñqlkjt lkj34tlkjañlgjañlkgjañlkgjw';
  assert.equal(Buffer.byteLength(text), 322);
  const ctx = newCtx(t);
  const conn = Conn.connect(ctx, url());
  assert.equal(conn.sendText(text), 322);
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.size, 322);
  assert.equal(msg.text, text);
  await conn.close();
});

test('noPoll test_09: protocol version 12 is refused with 426 and the client never becomes ready', async (t) => {
  const ctx = newCtx(t);
  ctx.protocolVersion = 12;
  const conn = Conn.connect(ctx, url());
  await assert.rejects(conn.waitUntilReady(READY), (error: unknown) => {
    assert.ok(error instanceof HandshakeError, `got ${String(error)}`);
    assert.equal(error.status, 426);
    return true;
  });
  assert.equal(conn.isReady, false);
  assert.equal(conn.isOk, false);
  assert.equal(ctx.connCount, 0);
});

test('noPoll test_10: Origin http://deny.aspl.es is refused by on_open with 403', async (t) => {
  const ctx = newCtx(t);
  const conn = Conn.connect(ctx, url(), { origin: 'http://deny.aspl.es' });
  await assert.rejects(conn.waitUntilReady(READY), (error: unknown) => {
    assert.ok(error instanceof HandshakeError, `got ${String(error)}`);
    assert.equal(error.status, 403);
    return true;
  });
  assert.equal(conn.isReady, false);
  assert.equal(conn.isOk, false);
  // Another origin is fine.
  const allowed = await open(t, { origin: 'http://www.aspl.es' });
  await echo(allowed, 'This is a test');
  await allowed.close();
});

test('noPoll test_11: unref the context before closing a ready connection: no crash, the connection still works', async (t) => {
  const ctx = newCtx(t);
  const conn = await Conn.connect(ctx, url()).waitUntilReady(READY);
  ctx.unref();
  assert.ok(ctx.refCount >= 1, 'the connection keeps the context alive');
  await echo(conn, 'This is a test');
  const info = await conn.close();
  assert.equal(info.wasClean, true);
  assert.equal(conn.isOk, false);
});

test('noPoll test_12: 200 sequential connect, ready, close cycles', async (t) => {
  const ctx = newCtx(t);
  const baseline = rl.ctx.conns.size;
  const started = performance.now();
  for (let i = 0; i < 200; i++) {
    const conn = Conn.connect(ctx, url());
    await conn.waitUntilReady(READY);
    const info = await conn.close();
    assert.equal(info.wasClean, true, `cycle ${i}`);
  }
  t.diagnostic(`200 cycles in ${Math.round(performance.now() - started)} ms`);
  assert.equal(ctx.connCount, 0);
  // The listener does not keep the closed connections either.
  for (let i = 0; i < 40 && rl.ctx.conns.size > baseline; i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(rl.ctx.conns.size <= baseline, `${rl.ctx.conns.size} connections left on the listener`);
});

test('noPoll test_14: a text fragment "Hel" then sendText("lo") is joined by the listener into "Hello"', async (t) => {
  const conn = await open(t);
  assert.equal(conn.sendTextFragment('Hel'), 3);
  assert.equal(conn.sendText('lo'), 2);
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.isText, true);
  assert.equal(msg.text, 'Hello');
  // The fragmented message is over: a plain message goes out normally again.
  await echo(conn, 'This is a test');
  await conn.close();

  // The same two calls made before the handshake completes are queued and joined the same way.
  const early = Conn.connect(newCtx(t), url());
  assert.equal(early.sendTextFragment('Hel'), 3);
  assert.equal(early.sendText('lo'), 2);
  assert.equal((await early.nextMsg(READ)).text, 'Hello');
  await early.close();
});

test('noPoll test_15: getMsg() with nothing to read returns null three times while the connection stays ok', async (t) => {
  const conn = await open(t);
  for (let i = 0; i < 3; i++) {
    assert.equal(conn.getMsg(), null);
    assert.equal(conn.isOk, true);
    assert.equal(conn.isReady, true);
  }
  await echo(conn, 'This is a test');
  await conn.close();
});

test("noPoll test_22: a socket closed behind the client's back fires on_close (1006) and is no longer ok", async (t) => {
  const ctx = newCtx(t);
  const conn = await Conn.connect(ctx, url()).waitUntilReady(READY);
  const calls: CloseInfo[] = [];
  conn.onClose = (c, info) => {
    assert.equal(c, conn);
    calls.push(info);
  };
  conn.socket!.destroy();
  const info = await within(conn.closed, 3000, 'on_close');
  assert.equal(conn.getMsg(), null);
  assert.equal(conn.isOk, false);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.code, 1006);
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
  assert.equal(conn.closeStatus, 1006);
  assert.equal(ctx.connCount, 0);
  assert.equal(conn.sendText('too late'), -1);

  // The same while the handshake is still running: on_close still fires exactly once.
  const early = Conn.connect(ctx, url());
  const earlyCalls: CloseInfo[] = [];
  early.onClose = (_c, i) => earlyCalls.push(i);
  early.socket!.destroy();
  await within(early.closed, 3000, 'on_close during the handshake');
  await assert.rejects(early.waitUntilReady(READY));
  assert.equal(early.isOk, false);
  assert.equal(earlyCalls.length, 1);
  assert.equal(earlyCalls[0]!.code, 1006);
  assert.equal(ctx.connCount, 0);
});

test("noPoll test_23: the listener's connection close count changes after a connection closes", async (t) => {
  async function closeCount(conn: Conn): Promise<number> {
    assert.equal(conn.sendText('get-connection-close-count'), 26);
    const msg = await conn.nextMsg(READ);
    assert.match(msg.text, /^\d+$/);
    return Number(msg.text);
  }
  const first = await open(t);
  const before = await closeCount(first);
  await first.close();
  const second = await open(t);
  // The listener sees the end of TCP a moment after the client does: ask again for a short while.
  let afterwards = await closeCount(second);
  for (let i = 0; i < 20 && afterwards === before; i++) {
    await new Promise((r) => setTimeout(r, 25));
    afterwards = await closeCount(second);
  }
  assert.notEqual(afterwards, before);
  assert.ok(afterwards > before);
  await second.close();
});

test("noPoll test_24: a cookie set on the client is what the listener's get-cookie returns", async (t) => {
  const cookie = 'theme=light; sessionToken=abc123';
  const opts = new ConnOpts().setCookie(cookie);
  const conn = await open(t, opts);
  assert.equal(conn.cookie, cookie);
  assert.equal(serverSideOf(conn).cookie, cookie);
  assert.equal(conn.sendText('get-cookie'), 10);
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.text, cookie);
  await conn.close();
});

test('noPoll test_25: very long cookies (about 1000 to 1900 bytes) still let the connection come up', async (t) => {
  const words =
    'theme=light; sessionToken=abc123 lkjsadfkljasdf lkjaseflkawjet klajw glkajy240u 4234lkj y3j 3q5yñkl aegar glkejry b ';
  const block = '2'.repeat(22) + '1'.repeat(24) + '3'.repeat(25) + '4'.repeat(25);
  const tail = 'asd3' + '5'.repeat(140) + 'a' + 'f'.repeat(10);
  const cookies = [
    words.repeat(9),
    block.repeat(9) + tail + '-23345',
    block.repeat(9) + tail + '-233',
    block.repeat(9) + tail.slice(0, -3),
    block.repeat(19) + tail,
  ];
  const ctx = newCtx(t);
  for (const cookie of cookies) {
    assert.ok(cookie.length >= 1000 && cookie.length <= 2100, `cookie of ${cookie.length} bytes`);
    const conn = await open(t, { cookie }, ctx);
    assert.equal(conn.isReady, true);
    // Header values lose surrounding whitespace on the way (RFC 7230 §3.2.4).
    assert.equal(conn.sendText('get-cookie'), 10);
    assert.equal((await conn.nextMsg(READ)).text, cookie.trim());
    await conn.close();
  }
});

test('noPoll test_27: subprotocols: chat-protocol is accepted as is; hello-protocol is answered hello-protocol-response', async (t) => {
  const ctx = newCtx(t);
  const chat = await open(t, { protocols: ['chat-protocol'], origin: 'http://www.aspl.es' }, ctx);
  await echo(chat, 'This is a test');
  assert.equal(chat.acceptedProtocol, 'chat-protocol');
  assert.equal(chat.requestedUrl, '/');
  await chat.close();

  // noPoll offers only hello-protocol and accepts the answer hello-protocol-response, which RFC 6455 §4.1 forbids
  // (a client must fail a connection whose subprotocol it did not offer); the RFC-valid form offers both, and
  // the listener picks the response.
  const hello = await open(
    t,
    { protocols: ['hello-protocol', 'hello-protocol-response'], origin: 'http://www.aspl.es' },
    ctx,
  );
  await echo(hello, 'This is a test');
  assert.equal(hello.acceptedProtocol, 'hello-protocol-response');
  await hello.close();

  // Offered alone, hello-protocol is echoed back like any other.
  const single = await open(t, { protocols: ['hello-protocol'], origin: 'http://www.aspl.es' }, ctx);
  assert.equal(single.acceptedProtocol, 'hello-protocol');
  await single.close();
});

test('noPoll test_28: "close with message" closes with the listener\'s status and reason', async (t) => {
  const conn = await open(t);
  assert.equal(conn.sendText('close with message'), 18);
  const info = await within(conn.closed, 3000, 'close');
  assert.equal(conn.isOk, false);
  assert.equal(conn.getMsg(), null);
  assert.equal(conn.closeStatus, REGRESSION_CLOSE_CODE);
  assert.equal(REGRESSION_CLOSE_CODE, 4048);
  assert.equal(conn.closeReason, REGRESSION_CLOSE_REASON);
  assert.equal(conn.closeReason, 'Hey, this is a very reasonable error message');
  assert.equal(info.code, REGRESSION_CLOSE_CODE);
  assert.equal(info.wasClean, true);
});

test('noPoll test_29: raw extra headers "\\r\\nfoo: bar" are sent and the connection becomes ready', async (t) => {
  // The accepted side's header list is looked at in on_ready, where it is always available.
  const seen = new Map<Conn, string | null | undefined>();
  rl.ctx.onReady = (accepted) => {
    seen.set(accepted, accepted.handshake.headers?.get('foo'));
  };
  t.after(() => {
    rl.ctx.onReady = null;
  });
  const conn = await open(t, new ConnOpts().setExtraHeaders('\r\nfoo: bar'));
  assert.equal(conn.isReady, true);
  const server = serverSideOf(conn);
  assert.equal(seen.get(server), 'bar');
  await echo(conn, 'This is a test');
  await conn.close();
});

test('noPoll test_29: malformed extra headers throw TypeError and leave no connection registered', async (t) => {
  const ctx = newCtx(t);
  for (const extraHeaders of ['\r\nfoo bar', '\r\nHost: elsewhere', '\r\nfoo: b\u0000r']) {
    assert.throws(() => Conn.connect(ctx, url(), { extraHeaders }), TypeError, JSON.stringify(extraHeaders));
  }
  assert.throws(() => Conn.connect(ctx, url(), { cookie: 'a=b\r\nX-Injected: 1' }), TypeError);
  // Nothing was created: the context counts no connection and closes at once.
  const left = ctx.connCount;
  const closed = await within(ctx.close(), 1000, 'ctx.close()').then(
    () => true,
    () => false,
  );
  assert.equal(left, 0, `${left} connection(s) left registered`);
  assert.equal(closed, true, 'ctx.close() did not settle');
});

test('noPoll test_36: set-broken-socket drops the connection; a second connection still works', async (t) => {
  const ctx = newCtx(t);
  const conn = await open(t, undefined, ctx);
  assert.equal(conn.sendText('set-broken-socket'), 17);
  const info = await within(conn.closed, 3000, 'broken socket');
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
  assert.equal(conn.isOk, false);
  const second = await open(t, undefined, ctx);
  await echo(second, 'This is a test');
  await second.close();
});

test('noPoll test_40: frame-size limits: ctx default 16 MiB, bad values ignored, an echo over the conn limit fails it with 1009', async (t) => {
  const ctx = newCtx(t);
  assert.equal(ctx.maxFrameSize, 16 * MiB);
  for (const bad of [0, -1, 2147483647]) {
    ctx.maxFrameSize = bad;
    assert.equal(ctx.maxFrameSize, 16 * MiB, `ctx.maxFrameSize = ${bad}`);
  }
  assert.equal(new Context({ maxFrameSize: 0 }).maxFrameSize, 16 * MiB);
  ctx.maxFrameSize = 32;
  assert.equal(ctx.maxFrameSize, 32);
  const opts = new ConnOpts().setMaxFrameSize(64);
  assert.equal(opts.values.maxFrameSize, 64);

  // Without opts a connection takes the context's limit.
  const plain = Conn.connect(ctx, url());
  assert.equal(plain.maxFrameSize, 32);
  plain.shutdown();

  const conn = await open(t, opts, ctx);
  assert.equal(conn.maxFrameSize, 64);
  const server = serverSideOf(conn);
  assert.equal(conn.sendText('x'.repeat(81)), 81);
  const info = await within(conn.closed, 3000, 'client failure');
  assert.ok(info.error instanceof MessageTooBigError, `got ${String(info.error)}`);
  assert.equal(info.error.closeCode, 1009);
  assert.equal(conn.isOk, false);
  // The close frame the client sent carried 1009.
  await within(server.closed, 3000, 'server side closed');
  assert.equal(server.closeStatus, 1009);
});

test('noPoll test_40: ConnOpts.setMaxFrameSize ignores 0, -1 and 2147483647, keeping the value already set', async (t) => {
  // noPoll: "Any other value is discarded, keeping the current configuration."
  const changed: string[] = [];
  for (const bad of [0, -1, 2147483647]) {
    const opts = new ConnOpts().setMaxFrameSize(64).setMaxFrameSize(bad);
    if (opts.values.maxFrameSize !== 64)
      changed.push(`setMaxFrameSize(${bad}) left ${String(opts.values.maxFrameSize)}`);
  }
  assert.deepEqual(changed, []);
  const opts = new ConnOpts().setMaxFrameSize(64);
  const conn = await open(t, opts);
  assert.equal(conn.maxFrameSize, 64);
  await conn.close();
});

test('noPoll test_42: a binary fragment "Hel" then sendBinary("lo") comes back as binary "Hello"', async (t) => {
  const conn = await open(t);
  assert.equal(conn.sendBinaryFragment(Buffer.from('Hel')), 3);
  assert.equal(conn.sendBinary(Buffer.from('lo')), 2);
  const msg = await conn.nextMsg(READ);
  assert.equal(msg.isBinary, true);
  assert.deepEqual(msg.payload, Buffer.from('Hello'));
  await conn.close();
});
