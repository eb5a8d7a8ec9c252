// Fragmentation (RFC 6455 §5.4, Autobahn section 5): reassembly, control frames between fragments, misuse of
// continuation frames, frame-by-frame delivery, and fragmented sending.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Role } from '../../src/protocol/session.js';
import {
  assertFailed,
  cat,
  decodeClose,
  makeSession,
  OP,
  pattern,
  ROLES,
  splitAt,
  summarize,
} from '../helpers/frames.js';

const hexOf = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s) : s).toString('hex');

function suite(role: Role): void {
  const other: Role = role === 'client' ? 'server' : 'client';

  for (const [name, opcode] of [
    ['text', OP.TEXT],
    ['binary', OP.BINARY],
  ] as const) {
    test(`a ${name} message in 2..12 fragments is reassembled into one message (§5.4, Autobahn 5.3-5.5)`, () => {
      const whole = name === 'text' ? Buffer.from('Fragmented messages — reassembled ✓ 𝄞', 'utf8') : pattern(40, 8);
      for (let n = 2; n <= 12; n++) {
        const cuts = Array.from({ length: n - 1 }, (_, i) => Math.floor(((i + 1) * whole.length) / n));
        const pieces = splitAt(whole, cuts);
        const h = makeSession(role);
        h.feed(
          ...pieces.map((p, i) =>
            h.peer.frame({ opcode: i === 0 ? opcode : OP.CONT, payload: p, fin: i === pieces.length - 1 }),
          ),
        );
        assert.deepEqual(
          summarize(h.handler.log),
          [{ type: 'message', opcode, fin: true, hex: hexOf(whole) }],
          `${n} fragments`,
        );
      }
    });
  }

  test('large fragments in every length form are reassembled (§5.2, §5.4)', () => {
    const parts = [pattern(70000, 1), pattern(125, 2), pattern(300, 3), pattern(65536, 4)];
    const h = makeSession(role);
    h.feed(
      ...parts.map((p, i) =>
        h.peer.frame({ opcode: i === 0 ? OP.BINARY : OP.CONT, payload: p, fin: i === parts.length - 1 }),
      ),
    );
    const messages = h.handler.messages;
    assert.equal(messages.length, 1);
    assert.ok(messages[0]!.payload.equals(Buffer.concat(parts)));
  });

  test('empty fragments are allowed anywhere in a message (§5.4, Autobahn 5.x)', () => {
    const h = makeSession(role);
    h.feed(
      h.peer.text('', false),
      h.peer.cont('', false),
      h.peer.cont('', true),
      h.peer.text('', false),
      h.peer.cont('mid', false),
      h.peer.cont('', true),
      h.peer.binary(Buffer.alloc(0), false),
      h.peer.cont('', true),
    );
    assert.deepEqual(summarize(h.handler.log), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: '' },
      { type: 'message', opcode: OP.TEXT, fin: true, hex: hexOf('mid') },
      { type: 'message', opcode: OP.BINARY, fin: true, hex: '' },
    ]);
  });

  for (const fin of [true, false]) {
    test(`a continuation (fin=${fin}) with no message open fails with 1002 (§5.4, Autobahn 5.9-5.14)`, () => {
      const h = makeSession(role);
      h.feed(h.peer.cont('orphan', fin), h.peer.text('after'));
      assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_CONTINUATION');
      assert.equal(h.handler.messages.length, 0);
    });
  }

  test('a continuation right after a finished message fails with 1002 (§5.4)', () => {
    const h = makeSession(role);
    h.feed(h.peer.text('a', false), h.peer.cont('b', true), h.peer.cont('c', true));
    assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_CONTINUATION');
    assert.deepEqual(summarize(h.handler.events).slice(0, -1), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: hexOf('ab') },
    ]);
  });

  for (const [first, second] of [
    [OP.TEXT, OP.TEXT],
    [OP.TEXT, OP.BINARY],
    [OP.BINARY, OP.TEXT],
    [OP.BINARY, OP.BINARY],
  ] as const) {
    test(`a new data frame (opcode ${second}) while a message (opcode ${first}) is open fails with 1002 (§5.4, Autobahn 5.18)`, () => {
      for (const fin of [true, false]) {
        const h = makeSession(role);
        h.feed(
          h.peer.frame({ opcode: first, payload: 'one', fin: false }),
          h.peer.frame({ opcode: second, payload: 'two', fin }),
        );
        assertFailed(h, 1002, 'NOPOLL_ERR_EXPECTED_CONTINUATION');
        assert.equal(h.handler.messages.length, 0);
      }
    });
  }

  test('a ping between fragments is answered with a pong of the same payload and the message completes (§5.4, §5.5.2, Autobahn 5.6-5.8)', () => {
    const h = makeSession(role);
    const payload = pattern(125, 6);
    h.feed(h.peer.text('frag1', false), h.peer.ping(payload), h.peer.cont('frag2', true));
    const log = h.handler.log;
    assert.deepEqual(
      log.map((e) => e.type),
      ['write', 'ping', 'message'],
      'pong written, ping reported, then the message',
    );
    const pong = h.handler.frames[0]!;
    assert.equal(pong.opcode, OP.PONG);
    assert.equal(pong.fin, true);
    assert.equal(pong.masked, role === 'client');
    assert.ok(pong.payload.equals(payload));
    assert.deepEqual(summarize(h.handler.messages), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: hexOf('frag1frag2') },
    ]);
  });

  test('pings and pongs after every one of 10 fragments: all pings answered in order, pongs reported, message whole (§5.4, Autobahn 5.19-5.20)', () => {
    const h = makeSession(role);
    const frames: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      frames.push(h.peer.frame({ opcode: i === 0 ? OP.BINARY : OP.CONT, payload: `f${i}`, fin: i === 9 }));
      frames.push(h.peer.ping(`ping${i}`), h.peer.pong(`pong${i}`));
    }
    h.feed(cat(...frames));
    assert.deepEqual(
      h.handler.frames.map((f) => [f.opcode, f.payload.toString()]),
      Array.from({ length: 10 }, (_, i) => [OP.PONG, `ping${i}`]),
    );
    const events = summarize(h.handler.events);
    assert.equal(events.length, 21);
    // The last fragment completes the message before the last ping and pong arrive.
    assert.deepEqual(events[18], { type: 'message', opcode: OP.BINARY, fin: true, hex: hexOf('f0f1f2f3f4f5f6f7f8f9') });
    assert.deepEqual(events.filter((e) => (e as { type: string }).type === 'pong').length, 10);
  });

  test('a close frame in the middle of a fragmented message ends the session; the message is never delivered (§5.4, §5.5.1)', () => {
    const h = makeSession(role);
    h.feed(h.peer.text('half', false), h.peer.close(1001, 'away'), h.peer.cont('rest', true));
    assert.deepEqual(summarize(h.handler.events), [{ type: 'close', code: 1001, reason: 'away' }]);
    assert.deepEqual(decodeClose(h.handler.frames[0]!.payload).code, 1001);
  });

  test('deliverFrames: each frame arrives on its own, CONTINUATION for later frames, fin only on the last (§5.4)', () => {
    const h = makeSession(role, { deliverFrames: true });
    h.feed(
      h.peer.text('ab', false),
      h.peer.ping('x'),
      h.peer.cont('', false),
      h.peer.cont('cd', true),
      h.peer.binary(Buffer.from([1, 2]), false),
      h.peer.frame({ opcode: OP.CONT, payload: Buffer.from([3]), fin: true }),
      h.peer.text('whole'),
      h.peer.binary(Buffer.from([9])),
    );
    assert.deepEqual(summarize(h.handler.events), [
      { type: 'message', opcode: OP.TEXT, fin: false, hex: hexOf('ab') },
      { type: 'ping', hex: hexOf('x') },
      { type: 'message', opcode: OP.CONT, fin: false, hex: '' },
      { type: 'message', opcode: OP.CONT, fin: true, hex: hexOf('cd') },
      { type: 'message', opcode: OP.BINARY, fin: false, hex: '0102' },
      { type: 'message', opcode: OP.CONT, fin: true, hex: '03' },
      { type: 'message', opcode: OP.TEXT, fin: true, hex: hexOf('whole') },
      { type: 'message', opcode: OP.BINARY, fin: true, hex: '09' },
    ]);
  });

  test('deliverFrames: continuation misuse still fails with 1002 (§5.4)', () => {
    const h = makeSession(role, { deliverFrames: true });
    h.feed(h.peer.text('a', false), h.peer.text('b', true));
    assertFailed(h, 1002, 'NOPOLL_ERR_EXPECTED_CONTINUATION');
    assert.deepEqual(summarize(h.handler.events).slice(0, -1), [
      { type: 'message', opcode: OP.TEXT, fin: false, hex: hexOf('a') },
    ]);
  });

  // ---- sending ----

  for (const [name, kind] of [
    ['text', OP.TEXT],
    ['binary', OP.BINARY],
  ] as const) {
    test(`sendFragment (${name}) sends ${name.toUpperCase()} then CONTINUATION opcodes, FIN only on the last (§5.4; noPoll repeated the data opcode)`, () => {
      const h = makeSession(role);
      assert.equal(h.session.sendingFragmented, 0);
      assert.equal(h.session.sendData(kind, Buffer.from('one'), false), 3);
      assert.equal(h.session.sendingFragmented, kind);
      assert.equal(h.session.sendData(kind, Buffer.from(''), false), 0);
      assert.equal(h.session.sendData(kind, Buffer.from('two'), false), 3);
      assert.equal(h.session.sendData(kind, Buffer.from('end'), true), 3);
      assert.equal(h.session.sendingFragmented, 0);
      // The next message starts with a data opcode again.
      h.session.sendData(kind, Buffer.from('solo'), true);
      assert.deepEqual(
        h.handler.frames.map((f) => [f.opcode, f.fin, f.rsv, f.masked, f.payload.toString()]),
        [
          [kind, false, 0, role === 'client', 'one'],
          [OP.CONT, false, 0, role === 'client', ''],
          [OP.CONT, false, 0, role === 'client', 'two'],
          [OP.CONT, true, 0, role === 'client', 'end'],
          [kind, true, 0, role === 'client', 'solo'],
        ],
      );
    });
  }

  test('control frames can be sent between fragments, and the peer reassembles the message (§5.4, §5.5)', () => {
    const h = makeSession(role);
    h.session.sendData(OP.TEXT, Buffer.from('Hel'), false);
    assert.equal(h.session.ping(Buffer.from('p1')), true);
    assert.equal(h.session.pong(Buffer.from('p2')), true);
    h.session.sendData(OP.TEXT, Buffer.from('lo'), true);
    assert.deepEqual(
      h.handler.frames.map((f) => [f.opcode, f.fin]),
      [
        [OP.TEXT, false],
        [OP.PING, true],
        [OP.PONG, true],
        [OP.CONT, true],
      ],
    );
    const peer = makeSession(other);
    for (const w of h.handler.writes) peer.feed(w);
    assert.deepEqual(
      peer.handler.messages.map((m) => [m.opcode, m.payload.toString()]),
      [[OP.TEXT, 'Hello']],
    );
    assert.deepEqual(
      peer.handler.events.map((e) => e.type),
      ['ping', 'pong', 'message'],
    );
  });

  test('while a fragmented send is open, the other data type is refused and a send with FIN ends the message (§5.4)', () => {
    const h = makeSession(role);
    h.session.sendData(OP.TEXT, Buffer.from('a'), false);
    assert.throws(() => h.session.sendData(OP.BINARY, Buffer.from('x')), TypeError);
    assert.throws(() => h.session.sendData(OP.BINARY, Buffer.from('x'), false), TypeError);
    assert.equal(h.handler.writes.length, 1, 'nothing else was written');
    assert.equal(h.session.sendText('b'), 1, 'a whole text send is the last frame of the open text message');
    assert.equal(h.session.sendingFragmented, 0);
    assert.equal(h.session.sendText('after'), 5);
    assert.deepEqual(
      h.handler.frames.map((f) => [f.opcode, f.fin, f.payload.toString()]),
      [
        [OP.TEXT, false, 'a'],
        [OP.CONT, true, 'b'],
        [OP.TEXT, true, 'after'],
      ],
    );
  });

  test('sendFragment after close returns -1 and writes nothing (§5.5.1)', () => {
    const h = makeSession(role);
    h.session.sendData(OP.BINARY, Buffer.from('a'), false);
    h.session.close(1000);
    const writes = h.handler.writes.length;
    assert.equal(h.session.sendData(OP.BINARY, Buffer.from('b'), true), -1);
    assert.equal(h.handler.writes.length, writes);
  });
}

for (const role of ROLES) describe(`${role} session fragmentation`, () => suite(role));
