/**
 * noPoll regression client (`test/nopoll-regression-client.c`, nopoll-api.md §4.2), the tests whose bytes on the
 * wire are shaped or inspected by hand: split headers and payloads, oversized length fields, a hand-written
 * server. The raw peers are in test/helpers/net.ts and never use the library's framing.
 *
 * Pauses are shorter than noPoll's (50-100 ms instead of 400 ms to 5 s): what matters is that the pieces arrive
 * in separate reads, not how long the gap is.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Conn, Context, HandshakeError, Listener, ProtocolError } from '../../src/index.js';
import { startRegressionListener, type RegressionListener } from '../../src/cli/regression-listener.js';
import {
  RawWsServer,
  clientFrame,
  closeBody,
  encodeFrame,
  expectedAccept,
  rawUpgrade,
  within,
  writeInPieces,
  type RawClient,
} from '../helpers/net.js';

const READY = { timeoutMs: 5000 };
const READ = { timeoutMs: 3000 };
const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const CLOSE = 0x8;

let rl: RegressionListener;

before(async () => {
  rl = await startRegressionListener({ port4: 0, port6: null, host4: '127.0.0.1' });
});

after(async () => {
  await rl?.close();
});

function url(port = rl.ipv4.port): string {
  return `ws://127.0.0.1:${port}/`;
}

/** A fresh context whose connections are dropped when the test ends, whatever happened. */
function newCtx(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => {
    for (const conn of [...ctx.conns]) conn.shutdown();
  });
  return ctx;
}

/** A raw client upgraded on the regression listener, destroyed when the test ends. */
async function rawClient(t: TestContext): Promise<RawClient> {
  const client = await rawUpgrade(rl.ipv4.port);
  t.after(() => client.destroy());
  return client;
}

/** The regression listener's connection for a raw client (matched by its local port). */
function serverSideOf(client: RawClient): Conn {
  const port = client.socket.localPort;
  const found = rl.ctx.forEachConn((c) => c.port === port);
  assert.ok(found, 'the listener has no connection for this client');
  return found;
}

/** Runs the closing handshake from a raw client and waits for the server to end TCP. */
async function closeRaw(client: RawClient): Promise<void> {
  client.socket.write(encodeFrame({ opcode: CLOSE, payload: closeBody(1000), mask: randomBytes(4) }));
  const frame = await client.reader.next();
  assert.equal(frame.opcode, CLOSE);
  assert.equal(frame.payload.readUInt16BE(0), 1000);
  await client.reader.whenEnded();
  client.destroy();
}

/** A client of the regression listener echoes `text`. */
async function checkEcho(t: TestContext, text = 'This is a test'): Promise<void> {
  const conn = await Conn.connect(newCtx(t), url()).waitUntilReady(READY);
  assert.equal(conn.sendText(text), Buffer.byteLength(text));
  assert.equal((await conn.nextMsg(READ)).text, text);
  await conn.close();
}

test('noPoll test_14: on the wire, "Hel" goes out as TEXT with FIN=0 and "lo" as CONTINUATION with FIN=1', async (t) => {
  const server = await RawWsServer.start();
  t.after(() => server.close());
  const conn = await Conn.connect(newCtx(t), url(server.port)).waitUntilReady(READY);
  const peer = await server.nextConn();
  assert.equal(conn.sendTextFragment('Hel'), 3);
  assert.equal(conn.sendText('lo'), 2);
  const first = await peer.reader.next();
  const second = await peer.reader.next();
  assert.deepEqual(
    { fin: first.fin, opcode: first.opcode, masked: first.masked, payload: first.payload.toString() },
    { fin: false, opcode: TEXT, masked: true, payload: 'Hel' },
  );
  assert.deepEqual(
    { fin: second.fin, opcode: second.opcode, masked: second.masked, payload: second.payload.toString() },
    { fin: true, opcode: CONTINUATION, masked: true, payload: 'lo' },
  );
  const info = await conn.close();
  assert.equal(info.wasClean, true);
});

test('noPoll test_42: on the wire, the binary fragment has FIN=0 and the end goes out as CONTINUATION with FIN=1', async (t) => {
  const server = await RawWsServer.start();
  t.after(() => server.close());
  const conn = await Conn.connect(newCtx(t), url(server.port)).waitUntilReady(READY);
  const peer = await server.nextConn();
  assert.equal(conn.sendBinaryFragment(Buffer.from('Hel')), 3);
  assert.equal(conn.sendBinary(Buffer.from('lo')), 2);
  const first = await peer.reader.next();
  const second = await peer.reader.next();
  assert.deepEqual([first.fin, first.opcode, first.payload.toString()], [false, BINARY, 'Hel']);
  assert.deepEqual([second.fin, second.opcode, second.payload.toString()], [true, CONTINUATION, 'lo']);
  await conn.close();
});

test('noPoll test_16: frames whose header and payload arrive 50 ms apart are echoed; the connection stays ok', async (t) => {
  const client = await rawClient(t);
  const server = serverSideOf(client);
  for (let round = 0; round < 10; round++) {
    const frame = clientFrame(TEXT, 'This is a test');
    // Header (2 bytes) and masking key (4) first, the payload after a pause.
    await client.writeInPieces(frame, [6], 50);
    const echo = await client.reader.next();
    assert.deepEqual([echo.fin, echo.opcode, echo.masked], [true, TEXT, false], `round ${round}`);
    assert.equal(echo.payload.toString(), 'This is a test');
    assert.equal(server.isOk, true);
  }
  assert.equal(client.reader.ended, false);
  assert.equal(client.reader.pending, 0);
  await closeRaw(client);
});

test('noPoll test_17: a 22-byte frame written as header, mask, 10 bytes, pause, 12 bytes reaches the accepted side whole', async (t) => {
  const ctx = newCtx(t);
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  t.after(() => listener.close());
  const client = Conn.connect(ctx, url(listener.port));
  const accepted = await listener.accept({ timeoutMs: 3000 });
  await Promise.all([client.waitUntilReady(READY), accepted.waitUntilReady(READY)]);
  assert.equal(accepted.role, 'listener');
  assert.equal(accepted.listener, listener);

  const message = 'This is a test message';
  assert.equal(message.length, 22);
  const mask = Buffer.from([23, 24, 25, 26]);
  const masked = Buffer.from(message);
  for (let i = 0; i < masked.length; i++) masked[i] = masked[i]! ^ mask[i & 3]!;
  // noPoll's four rounds: plain, reading in the middle, reading after the header, reading after the mask.
  for (const round of ['plain', 'middle', 'after header', 'after mask']) {
    // First a message through the library, to test the link.
    assert.equal(client.sendText(message), 22);
    assert.equal((await accepted.nextMsg(READ)).text, message);

    // Then the same message by hand on the client's socket.
    const socket = client.socket!;
    socket.write(Buffer.from([0x81, 0x80 | 22]));
    if (round === 'after header') {
      await delay(50);
      assert.equal(accepted.getMsg(), null, round);
    }
    socket.write(mask);
    if (round === 'after mask') {
      await delay(50);
      assert.equal(accepted.getMsg(), null, round);
    }
    socket.write(masked.subarray(0, 10));
    await delay(50);
    if (round === 'middle') {
      // noPoll's stream read returns the 10 bytes here; messages are delivered whole, so nothing yet.
      assert.equal(accepted.getMsg(), null, round);
    }
    assert.equal(accepted.isOk, true);
    socket.write(masked.subarray(10));
    const msg = await accepted.nextMsg(READ);
    assert.equal(msg.size, 22, round);
    assert.equal(msg.text, message, round);
    assert.equal(accepted.getMsg(), null);
  }
  const info = await client.close();
  assert.equal(info.wasClean, true);
  await within(accepted.closed, 3000, 'accepted side closed');
  assert.equal(accepted.closeStatus, 1000);
});

const MESSAGE_30 =
  'This is content to check this regression test 30, content for a reply that send a header that is partially sent...'.repeat(
    19,
  );

for (const [number, cut] of [
  [30, 2],
  [31, 1],
  [32, 3],
  [33, 4],
  [34, 5],
  [35, 8],
] as const) {
  test(`noPoll test_${number}: the first ${cut} byte(s) of a ~2.2 KB masked text frame, a 100 ms pause, then the rest: echoed (twice)`, async (t) => {
    const client = await rawClient(t);
    for (let round = 0; round < 2; round++) {
      const frame = clientFrame(TEXT, MESSAGE_30);
      // 16-bit length and a mask: an 8-byte header, which the cut splits.
      assert.equal(frame.length - MESSAGE_30.length, 8);
      await client.writeInPieces(frame, [cut], 100);
      const echo = await client.reader.next();
      assert.equal(echo.opcode, TEXT);
      assert.equal(echo.payload.length, MESSAGE_30.length);
      assert.equal(echo.payload.toString(), MESSAGE_30, `round ${round}`);
    }
    await closeRaw(client);

    // The same split, server to client: the library's client reassembles it too (a 4-byte unmasked header).
    const server = await RawWsServer.start();
    t.after(() => server.close());
    const conn = await Conn.connect(newCtx(t), url(server.port)).waitUntilReady(READY);
    const peer = await server.nextConn();
    for (let round = 0; round < 2; round++) {
      await writeInPieces(peer.socket, encodeFrame({ opcode: TEXT, payload: MESSAGE_30 }), [cut], 100);
      const msg = await conn.nextMsg(READ);
      assert.equal(msg.text, MESSAGE_30, `client side, round ${round}`);
    }
    await conn.close();
  });
}

for (const [number, announced, code, what] of [
  [37, 0xffffffffffffffffn, 1002, 'a 64-bit length with the top bit set (0xFFFFFFFFFFFFFFFF)'],
  [38, 0x00000000ffffffffn, 1009, 'a length of 0x00000000FFFFFFFF'],
  [39, 32n * 1024n * 1024n, 1009, 'a 32 MiB length (over the 16 MiB limit)'],
] as const) {
  test(`noPoll test_${number}: a frame announcing ${what} fails the connection with ${code}; a new connection still echoes`, async (t) => {
    const client = await rawClient(t);
    const server = serverSideOf(client);
    client.socket.write(
      encodeFrame({ opcode: BINARY, payload: randomBytes(16), mask: randomBytes(4), announcedLength: announced }),
    );
    const frame = await client.reader.next();
    assert.equal(frame.opcode, CLOSE);
    assert.equal(frame.masked, false);
    assert.equal(frame.payload.readUInt16BE(0), code);
    // The server then ends TCP, and sends nothing else.
    await client.reader.whenEnded();
    assert.equal(client.reader.pending, 0);
    client.destroy();
    const info = await within(server.closed, 3000, 'server side closed');
    assert.ok(info.error instanceof ProtocolError, `got ${String(info.error)}`);
    assert.equal(info.error.closeCode, code);
    assert.equal(server.isOk, false);
    await checkEcho(t);
  });
}

test('noPoll test_41: a raw server answering 101 with the right accept key makes the client ready; a wrong key fails it', async (t) => {
  const ctx = newCtx(t);
  const good = await RawWsServer.start();
  t.after(() => good.close());
  const conn = await Conn.connect(ctx, url(good.port)).waitUntilReady(READY);
  assert.equal(conn.isReady, true);
  const peer = await good.nextConn();
  assert.ok(peer.request.startsWith('GET / HTTP/1.1\r\n'));
  assert.match(peer.key, /^[A-Za-z0-9+/]{22}==$/);
  assert.equal(conn.sendText('This is a test'), 14);
  const frame = await peer.reader.next();
  assert.deepEqual([frame.opcode, frame.masked, frame.payload.toString()], [TEXT, true, 'This is a test']);
  const info = await conn.close();
  assert.equal(info.wasClean, true);

  const wrongAccept = 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=';
  const bad = await RawWsServer.start({ acceptFor: () => wrongAccept });
  t.after(() => bad.close());
  const refused = Conn.connect(ctx, url(bad.port));
  await assert.rejects(refused.waitUntilReady(READY), HandshakeError);
  assert.equal(refused.isReady, false);
  assert.equal(refused.isOk, false);
  const badPeer = await bad.nextConn();
  assert.notEqual(expectedAccept(badPeer.key), wrongAccept);
  assert.equal(ctx.connCount, 0);
});
