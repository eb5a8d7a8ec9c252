// Control frames (RFC 6455 §5.5, §5.5.2, §5.5.3; Autobahn section 2): ping/pong payload limits, fragmented
// control frames, automatic pongs, unsolicited pongs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Role } from '../../src/protocol/session.js';
import { SessionState } from '../../src/protocol/session.js';
import { assertFailed, cat, makeSession, OP, pattern, ROLES, summarize } from '../helpers/frames.js';

function suite(role: Role): void {
  for (const [label, payload] of [
    ['no payload (Autobahn 2.1)', Buffer.alloc(0)],
    ['a small text payload (Autobahn 2.2)', Buffer.from('Hello, world!')],
    ['a binary payload (Autobahn 2.3)', Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff])],
    ['125 bytes of payload (Autobahn 2.4)', pattern(125, 12)],
  ] as const) {
    test(`a ping with ${label} is answered by a pong with the identical payload (§5.5.2)`, () => {
      const h = makeSession(role);
      h.feed(h.peer.ping(payload));
      const frames = h.handler.frames;
      assert.equal(frames.length, 1);
      const pong = frames[0]!;
      assert.equal(pong.opcode, OP.PONG);
      assert.equal(pong.fin, true);
      assert.equal(pong.rsv, 0);
      assert.equal(pong.masked, role === 'client');
      assert.ok(pong.payload.equals(payload));
      assert.deepEqual(summarize(h.handler.events), [{ type: 'ping', hex: payload.toString('hex') }]);
      assert.deepEqual(
        h.handler.log.map((e) => e.type),
        ['write', 'ping'],
        'the pong is queued before the ping is reported',
      );
    });
  }

  test('a ping fed one byte at a time is answered once (§5.5.2, Autobahn 2.6)', () => {
    const h = makeSession(role);
    const frame = h.peer.ping(pattern(125, 3));
    for (const b of frame) h.feed(Buffer.from([b]));
    assert.equal(h.handler.frames.length, 1);
    assert.ok(h.handler.frames[0]!.payload.equals(pattern(125, 3)));
  });

  for (const [name, opcode] of [
    ['ping', OP.PING],
    ['pong', OP.PONG],
    ['close', OP.CLOSE],
  ] as const) {
    test(`a ${name} with 126 bytes of payload (16-bit length form) fails with 1002 (§5.5, Autobahn 2.5)`, () => {
      const h = makeSession(role);
      const payload = opcode === OP.CLOSE ? cat(Buffer.from([0x03, 0xe8]), Buffer.alloc(124, 0x61)) : pattern(126, 1);
      h.feed(cat(h.peer.frame({ opcode, payload }), h.peer.text('after')));
      assertFailed(h, 1002, 'NOPOLL_ERR_CONTROL_FRAME_TOO_LONG');
      assert.equal(h.handler.events.length, 1);
      assert.equal(h.handler.writes.length, 1, 'no pong, no echo: only the failing close frame');
    });

    test(`a fragmented ${name} (FIN=0) fails with 1002 (§5.5, Autobahn 5.1-5.2)`, () => {
      const h = makeSession(role);
      const payload = opcode === OP.CLOSE ? Buffer.from([0x03, 0xe8]) : Buffer.from('frag');
      h.feed(h.peer.frame({ opcode, payload, fin: false }), h.peer.cont('ment', true));
      assertFailed(h, 1002, 'NOPOLL_ERR_FRAGMENTED_CONTROL');
      assert.equal(h.handler.events.length, 1);
    });
  }

  test('a 126-byte ping announced by its header alone fails before its payload arrives (§5.5)', () => {
    const h = makeSession(role);
    const frame = h.peer.ping(pattern(126, 1));
    h.feed(frame.subarray(0, role === 'server' ? 8 : 4));
    assertFailed(h, 1002, 'NOPOLL_ERR_CONTROL_FRAME_TOO_LONG');
  });

  test('a pong received is reported and not answered (§5.5.3, Autobahn 2.7-2.8)', () => {
    const h = makeSession(role);
    h.feed(h.peer.pong(''), h.peer.pong(pattern(125, 2)));
    assert.deepEqual(summarize(h.handler.log), [
      { type: 'pong', hex: '' },
      { type: 'pong', hex: pattern(125, 2).toString('hex') },
    ]);
  });

  test('ten pings in one chunk are each answered, in order (§5.5.2, Autobahn 2.10-2.11)', () => {
    const h = makeSession(role);
    h.feed(cat(...Array.from({ length: 10 }, (_, i) => h.peer.ping(`payload-${i}`))));
    assert.deepEqual(
      h.handler.frames.map((f) => [f.opcode, f.payload.toString()]),
      Array.from({ length: 10 }, (_, i) => [OP.PONG, `payload-${i}`]),
    );
    assert.equal(h.handler.events.filter((e) => e.type === 'ping').length, 10);
  });

  test('an unsolicited pong and a ping can be sent, with 0..125 bytes (§5.5.2, §5.5.3)', () => {
    const h = makeSession(role);
    assert.equal(h.session.pong(), true);
    assert.equal(h.session.pong(pattern(125, 1)), true);
    assert.equal(h.session.ping(), true);
    assert.equal(h.session.ping(pattern(125, 2)), true);
    assert.deepEqual(
      h.handler.frames.map((f) => [f.opcode, f.fin, f.masked, f.payload.toString('hex')]),
      [
        [OP.PONG, true, role === 'client', ''],
        [OP.PONG, true, role === 'client', pattern(125, 1).toString('hex')],
        [OP.PING, true, role === 'client', ''],
        [OP.PING, true, role === 'client', pattern(125, 2).toString('hex')],
      ],
    );
    assert.deepEqual(h.handler.events, []);
  });

  test('ping() and pong() with 126 bytes throw RangeError and write nothing (§5.5)', () => {
    const h = makeSession(role);
    assert.throws(() => h.session.ping(pattern(126, 1)), RangeError);
    assert.throws(() => h.session.pong(pattern(126, 1)), RangeError);
    assert.deepEqual(h.handler.writes, []);
    assert.equal(h.session.state, SessionState.OPEN);
  });

  test('ping() and pong() return false once a close frame was sent (§5.5.1)', () => {
    const h = makeSession(role);
    h.session.close(1000);
    assert.equal(h.session.ping(Buffer.from('x')), false);
    assert.equal(h.session.pong(Buffer.from('x')), false);
    assert.equal(h.handler.writes.length, 1);
  });

  test('a ping received after we sent a close (CLOSING) is still answered with a pong (§5.5.2: "unless it already received a Close frame")', () => {
    const h = makeSession(role);
    h.session.close(1000, 'bye');
    h.feed(h.peer.ping('still there?'));
    assert.deepEqual(summarize(h.handler.events), [{ type: 'ping', hex: Buffer.from('still there?').toString('hex') }]);
    assert.deepEqual(
      h.handler.frames.map((f) => [f.opcode, f.payload.subarray(f.opcode === OP.CLOSE ? 2 : 0).toString()]),
      [
        [OP.CLOSE, 'bye'],
        [OP.PONG, 'still there?'],
      ],
    );
  });

  test("a ping after the peer's close frame is ignored and not answered (§5.5.1, §5.5.2)", () => {
    const h = makeSession(role);
    h.feed(cat(h.peer.close(1000), h.peer.ping('late')));
    assert.deepEqual(summarize(h.handler.events), [{ type: 'close', code: 1000, reason: '' }]);
    assert.deepEqual(
      h.handler.frames.map((f) => f.opcode),
      [OP.CLOSE],
    );
  });
}

for (const role of ROLES) describe(`${role} session control frames`, () => suite(role));
