// Limits (RFC 6455 §10.4, §5.2, §7.4.1 code 1009; noPoll test_37..39): oversized frames and messages are refused
// from their header, before any payload is buffered; 64-bit lengths with the top bit set are protocol errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageTooBigError } from '../../src/errors.js';
import { FrameParser } from '../../src/protocol/frame-parser.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_FRAME_BYTES } from '../../src/protocol/limits.js';
import type { Role } from '../../src/protocol/session.js';
import {
  assertFailed,
  BIG,
  buildFrame,
  decodeHeader,
  makeSession,
  OP,
  pattern,
  RecordingSink,
  ROLES,
  summarize,
  type Harness,
} from '../helpers/frames.js';

/** The header of a frame announcing `length` bytes, as the peer of a `role` session sends it. */
function header(h: Harness, opcode: number, length: bigint, fin = true): Buffer {
  return h.peer.frame({ opcode, announced: length, fin });
}

function suite(role: Role): void {
  test('DEFAULT_LIMITS allow 16 MiB frames and messages', () => {
    assert.equal(DEFAULT_MAX_FRAME_BYTES, BIG);
    assert.equal(DEFAULT_LIMITS.maxFrameBytes, BIG);
    assert.equal(DEFAULT_LIMITS.maxMessageBytes, BIG);
  });

  for (const opcode of [OP.TEXT, OP.BINARY]) {
    test(`a frame (opcode ${opcode}) announcing maxFrameBytes + 1 fails with 1009 as soon as its header is complete, before any payload (§10.4)`, () => {
      const h = makeSession(role, { maxFrameBytes: 1000, maxMessageBytes: 1_000_000 });
      const head = header(h, opcode, 1001n);
      for (let i = 0; i < head.length - 1; i++) {
        h.feed(head.subarray(i, i + 1));
        assert.deepEqual(h.handler.log, [], `nothing after ${i + 1} header bytes`);
        assert.equal(h.session.bufferedBytes, i + 1);
      }
      h.feed(head.subarray(head.length - 1));
      const error = assertFailed(h, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG');
      assert.ok(error instanceof MessageTooBigError);
      assert.equal(error.limit, 1000);
      assert.equal(h.session.bufferedBytes, 0, 'nothing buffered');
      h.feed(pattern(1001, 1));
      assert.equal(h.session.bufferedBytes, 0, 'payload bytes after the failure are not buffered');
      assert.equal(h.handler.events.length, 1);
    });
  }

  test('a frame of exactly maxFrameBytes is accepted (§10.4)', () => {
    const h = makeSession(role, { maxFrameBytes: 1000, maxMessageBytes: 1000 });
    h.feed(h.peer.binary(pattern(1000, 2)));
    assert.deepEqual(summarize(h.handler.log), [
      { type: 'message', opcode: OP.BINARY, fin: true, hex: pattern(1000, 2).toString('hex') },
    ]);
  });

  test('a continuation frame over maxFrameBytes fails with 1009 from its header (§10.4)', () => {
    const h = makeSession(role, { maxFrameBytes: 100, maxMessageBytes: 1_000_000 });
    h.feed(h.peer.text('a', false), header(h, OP.CONT, 101n));
    assertFailed(h, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG');
    assert.equal(h.session.bufferedBytes, 0);
  });

  for (const [name, length, closeCode, code] of [
    ['0xFFFFFFFFFFFFFFFF (top bit set; noPoll test_37)', 0xffffffffffffffffn, 1002, 'NOPOLL_ERR_INVALID_LENGTH'],
    ['0x8000000000000000 (top bit set)', 0x8000000000000000n, 1002, 'NOPOLL_ERR_INVALID_LENGTH'],
    ['0x00000000FFFFFFFF (4 GiB - 1; noPoll test_38)', 0xffffffffn, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG'],
    ['0x0000000100000000 (4 GiB)', 0x100000000n, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG'],
    ['0x7FFFFFFFFFFFFFFF (largest legal)', 0x7fffffffffffffffn, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG'],
    ['32 MiB (noPoll test_39)', 32n * 1024n * 1024n, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG'],
    ['16 MiB + 1', BigInt(BIG) + 1n, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG'],
  ] as const) {
    test(`a 64-bit length of ${name} against the 16 MiB default fails with ${closeCode} from the header alone (§5.2, §10.4)`, () => {
      const h = makeSession(role);
      const head = header(h, OP.BINARY, length);
      assert.equal(decodeHeader(head).lengthForm, 64);
      h.feed(head);
      assertFailed(h, closeCode, code);
      assert.equal(h.session.bufferedBytes, 0);
    });
  }

  test('a 16 MiB frame header is accepted by the 16 MiB default (boundary, §10.4)', () => {
    const h = makeSession(role);
    h.feed(header(h, OP.BINARY, BigInt(BIG)), pattern(10, 1));
    assert.deepEqual(h.handler.log, []);
    assert.equal(h.session.bufferedBytes, 10);
  });

  test('a fragmented message whose sum exceeds maxMessageBytes fails with 1009 at the header that crosses it (§10.4)', () => {
    const h = makeSession(role, { maxFrameBytes: 1000, maxMessageBytes: 100 });
    h.feed(h.peer.binary(pattern(40, 1), false), h.peer.ping(pattern(125, 9)), h.peer.cont(pattern(40, 2), false));
    assert.equal(h.handler.errors.length, 0, 'control frames between fragments do not count');
    assert.equal(h.handler.frames.length, 1, 'the ping was answered');
    h.feed(header(h, OP.CONT, 21n, true));
    const error = assertFailed(h, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG');
    assert.ok(error instanceof MessageTooBigError);
    assert.equal(error.limit, 100);
    assert.equal(h.handler.messages.length, 0);
    assert.equal(h.session.bufferedBytes, 0, 'the partial message is dropped');
  });

  test('a fragmented message of exactly maxMessageBytes is accepted, and the next message starts from zero (§10.4)', () => {
    for (const deliverFrames of [false, true]) {
      const h = makeSession(role, { maxFrameBytes: 1000, maxMessageBytes: 100, deliverFrames });
      for (let round = 0; round < 3; round++) {
        h.feed(
          h.peer.text('a'.repeat(50), false),
          h.peer.cont('b'.repeat(30), false),
          h.peer.cont('c'.repeat(20), true),
        );
      }
      assert.equal(h.handler.errors.length, 0);
      const total = h.handler.messages.reduce((n, m) => n + m.payload.length, 0);
      assert.equal(total, 300);
    }
  });

  test('deliverFrames mode enforces maxMessageBytes over the frames of a message too (§10.4)', () => {
    const h = makeSession(role, { maxFrameBytes: 1000, maxMessageBytes: 100, deliverFrames: true });
    h.feed(h.peer.binary(pattern(60, 1), false), header(h, OP.CONT, 41n, false));
    assertFailed(h, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG');
    assert.equal(h.handler.messages.length, 1, 'the first frame was delivered before the limit was crossed');
  });

  test('a single frame over maxMessageBytes (but within maxFrameBytes) fails with 1009 (§10.4)', () => {
    const h = makeSession(role, { maxFrameBytes: 1000, maxMessageBytes: 100 });
    h.feed(header(h, OP.TEXT, 101n));
    const error = assertFailed(h, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG');
    assert.equal((error as MessageTooBigError).limit, 100);
  });

  test('setLimits applies from the next frame header (§10.4)', () => {
    const h = makeSession(role, { maxFrameBytes: 1000, maxMessageBytes: 1000 });
    h.feed(h.peer.binary(pattern(500, 1)));
    h.session.setLimits(100, 100);
    h.feed(h.peer.binary(pattern(100, 2)));
    assert.equal(h.handler.messages.length, 2);
    h.feed(header(h, OP.BINARY, 101n));
    assertFailed(h, 1009, 'NOPOLL_ERR_MESSAGE_TOO_BIG');
  });
}

for (const role of ROLES) describe(`${role} session limits`, () => suite(role));

describe('FrameParser limits', () => {
  test('an oversized frame is reported once through onParseError; later input is ignored (§10.4)', () => {
    const sink = new RecordingSink();
    const parser = new FrameParser(sink, { expectMasked: false, maxFrameBytes: 10, allowedRsv: 0 });
    parser.push(buildFrame({ opcode: OP.BINARY, announced: 11n }));
    parser.push(buildFrame({ opcode: OP.BINARY, payload: 'ok' }));
    assert.deepEqual(sink.order, ['error']);
    assert.ok(sink.errors[0] instanceof MessageTooBigError);
    assert.equal(parser.stopped, true);
    assert.equal(parser.bufferedBytes, 0);
  });

  test('maxMessageBytes = Infinity means no message limit (§10.4)', () => {
    const sink = new RecordingSink();
    const parser = new FrameParser(sink, { expectMasked: false, maxFrameBytes: 100, allowedRsv: 0 });
    for (let i = 0; i < 50; i++)
      parser.push(buildFrame({ opcode: i === 0 ? OP.BINARY : OP.CONT, payload: pattern(100, i), fin: i === 49 }));
    assert.equal(sink.errors.length, 0);
    assert.equal(sink.frames.length, 50);
  });
});
