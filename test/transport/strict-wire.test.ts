/**
 * Strict RFC 6455 behaviour on the wire, checked with a hand-written peer (test/helpers/raw-peer.ts): a raw TCP
 * client that upgrades against our Listener, and a raw TCP server that answers our client's upgrade, each writing
 * crafted frames and reading exactly what comes back. Every violation must be answered with a close frame carrying
 * the right code (§7.4.1), then the TCP connection must end; the close handshake must follow §7.1.1 (the server
 * ends TCP first); bad handshakes get proper HTTP statuses (§4.2.1, §4.4), and our client refuses bad answers.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Conn } from '../../src/api/conn.js';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import { Context } from '../../src/api/context.js';
import { HandshakeError, ProtocolError } from '../../src/errors.js';
import {
  OP,
  RawServer,
  closeBody,
  encodeFrame,
  parseClose,
  rawClient,
  rawHttp,
  type FrameSpec,
  type RawPeer,
} from '../helpers/raw-peer.js';
import { delay, withTimeout } from '../helpers/ws-async.js';
import { echoClientOnRawServer, startEchoListener } from '../helpers/ws-peers.js';

type Side = 'server' | 'client';
const SIDES: Side[] = ['server', 'client'];

/** Our endpoint under test (`conn`) and the raw peer talking to it. */
interface Harness {
  side: Side;
  peer: RawPeer;
  conn: Conn;
}

/** Our Listener (echoing) and a raw client upgraded against it. */
async function serverHarness(t: TestContext, opts: ConnOptsInit = {}): Promise<Harness> {
  const srv = await startEchoListener(opts);
  let peer: RawPeer | null = null;
  t.after(async () => {
    peer?.destroy();
    await srv.close();
  });
  peer = (await rawClient(srv.port)).peer;
  const conn = await srv.ready.next(3000, 'server connection ready');
  return { side: 'server', peer, conn };
}

/** Our client (echoing) connected to a raw server that answered its upgrade by hand. */
async function clientHarness(t: TestContext, opts: ConnOptsInit = {}): Promise<Harness> {
  const { peer, conn } = await echoClientOnRawServer(t, opts);
  return { side: 'client', peer, conn };
}

function harness(t: TestContext, side: Side, opts: ConnOptsInit = {}): Promise<Harness> {
  return side === 'server' ? serverHarness(t, opts) : clientHarness(t, opts);
}

/**
 * The peer broke the protocol: the next frame must be a close frame with `code` (masked exactly when our side is
 * the client), nothing may follow it, the TCP connection must end (the server ends it first), and our connection
 * must report a failure with that code.
 */
async function expectFailure(h: Harness, code: number): Promise<void> {
  const frame = await h.peer.nextFrame(3000);
  assert.equal(frame.opcode, OP.CLOSE, `expected a close frame, got opcode ${frame.opcode}`);
  assert.equal(frame.fin, true);
  assert.equal(frame.masked, h.side === 'client', 'only a client masks');
  assert.equal(parseClose(frame.payload).code, code, `close code (reason: ${parseClose(frame.payload).reason})`);
  if (h.side === 'server') {
    // §7.1.1: the server closes the TCP connection first, without waiting for us.
    await h.peer.waitEnded(3000);
    assert.equal(h.peer.peerEndedFirst, true, 'the server ended TCP');
    h.peer.end();
  } else {
    // We are the server: having got the client's close frame we close TCP (§7.1.1).
    h.peer.end();
  }
  await h.peer.waitClosed(3000);
  assert.equal(h.peer.frames.size, 0, 'nothing was sent after the close frame');
  const info = await withTimeout(h.conn.closed, 3000, 'the connection reporting its end');
  assert.equal(info.wasClean, false, 'a failed connection is not a clean close');
  assert.ok(info.error instanceof ProtocolError, `a ProtocolError is reported (got ${String(info.error)})`);
  assert.equal(info.error.closeCode, code);
}

interface ViolationCase {
  name: string;
  frames: FrameSpec[];
  code: number;
  only?: Side;
  opts?: ConnOptsInit;
  /** Echoes of valid messages sent before the violation, to read first. */
  echoes?: string[];
}

const bytes = (...values: number[]): Buffer => Buffer.from(values);

const VIOLATIONS: ViolationCase[] = [
  {
    name: 'RSV1 on a text frame without a negotiated extension',
    frames: [{ opcode: OP.TEXT, rsv: 0x40, payload: 'x' }],
    code: 1002,
  },
  { name: 'RSV2 on a text frame', frames: [{ opcode: OP.TEXT, rsv: 0x20, payload: 'x' }], code: 1002 },
  { name: 'RSV3 on a binary frame', frames: [{ opcode: OP.BINARY, rsv: 0x10, payload: 'x' }], code: 1002 },
  { name: 'RSV1 on a ping', frames: [{ opcode: OP.PING, rsv: 0x40, payload: 'x' }], code: 1002 },
  {
    name: 'RSV1 on a continuation frame',
    frames: [
      { opcode: OP.TEXT, fin: false, payload: 'a' },
      { opcode: OP.CONT, rsv: 0x40, payload: 'b' },
    ],
    code: 1002,
  },
  ...[0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode) => ({
    name: `unknown opcode 0x${opcode.toString(16)}`,
    frames: [{ opcode, payload: 'x' }],
    code: 1002,
  })),
  {
    name: 'an unmasked frame from the client',
    frames: [{ opcode: OP.TEXT, payload: 'hi', mask: false }],
    code: 1002,
    only: 'server',
  },
  { name: 'an unmasked ping from the client', frames: [{ opcode: OP.PING, mask: false }], code: 1002, only: 'server' },
  {
    name: 'a masked frame from the server',
    frames: [{ opcode: OP.TEXT, payload: 'hi', mask: true }],
    code: 1002,
    only: 'client',
  },
  {
    name: 'a masked close from the server',
    frames: [{ opcode: OP.CLOSE, payload: closeBody(1000), mask: true }],
    code: 1002,
    only: 'client',
  },
  { name: 'a ping of 126 bytes', frames: [{ opcode: OP.PING, payload: Buffer.alloc(126, 0x61) }], code: 1002 },
  { name: 'a pong of 126 bytes', frames: [{ opcode: OP.PONG, payload: Buffer.alloc(126, 0x61) }], code: 1002 },
  {
    name: 'a close of 126 bytes',
    frames: [{ opcode: OP.CLOSE, payload: closeBody(1000, 'r'.repeat(124)) }],
    code: 1002,
  },
  { name: 'a fragmented ping', frames: [{ opcode: OP.PING, fin: false, payload: 'p' }], code: 1002 },
  { name: 'a fragmented pong', frames: [{ opcode: OP.PONG, fin: false, payload: 'p' }], code: 1002 },
  { name: 'a fragmented close', frames: [{ opcode: OP.CLOSE, fin: false, payload: closeBody(1000) }], code: 1002 },
  { name: 'a final continuation with no message open', frames: [{ opcode: OP.CONT, payload: 'x' }], code: 1002 },
  {
    name: 'a non-final continuation with no message open',
    frames: [{ opcode: OP.CONT, fin: false, payload: 'x' }],
    code: 1002,
  },
  {
    name: 'a continuation after a complete message',
    frames: [
      { opcode: OP.TEXT, payload: 'whole' },
      { opcode: OP.CONT, payload: 'x' },
    ],
    code: 1002,
    echoes: ['whole'],
  },
  {
    name: 'a new text frame while a fragmented text message is open',
    frames: [
      { opcode: OP.TEXT, fin: false, payload: 'a' },
      { opcode: OP.TEXT, payload: 'b' },
    ],
    code: 1002,
  },
  {
    name: 'a new binary frame while a fragmented text message is open',
    frames: [
      { opcode: OP.TEXT, fin: false, payload: 'a' },
      { opcode: OP.BINARY, fin: false, payload: 'b' },
    ],
    code: 1002,
  },
  {
    name: 'a new text frame while a fragmented binary message is open',
    frames: [
      { opcode: OP.BINARY, fin: false, payload: 'a' },
      { opcode: OP.TEXT, payload: 'b' },
    ],
    code: 1002,
  },
  { name: 'text with a 0xFF byte', frames: [{ opcode: OP.TEXT, payload: bytes(0x68, 0x69, 0xff) }], code: 1007 },
  { name: 'text with an overlong encoding', frames: [{ opcode: OP.TEXT, payload: bytes(0xc0, 0xaf) }], code: 1007 },
  {
    name: 'text with a UTF-16 surrogate',
    frames: [{ opcode: OP.TEXT, payload: bytes(0x61, 0xed, 0xa0, 0x80) }],
    code: 1007,
  },
  { name: 'text above U+10FFFF', frames: [{ opcode: OP.TEXT, payload: bytes(0xf4, 0x90, 0x80, 0x80) }], code: 1007 },
  {
    name: 'text ending inside a sequence',
    frames: [{ opcode: OP.TEXT, payload: bytes(0x61, 0xe2, 0x82) }],
    code: 1007,
  },
  {
    name: 'a fragmented text message ending inside a sequence',
    frames: [
      { opcode: OP.TEXT, fin: false, payload: 'ok' },
      { opcode: OP.CONT, payload: bytes(0xe2, 0x82) },
    ],
    code: 1007,
  },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map((code) => ({
    name: `close code ${code}`,
    frames: [{ opcode: OP.CLOSE, payload: closeBody(code, 'x') }],
    code: 1002,
  })),
  {
    name: 'a close reason that is not UTF-8',
    frames: [{ opcode: OP.CLOSE, payload: closeBody(1000, bytes(0x61, 0xff)) }],
    code: 1007,
  },
  { name: 'a close body of 1 byte', frames: [{ opcode: OP.CLOSE, payload: bytes(0x03) }], code: 1002 },
  {
    name: 'the header of a 100 MB binary frame (payload never sent)',
    frames: [{ opcode: OP.BINARY, announce: 100_000_000 }],
    code: 1009,
  },
  {
    name: 'the header of a 100 MB text frame (payload never sent)',
    frames: [{ opcode: OP.TEXT, announce: 100_000_000 }],
    code: 1009,
  },
  {
    name: 'the header of a 100 MB continuation (payload never sent)',
    frames: [
      { opcode: OP.BINARY, fin: false, payload: 'abc' },
      { opcode: OP.CONT, announce: 100_000_000 },
    ],
    code: 1009,
  },
  {
    name: 'a fragmented message growing past a configured 1000-byte message limit (second header only)',
    frames: [
      { opcode: OP.BINARY, fin: false, payload: Buffer.alloc(600) },
      { opcode: OP.CONT, announce: 600 },
    ],
    code: 1009,
    opts: { maxMessageSize: 1000 },
  },
  {
    name: 'a frame 1 byte over a configured 1000-byte limit (header only)',
    frames: [{ opcode: OP.BINARY, announce: 1001 }],
    code: 1009,
    opts: { maxFrameSize: 1000 },
  },
];

for (const side of SIDES) {
  const peerName = side === 'server' ? 'raw client -> our Listener' : 'raw server -> our client';

  describe(`protocol violations fail the connection (${peerName})`, () => {
    for (const c of VIOLATIONS) {
      if (c.only !== undefined && c.only !== side) continue;
      it(`${c.name} -> close ${c.code}`, async (t) => {
        const h = await harness(t, side, c.opts);
        h.peer.sendAll(c.frames);
        for (const text of c.echoes ?? []) {
          const echo = await h.peer.nextFrame();
          assert.deepEqual([echo.opcode, echo.payload.toString()], [OP.TEXT, text]);
        }
        await expectFailure(h, c.code);
      });
    }

    it('a 64-bit length with its top bit set -> close 1002', async (t) => {
      const h = await harness(t, side);
      const header = Buffer.alloc(side === 'server' ? 14 : 10);
      header[0] = 0x82;
      header[1] = (side === 'server' ? 0x80 : 0) | 127;
      header.writeUInt32BE(0x80000000, 2);
      h.peer.write(header);
      await expectFailure(h, 1002);
    });

    it('invalid UTF-8 in the first fragment of a text message fails before the final fragment is sent', async (t) => {
      const h = await harness(t, side);
      h.peer.send({ opcode: OP.TEXT, fin: false, payload: bytes(0x61, 0x62, 0xff) });
      await expectFailure(h, 1007);
    });

    it('invalid UTF-8 in a middle fragment fails at once', async (t) => {
      const h = await harness(t, side);
      h.peer.send({ opcode: OP.TEXT, fin: false, payload: 'valid start ' });
      h.peer.send({ opcode: OP.CONT, fin: false, payload: bytes(0xce, 0xba, 0xed, 0xa0, 0x80) });
      await expectFailure(h, 1007);
    });

    it('a sequence split across fragments that turns out invalid fails at once', async (t) => {
      const h = await harness(t, side);
      h.peer.send({ opcode: OP.TEXT, fin: false, payload: bytes(0xe2) });
      h.peer.send({ opcode: OP.CONT, fin: false, payload: bytes(0x28) });
      await expectFailure(h, 1007);
    });

    it('invalid UTF-8 early in a long text frame fails before the rest of the frame is sent', async (t) => {
      const h = await harness(t, side);
      const payload = Buffer.alloc(1000, 0x61);
      payload[2] = 0xff;
      const frame = encodeFrame({ opcode: OP.TEXT, payload }, side === 'server');
      h.peer.write(frame.subarray(0, frame.length - payload.length + 10));
      await expectFailure(h, 1007);
    });

    it('a long text frame written in small pieces arrives intact', async (t) => {
      const h = await harness(t, side);
      const text = 'ab€😀é'.repeat(100);
      const frame = encodeFrame({ opcode: OP.TEXT, payload: text }, side === 'server');
      for (let at = 0; at < frame.length; at += 7) {
        h.peer.write(frame.subarray(at, at + 7));
        if (at % 70 === 0) await delay(1);
      }
      const echo = await h.peer.nextFrame();
      assert.equal(echo.opcode, OP.TEXT);
      assert.equal(echo.payload.toString('utf8'), text);
    });

    it('a ping between fragments is answered at once, and the message still arrives whole', async (t) => {
      const h = await harness(t, side);
      h.peer.send({ opcode: OP.TEXT, fin: false, payload: 'Hel' });
      h.peer.send({ opcode: OP.PING, payload: 'between' });
      const pong = await h.peer.nextFrame();
      assert.equal(pong.opcode, OP.PONG);
      assert.equal(pong.payload.toString(), 'between');
      assert.equal(pong.masked, side === 'client');
      h.peer.send({ opcode: OP.CONT, fin: false, payload: 'lo, ' });
      h.peer.send({ opcode: OP.PING, payload: '' });
      const empty = await h.peer.nextFrame();
      assert.equal(empty.opcode, OP.PONG);
      assert.equal(empty.payload.length, 0);
      h.peer.send({ opcode: OP.CONT, payload: 'wörld' });
      const echo = await h.peer.nextFrame();
      assert.equal(echo.opcode, OP.TEXT);
      assert.equal(echo.fin, true);
      assert.equal(echo.payload.toString('utf8'), 'Hello, wörld');
    });

    it('a UTF-8 sequence split across fragments is accepted', async (t) => {
      const h = await harness(t, side);
      h.peer.send({ opcode: OP.TEXT, fin: false, payload: bytes(0xe2) });
      h.peer.send({ opcode: OP.CONT, fin: false, payload: bytes(0x82) });
      h.peer.send({ opcode: OP.CONT, payload: bytes(0xac, 0xf0, 0x9f, 0x98, 0x80) });
      const echo = await h.peer.nextFrame();
      assert.equal(echo.opcode, OP.TEXT);
      assert.equal(echo.payload.toString('utf8'), '€😀');
    });

    it('a frame exactly at the configured limit is accepted', async (t) => {
      const h = await harness(t, side, { maxFrameSize: 1000 });
      const payload = Buffer.alloc(1000, 0x5a);
      h.peer.send({ opcode: OP.BINARY, payload });
      const echo = await h.peer.nextFrame();
      assert.equal(echo.opcode, OP.BINARY);
      assert.deepEqual(echo.payload, payload);
    });

    it('empty fragments make an empty text message', async (t) => {
      const h = await harness(t, side);
      h.peer.send({ opcode: OP.TEXT, fin: false });
      h.peer.send({ opcode: OP.CONT, fin: false });
      h.peer.send({ opcode: OP.CONT });
      const echo = await h.peer.nextFrame();
      assert.deepEqual([echo.opcode, echo.fin, echo.payload.length], [OP.TEXT, true, 0]);
    });

    it('a close with a 123-byte reason (a 125-byte body) is accepted and echoed with its code', async (t) => {
      const h = await harness(t, side);
      h.peer.send({ opcode: OP.CLOSE, payload: closeBody(4321, 'r'.repeat(123)) });
      const echo = await h.peer.nextFrame();
      assert.equal(echo.opcode, OP.CLOSE);
      assert.equal(parseClose(echo.payload).code, 4321);
      h.peer.end();
      const info = await withTimeout(h.conn.closed, 3000, 'conn closed');
      assert.deepEqual([info.code, info.reason, info.wasClean], [4321, 'r'.repeat(123), true]);
    });

    it('a pong of 125 bytes and a ping of 125 bytes are accepted', async (t) => {
      const h = await harness(t, side);
      h.peer.send({ opcode: OP.PONG, payload: Buffer.alloc(125, 0x70) });
      h.peer.send({ opcode: OP.PING, payload: Buffer.alloc(125, 0x71) });
      const pong = await h.peer.nextFrame();
      assert.equal(pong.opcode, OP.PONG);
      assert.deepEqual(pong.payload, Buffer.alloc(125, 0x71));
    });
  });
}

describe('frames in the same TCP write as the handshake', () => {
  it('our Listener handles frames the client pipelined right after its request head', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const frames = Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'pipelined ✓' }, true),
      encodeFrame({ opcode: OP.PING, payload: 'p' }, true),
    ]);
    const { peer } = await rawClient(srv.port, { pipelined: frames });
    t.after(() => peer.destroy());
    const first = await peer.nextFrame();
    const second = await peer.nextFrame();
    const seen = [first, second].map((f) => [f.opcode, f.payload.toString()]);
    assert.deepEqual(seen, [
      [OP.TEXT, 'pipelined ✓'],
      [OP.PONG, 'p'],
    ]);
  });

  it('our client handles frames the server sent in the same write as its 101', async (t) => {
    const raw = await RawServer.start();
    const ctx = new Context();
    t.after(async () => {
      await raw.close();
      await withTimeout(ctx.close(), 10_000, 'closing the client context');
    });
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`);
    const incoming = await raw.next();
    const peer = RawServer.accept(
      incoming,
      [],
      encodeFrame({ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) }, false),
    );
    await conn.waitUntilReady({ timeoutMs: 3000 });
    const msg = await conn.nextMsg({ timeoutMs: 3000 });
    assert.equal(msg.isBinary, true);
    assert.deepEqual(msg.payload, Buffer.from([1, 2, 3]));
    peer.destroy();
  });
});

describe('closing handshake (RFC 6455 §7.1.1, §5.5.1)', () => {
  it('raw client sends close 1000: the server echoes 1000, then ends TCP first', async (t) => {
    const h = await serverHarness(t);
    h.peer.send({ opcode: OP.CLOSE, payload: closeBody(1000, 'done ✓') });
    const echo = await h.peer.nextFrame();
    assert.equal(echo.opcode, OP.CLOSE);
    assert.equal(echo.masked, false);
    assert.equal(parseClose(echo.payload).code, 1000);
    await h.peer.waitEnded(3000);
    assert.equal(h.peer.peerEndedFirst, true, 'the server ended TCP without waiting for the client');
    h.peer.end();
    await h.peer.waitClosed();
    const info = await withTimeout(h.conn.closed, 3000, 'server conn closed');
    assert.deepEqual([info.code, info.reason, info.wasClean], [1000, 'done ✓', true]);
    assert.equal(info.error, undefined);
  });

  it('raw client sends an empty close: the server echoes an empty close and reports 1005', async (t) => {
    const h = await serverHarness(t);
    h.peer.send({ opcode: OP.CLOSE });
    const echo = await h.peer.nextFrame();
    assert.equal(echo.opcode, OP.CLOSE);
    assert.equal(echo.payload.length, 0, 'no status received, none echoed');
    await h.peer.waitEnded(3000);
    h.peer.end();
    const info = await withTimeout(h.conn.closed, 3000, 'server conn closed');
    assert.deepEqual([info.code, info.wasClean], [1005, true]);
  });

  it('our Listener closes with 1001: after the client echoes, the server ends TCP first', async (t) => {
    const h = await serverHarness(t);
    const closing = h.conn.close(1001, 'going away');
    const frame = await h.peer.nextFrame();
    assert.equal(frame.opcode, OP.CLOSE);
    assert.deepEqual(parseClose(frame.payload), { code: 1001, reason: 'going away' });
    h.peer.send({ opcode: OP.CLOSE, payload: closeBody(1001) });
    await h.peer.waitEnded(3000);
    assert.equal(h.peer.peerEndedFirst, true);
    h.peer.end();
    const info = await withTimeout(closing, 3000, 'server close');
    assert.deepEqual([info.code, info.wasClean], [1001, true]);
  });

  it('our Listener drops the TCP connection when the client never answers its close (closeTimeoutMs)', async (t) => {
    const h = await serverHarness(t, { closeTimeoutMs: 300 });
    const started = Date.now();
    const closing = h.conn.close(1000);
    const frame = await h.peer.nextFrame();
    assert.equal(frame.opcode, OP.CLOSE);
    await h.peer.waitEnded(3000);
    const info = await withTimeout(closing, 3000, 'server close without an answer');
    assert.ok(Date.now() - started >= 250, 'it waited for the close timeout');
    assert.equal(info.wasClean, false, 'no close frame came back');
    assert.equal(info.code, 1006);
  });

  it('data frames after a close frame are ignored', async (t) => {
    const h = await serverHarness(t);
    h.peer.sendAll([
      { opcode: OP.CLOSE, payload: closeBody(1000) },
      { opcode: OP.TEXT, payload: 'after close' },
    ]);
    const echo = await h.peer.nextFrame();
    assert.equal(echo.opcode, OP.CLOSE);
    await h.peer.waitEnded(3000);
    h.peer.end();
    await h.peer.waitClosed();
    assert.equal(h.peer.frames.size, 0, 'no echo of the text sent after the close');
  });

  it('raw server sends close 1000: our client echoes 1000 and waits for the server to end TCP', async (t) => {
    const h = await clientHarness(t);
    h.peer.send({ opcode: OP.CLOSE, payload: closeBody(1000, 'server done') });
    const echo = await h.peer.nextFrame();
    assert.equal(echo.opcode, OP.CLOSE);
    assert.equal(echo.masked, true);
    assert.equal(parseClose(echo.payload).code, 1000);
    await delay(300);
    assert.equal(h.peer.peerEnded, false, 'the client must not end TCP before the server does');
    assert.equal(h.conn.isOk, true, 'the connection is still closing');
    h.peer.end();
    const info = await withTimeout(h.conn.closed, 3000, 'client conn closed');
    assert.deepEqual([info.code, info.reason, info.wasClean], [1000, 'server done', true]);
    assert.equal(info.error, undefined);
    await h.peer.waitClosed();
  });

  it('our client drops TCP itself when the server never ends it after the close handshake (closeTimeoutMs)', async (t) => {
    const h = await clientHarness(t, { closeTimeoutMs: 300 });
    const started = Date.now();
    h.peer.send({ opcode: OP.CLOSE, payload: closeBody(1000) });
    const echo = await h.peer.nextFrame();
    assert.equal(echo.opcode, OP.CLOSE);
    await h.peer.waitEnded(3000);
    assert.ok(Date.now() - started >= 250, `the client waited for the server first (${Date.now() - started} ms)`);
    const info = await withTimeout(h.conn.closed, 3000, 'client conn closed');
    assert.equal(info.code, 1000);
  });

  it('our client closes with 3000: after the server echoes and ends TCP, the close is clean', async (t) => {
    const h = await clientHarness(t);
    const closing = h.conn.close(3000, 'client bye');
    const frame = await h.peer.nextFrame();
    assert.equal(frame.opcode, OP.CLOSE);
    assert.equal(frame.masked, true);
    assert.deepEqual(parseClose(frame.payload), { code: 3000, reason: 'client bye' });
    await delay(100);
    assert.equal(h.peer.peerEnded, false, 'the client waits for the server to end TCP');
    h.peer.send({ opcode: OP.CLOSE, payload: closeBody(3000) });
    await delay(100);
    assert.equal(h.peer.peerEnded, false, 'still waiting after the echo');
    h.peer.end();
    const info = await withTimeout(closing, 3000, 'client close');
    assert.deepEqual([info.code, info.wasClean], [3000, true]);
  });
});

/** A request head with the usual fields, minus `drop`, plus `extra` lines. */
function request(options: { method?: string; drop?: string[]; version?: string; extra?: string[] } = {}): string {
  const fields: Array<[string, string]> = [
    ['Host', '127.0.0.1'],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ['Sec-WebSocket-Version', options.version ?? '13'],
  ];
  const lines = fields.filter(([name]) => !(options.drop ?? []).includes(name)).map(([n, v]) => `${n}: ${v}`);
  return `${options.method ?? 'GET'} / HTTP/1.1\r\n${[...lines, ...(options.extra ?? [])].join('\r\n')}\r\n\r\n`;
}

describe('server handshake rejections (RFC 6455 §4.2.1, §4.4)', () => {
  const cases: Array<{ name: string; request: string; status: number; header?: [string, string] }> = [
    { name: 'missing Upgrade', request: request({ drop: ['Upgrade'] }), status: 400 },
    { name: 'missing Connection', request: request({ drop: ['Connection'] }), status: 400 },
    { name: 'missing Sec-WebSocket-Key', request: request({ drop: ['Sec-WebSocket-Key'] }), status: 400 },
    {
      name: 'a Sec-WebSocket-Key that is not 16 bytes',
      request: request({ drop: ['Sec-WebSocket-Key'], extra: ['Sec-WebSocket-Key: c2hvcnQ='] }),
      status: 400,
    },
    { name: 'missing Host', request: request({ drop: ['Host'] }), status: 400 },
    {
      name: 'Sec-WebSocket-Version: 8',
      request: request({ version: '8' }),
      status: 426,
      header: ['sec-websocket-version', '13'],
    },
    { name: 'POST', request: request({ method: 'POST' }), status: 405 },
    { name: 'a 20 KB header', request: request({ extra: [`X-Big: ${'a'.repeat(20 * 1024)}`] }), status: 431 },
    {
      name: '200 header lines',
      request: request({ extra: Array.from({ length: 200 }, (_v, i) => `X-Header-${i}: ${i}`) }),
      status: 431,
    },
  ];
  for (const c of cases) {
    it(`${c.name} -> ${c.status}, then the connection is closed`, async (t) => {
      const srv = await startEchoListener();
      t.after(() => srv.close());
      const result = await rawHttp(srv.port, c.request, 5000);
      assert.ok(result.response, `an HTTP response arrived (got ${JSON.stringify(result.raw.slice(0, 200))})`);
      assert.equal(result.response.status, c.status, result.response.startLine);
      assert.match(result.response.startLine, /^HTTP\/1\.1 \d{3} /);
      if (c.header) assert.equal(result.response.headers.get(c.header[0]), c.header[1]);
      // The listener keeps serving after a rejection.
      const { peer } = await rawClient(srv.port);
      peer.send({ opcode: OP.TEXT, payload: 'still here' });
      const echo = await peer.nextFrame();
      assert.equal(echo.payload.toString(), 'still here');
      peer.destroy();
    });
  }

  it('a client that sends half a head and stalls is dropped after handshakeTimeoutMs', async (t) => {
    const srv = await startEchoListener({ handshakeTimeoutMs: 300 });
    t.after(() => srv.close());
    const result = await rawHttp(srv.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n', 5000);
    assert.ok(result.closedAfterMs >= 250, `closed after ${result.closedAfterMs} ms, before the timeout`);
    assert.ok(result.closedAfterMs < 3000, `closed after ${result.closedAfterMs} ms`);
    if (result.response)
      assert.ok(result.response.status >= 400 && result.response.status < 500, result.response.startLine);
  });
});

describe('client handshake rejections (RFC 6455 §4.1)', () => {
  const answers: Array<{ name: string; status: number; reply: (key: string) => string }> = [
    { name: '200 OK', status: 200, reply: () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' },
    {
      name: '302 Found',
      status: 302,
      reply: () => 'HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n',
    },
    {
      name: '101 with a wrong Sec-WebSocket-Accept',
      status: 101,
      reply: () =>
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
    },
    {
      name: '101 without Sec-WebSocket-Accept',
      status: 101,
      reply: () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    },
  ];
  for (const a of answers) {
    it(`a server answering ${a.name} -> HandshakeError with status ${a.status}`, async (t) => {
      const raw = await RawServer.start();
      const ctx = new Context();
      t.after(async () => {
        await raw.close();
        await withTimeout(ctx.close(), 5000, 'closing the client context');
      });
      const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { timeoutMs: 3000 });
      const incoming = await raw.next();
      assert.match(incoming.request.startLine, /^GET \/ HTTP\/1\.1$/);
      incoming.socket.write(a.reply(incoming.request.headers.get('sec-websocket-key') ?? ''));
      await assert.rejects(opening, (error: unknown) => {
        assert.ok(error instanceof HandshakeError, `HandshakeError expected, got ${String(error)}`);
        assert.equal(error.status, a.status);
        return true;
      });
    });
  }
});
