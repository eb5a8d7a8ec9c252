// The protocol core with permessage-deflate negotiated (RFC 7692 §6): RSV1 rules, handing compressed messages to
// the transport with the input paused, UTF-8 checked on the inflated data, RSV1 only on the first frame sent.
// Pure: the "transport" here inflates synchronously with zlib's one-shot functions.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { MessageTooBigError, ProtocolError } from '../../src/errors.js';
import { MessageBuffer } from '../../src/protocol/message-buffer.js';
import { Session, SessionState, type Role } from '../../src/protocol/session.js';
import {
  assertFailed,
  BIG,
  cat,
  decodeFrames,
  makeSession,
  OP,
  RecordingHandler,
  ROLES,
  splitAt,
  summarize,
  type Harness,
} from '../helpers/frames.js';

const RSV1 = 0x40;
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A message compressed on its own (no context), trailer removed (RFC 7692 §7.2.1). */
function deflate(data: string | Buffer): Buffer {
  const out = deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, {
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  assert.deepEqual(out.subarray(-4), TRAILER);
  return out.subarray(0, -4);
}

function inflate(data: Buffer): Buffer {
  return inflateRawSync(Buffer.concat([data, TRAILER]), { finishFlush: constants.Z_SYNC_FLUSH });
}

/**
 * Records compressed hand-overs and plays the transport's part (src/transport/transport.ts): the inflated bytes go
 * through a MessageBuffer (limit, UTF-8), are delivered, and the session resumes. In `sync` mode it inflates at
 * once; otherwise the test calls deliverInflated itself.
 */
class InflatingHandler extends RecordingHandler {
  session: Session | null = null;
  sync = true;
  readonly compressed: Array<{ opcode: number; payload: Buffer; fin: boolean }> = [];
  #out: MessageBuffer | null = null;
  sessionCompressed(opcode: number, payload: Buffer, fin: boolean): void {
    this.compressed.push({ opcode, payload: Buffer.from(payload), fin });
    if (this.sync) this.deliverInflated(inflate(payload));
  }
  /** The inflated bytes of the last compressed hand-over. */
  deliverInflated(data: Buffer): void {
    const session = this.session!;
    const { opcode, fin } = this.compressed[this.compressed.length - 1]!;
    const out = (this.#out ??= new MessageBuffer(session.inflateLimit));
    out.setLimit(session.inflateLimit);
    if (opcode !== OP.CONT) out.start(opcode === OP.TEXT);
    const error = out.append(data);
    if (error !== null) return session.fail(error);
    const message = fin ? out.finish() : out.take();
    if (message instanceof ProtocolError) return session.fail(message);
    this.sessionMessage(opcode, message, fin);
    session.resume();
  }
}

function deflateSession(
  role: Role,
  options: { deliverFrames?: boolean; maxMessageBytes?: number; sync?: boolean } = {},
): Harness & { handler: InflatingHandler } {
  const handler = new InflatingHandler();
  handler.sync = options.sync ?? true;
  const h = makeSession(
    role,
    {
      perMessageDeflate: true,
      deliverFrames: options.deliverFrames ?? false,
      maxMessageBytes: options.maxMessageBytes ?? BIG,
    },
    handler,
  );
  handler.session = h.session;
  return h as Harness & { handler: InflatingHandler };
}

test('perMessageDeflate needs a handler that can inflate', () => {
  assert.throws(
    () =>
      new Session(new RecordingHandler(), {
        role: 'server',
        maxFrameBytes: 10,
        maxMessageBytes: 10,
        perMessageDeflate: true,
      }),
    TypeError,
  );
});

function suite(role: Role): void {
  test('RSV1 without permessage-deflate negotiated fails with 1002 (RFC 6455 §5.2)', () => {
    const h = makeSession(role);
    h.feed(h.peer.frame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate('hello') }));
    assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_RSV');
  });

  for (const [name, opcode, payload] of [
    ['ping', OP.PING, Buffer.from('p')],
    ['pong', OP.PONG, Buffer.from('p')],
    ['close', OP.CLOSE, Buffer.from([0x03, 0xe8])],
  ] as const) {
    test(`RSV1 on a ${name} frame fails with 1002 even with permessage-deflate (RFC 7692 §6.1)`, () => {
      const h = deflateSession(role);
      h.feed(h.peer.frame({ opcode, rsv: RSV1, payload }));
      assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_RSV');
    });
  }

  test('RSV1 on a continuation frame fails with 1002 (RFC 7692 §6.1: only the first frame carries it)', () => {
    for (const firstRsv of [0, RSV1]) {
      const h = deflateSession(role);
      const z = deflate('hello there');
      h.feed(
        h.peer.frame({ opcode: OP.TEXT, rsv: firstRsv, fin: false, payload: firstRsv ? z.subarray(0, 3) : 'abc' }),
      );
      h.feed(h.peer.frame({ opcode: OP.CONT, rsv: RSV1, payload: firstRsv ? z.subarray(3) : 'def' }));
      assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_RSV');
      assert.equal(h.handler.compressed.length, 0);
    }
  });

  test('RSV2 and RSV3 stay refused with permessage-deflate', () => {
    for (const rsv of [0x20, 0x10, RSV1 | 0x20]) {
      const h = deflateSession(role);
      h.feed(h.peer.frame({ opcode: OP.BINARY, rsv, payload: deflate('x') }));
      assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_RSV');
    }
  });

  test('a compressed message is handed over whole; nothing after it is processed until the inflated bytes come back', () => {
    const h = deflateSession(role, { sync: false });
    h.feed(
      cat(
        h.peer.frame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate('héllo wörld') }),
        h.peer.text('plain'),
        h.peer.ping('p'),
        h.peer.close(1000),
      ),
    );
    assert.deepEqual(
      h.handler.compressed.map((c) => [c.opcode, c.fin]),
      [[OP.TEXT, true]],
    );
    assert.deepEqual(h.handler.log, [], 'no message, no pong, no close echo yet');
    assert.ok(h.session.bufferedBytes > 0, 'the rest of the chunk is held');
    h.feed(h.peer.text('later'));
    assert.deepEqual(h.handler.log, []);
    h.handler.deliverInflated(inflate(h.handler.compressed[0]!.payload));
    assert.deepEqual(summarize(h.handler.events), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from('héllo wörld').toString('hex') },
      { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from('plain').toString('hex') },
      { type: 'ping', hex: Buffer.from('p').toString('hex') },
      { type: 'close', code: 1000, reason: '' },
    ]);
    // The pong and the close echo went out only after the compressed message was delivered.
    assert.deepEqual(
      h.handler.frames.map((f) => f.opcode),
      [OP.PONG, OP.CLOSE],
    );
  });

  test('a fragmented compressed message is one deflate stream, handed over at its last frame', () => {
    const h = deflateSession(role);
    const text = 'fragmented and compressed, '.repeat(20);
    const z = deflate(text);
    const a = Math.floor(z.length / 3);
    h.feed(
      cat(
        h.peer.frame({ opcode: OP.TEXT, rsv: RSV1, fin: false, payload: z.subarray(0, a) }),
        h.peer.ping('between'),
        h.peer.frame({ opcode: OP.CONT, fin: false, payload: z.subarray(a, 2 * a) }),
        h.peer.frame({ opcode: OP.CONT, fin: false, payload: Buffer.alloc(0) }),
        h.peer.frame({ opcode: OP.CONT, fin: true, payload: z.subarray(2 * a) }),
      ),
    );
    assert.deepEqual(
      h.handler.compressed.map((c) => [c.opcode, c.fin, c.payload.length]),
      [[OP.TEXT, true, z.length]],
    );
    assert.deepEqual(summarize(h.handler.events), [
      { type: 'ping', hex: Buffer.from('between').toString('hex') },
      { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from(text).toString('hex') },
    ]);
  });

  test('UTF-8 is checked on the inflated text, not on the compressed bytes (RFC 7692 §6, RFC 6455 §8.1)', () => {
    // A long text arriving in small chunks: its compressed bytes are not UTF-8 and must not be checked as such.
    const text = 'ünïcödé ✓ 😀 '.repeat(500);
    const h = deflateSession(role);
    const frame = h.peer.frame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate(text) });
    for (let at = 0; at < frame.length; at += 7) h.feed(frame.subarray(at, at + 7));
    assert.equal(h.handler.messages.length, 1);
    assert.equal(h.handler.messages[0]!.payload.toString(), text);
    // Invalid UTF-8 once inflated: 1007.
    const bad = deflateSession(role);
    bad.feed(bad.peer.frame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate(Buffer.from([0x61, 0xc3, 0x28])) }));
    assertFailed(bad, 1007, 'NOPOLL_ERR_INVALID_UTF8');
    // Binary is not checked.
    const bin = deflateSession(role);
    bin.feed(bin.peer.frame({ opcode: OP.BINARY, rsv: RSV1, payload: deflate(Buffer.from([0xff, 0xfe])) }));
    assert.deepEqual(bin.handler.messages[0]!.payload, Buffer.from([0xff, 0xfe]));
  });

  test('every chunking of a mixed stream gives the same events (compressed, plain, fragmented, empty, control)', () => {
    const peer = deflateSession(role).peer;
    const zFrag = deflate('abcdefgh'.repeat(8));
    const stream = cat(
      peer.frame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate('x') }),
      peer.frame({ opcode: OP.BINARY, rsv: RSV1, payload: deflate(Buffer.alloc(0)) }),
      peer.text('plain'),
      peer.frame({ opcode: OP.BINARY, rsv: RSV1, fin: false, payload: zFrag.subarray(0, 4) }),
      peer.ping('mid'),
      peer.frame({ opcode: OP.CONT, fin: true, payload: zFrag.subarray(4) }),
      peer.frame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate('ü'.repeat(40)) }),
      peer.close(1000, 'done'),
    );
    const reference = deflateSession(role);
    reference.feed(stream);
    const expected = summarize(reference.handler.log);
    assert.equal(reference.handler.messages.length, 5);
    for (let cut = 1; cut < stream.length; cut++) {
      const h = deflateSession(role);
      h.feed(...splitAt(stream, [cut]));
      assert.deepEqual(summarize(h.handler.log), expected, `cut at ${cut}`);
    }
    const bytewise = deflateSession(role);
    bytewise.feed(
      ...splitAt(
        stream,
        Array.from({ length: stream.length }, (_, i) => i),
      ),
    );
    assert.deepEqual(summarize(bytewise.handler.log), expected, 'one byte at a time');
    // Asynchronous inflation: the same result whatever arrives while a message is inflating.
    for (const cuts of [[10], [3, 17, 40], Array.from({ length: stream.length }, (_, i) => i)]) {
      const h = deflateSession(role, { sync: false });
      let answered = 0;
      for (const piece of splitAt(stream, cuts)) {
        h.feed(piece);
        while (answered < h.handler.compressed.length)
          h.handler.deliverInflated(inflate(h.handler.compressed[answered++]!.payload));
      }
      assert.deepEqual(summarize(h.handler.log), expected, `async, cuts ${cuts.length}`);
    }
  });

  test('frame mode: each compressed frame is handed over (CONTINUATION after the first); UTF-8 across inflated frames', () => {
    const h = deflateSession(role, { deliverFrames: true, sync: false });
    const text = Buffer.from('añb€c😀d');
    const z = deflate(text);
    h.feed(
      cat(
        h.peer.frame({ opcode: OP.TEXT, rsv: RSV1, fin: false, payload: z.subarray(0, 2) }),
        h.peer.frame({ opcode: OP.CONT, fin: false, payload: z.subarray(2, 5) }),
        h.peer.frame({ opcode: OP.CONT, fin: true, payload: z.subarray(5) }),
      ),
    );
    assert.deepEqual(
      h.handler.compressed.map((c) => [c.opcode, c.fin]),
      [[OP.TEXT, false]],
    );
    // Inflated pieces that split characters are fine as long as the whole message is UTF-8.
    h.handler.deliverInflated(text.subarray(0, 2));
    assert.deepEqual(
      h.handler.compressed.map((c) => [c.opcode, c.fin]),
      [
        [OP.TEXT, false],
        [OP.CONT, false],
      ],
    );
    h.handler.deliverInflated(text.subarray(2, 9));
    h.handler.deliverInflated(text.subarray(9));
    assert.deepEqual(
      h.handler.messages.map((m) => [m.opcode, m.fin, m.payload.toString('hex')]),
      [
        [OP.TEXT, false, text.subarray(0, 2).toString('hex')],
        [OP.CONT, false, text.subarray(2, 9).toString('hex')],
        [OP.CONT, true, text.subarray(9).toString('hex')],
      ],
    );
    // A message that ends inside a character fails with 1007.
    const bad = deflateSession(role, { deliverFrames: true, sync: false });
    bad.feed(bad.peer.frame({ opcode: OP.TEXT, rsv: RSV1, fin: true, payload: z }));
    bad.handler.deliverInflated(text.subarray(0, 5));
    assertFailed(bad, 1007, 'NOPOLL_ERR_INVALID_UTF8');
  });

  test('limits: compressed bytes count against the frame/message limit; inflateLimit is what the transport enforces', () => {
    const h = deflateSession(role, { maxMessageBytes: 100 });
    assert.equal(h.session.inflateLimit, 100);
    h.feed(h.peer.frame({ opcode: OP.BINARY, rsv: RSV1, payload: Buffer.alloc(101) }));
    assertFailed(h, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG');
    const frames = deflateSession(role, { deliverFrames: true });
    frames.session.setLimits(50, 1000);
    assert.equal(frames.session.inflateLimit, 50, 'frame mode: each inflated frame is delivered on its own');
  });

  test('failInflate fails the connection with its code, drops the held input, and later answers are ignored', () => {
    const h = deflateSession(role, { sync: false });
    h.feed(cat(h.peer.frame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate('bomb') }), h.peer.text('after')));
    h.session.fail(new MessageTooBigError('message inflates to over 100 bytes', 100));
    assertFailed(h, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG');
    h.session.resume(); // a late answer from the transport: the held input stays unparsed
    h.session.fail(new MessageTooBigError('again', 1));
    assert.equal(h.handler.messages.length, 0);
    assert.equal(h.handler.errors.length, 1);
    assert.equal(h.session.state, SessionState.CLOSED);
  });

  test('writeCompressed: RSV1 on the first frame only, masked as the role requires, even while closing', () => {
    const h = deflateSession(role);
    const z = deflate('payload');
    h.session.writeCompressed(OP.BINARY, z, true);
    h.session.writeCompressed(OP.TEXT, z.subarray(0, 3), false);
    h.session.writeCompressed(OP.CONT, z.subarray(3), true);
    h.session.close(1000);
    h.session.writeCompressed(OP.TEXT, z, true);
    const frames = h.handler.frames;
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.fin, f.rsv, f.masked]),
      [
        [OP.BINARY, true, RSV1, role === 'client'],
        [OP.TEXT, false, RSV1, role === 'client'],
        [OP.CONT, true, 0, role === 'client'],
        [OP.CLOSE, true, 0, role === 'client'],
        [OP.TEXT, true, RSV1, role === 'client'],
      ],
    );
    assert.equal(inflate(frames[0]!.payload).toString(), 'payload');
    assert.equal(inflate(Buffer.concat([frames[1]!.payload, frames[2]!.payload])).toString(), 'payload');
    assert.ok(decodeFrames(Buffer.concat(h.handler.writes)).length === 5);
  });
}

for (const role of ROLES) describe(`${role} session with permessage-deflate`, () => suite(role));
