// Reserved bits (RFC 6455 §5.2, Autobahn section 3) and reserved opcodes (§5.2, §11.8, Autobahn section 4).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameParser } from '../../src/protocol/frame-parser.js';
import { RSV1, RSV2, RSV3 } from '../../src/protocol/frame-header.js';
import type { Role } from '../../src/protocol/session.js';
import {
  assertFailed,
  BIG,
  buildFrame,
  cat,
  makeSession,
  OP,
  RecordingSink,
  ROLES,
  summarize,
  type Harness,
} from '../helpers/frames.js';

const RSV_VALUES = [RSV1, RSV2, RSV3, RSV1 | RSV2, RSV1 | RSV3, RSV2 | RSV3, RSV1 | RSV2 | RSV3];
const rsvName = (rsv: number): string => `RSV=${(rsv >> 4).toString(2).padStart(3, '0')}`;

function suite(role: Role): void {
  for (const rsv of RSV_VALUES) {
    test(`text frame with ${rsvName(rsv)} and no extension fails with 1002; nothing after is delivered (§5.2, Autobahn 3.1-3.3)`, () => {
      const h = makeSession(role);
      h.feed(
        cat(
          h.peer.text('before'),
          h.peer.frame({ opcode: OP.TEXT, rsv, payload: 'x' }),
          h.peer.text('after'),
          h.peer.ping('p'),
        ),
      );
      assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_RSV');
      assert.deepEqual(summarize(h.handler.events).slice(0, -1), [
        { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from('before').toString('hex') },
      ]);
      h.feed(h.peer.text('later'));
      assert.equal(h.handler.events.length, 2);
    });
  }

  for (const [name, opcode, payload] of [
    ['binary', OP.BINARY, Buffer.from([0, 255])],
    ['ping', OP.PING, Buffer.from('p')],
    ['pong', OP.PONG, Buffer.from('p')],
    ['close', OP.CLOSE, Buffer.from([0x03, 0xe8])],
  ] as const) {
    test(`${name} frame with RSV bits and no extension fails with 1002 and is not acted upon (§5.2, Autobahn 3.4-3.7)`, () => {
      for (const rsv of [RSV1, RSV2, RSV3]) {
        const h = makeSession(role);
        h.feed(h.peer.frame({ opcode, rsv, payload }));
        assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_RSV');
        // Only the failing close frame was written (no pong, no close echo).
        assert.equal(h.handler.writes.length, 1);
      }
    });
  }

  test('continuation frame with RSV1 and no extension fails with 1002 (§5.2)', () => {
    const h = makeSession(role);
    h.feed(h.peer.text('a', false), h.peer.frame({ opcode: OP.CONT, rsv: RSV1, payload: 'b' }));
    assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_RSV');
    assert.equal(h.handler.messages.length, 0);
  });

  test('with allowedRsv = RSV1, RSV1 on the first frame of a text or binary message is accepted (§5.2, RFC 7692 §6)', () => {
    const h = makeSession(role, { allowedRsv: RSV1 });
    h.feed(
      h.peer.frame({ opcode: OP.TEXT, rsv: RSV1, payload: 'whole' }),
      h.peer.frame({ opcode: OP.BINARY, rsv: RSV1, payload: 'ab', fin: false }),
      h.peer.cont('cd', true),
    );
    assert.deepEqual(summarize(h.handler.log), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from('whole').toString('hex') },
      { type: 'message', opcode: OP.BINARY, fin: true, hex: Buffer.from('abcd').toString('hex') },
    ]);
  });

  for (const [name, frames] of [
    ['a ping', (h: Harness) => [h.peer.frame({ opcode: OP.PING, rsv: RSV1 })]],
    ['a pong', (h: Harness) => [h.peer.frame({ opcode: OP.PONG, rsv: RSV1 })]],
    ['a close', (h: Harness) => [h.peer.frame({ opcode: OP.CLOSE, rsv: RSV1 })]],
    [
      'a continuation',
      (h: Harness) => [h.peer.text('a', false), h.peer.frame({ opcode: OP.CONT, rsv: RSV1, payload: 'b' })],
    ],
    ['a text frame, with RSV2', (h: Harness) => [h.peer.frame({ opcode: OP.TEXT, rsv: RSV2, payload: 'x' })]],
  ] as const) {
    test(`with allowedRsv = RSV1, RSV1 on ${name} frame still fails with 1002 (§5.2, RFC 7692 §6.1)`, () => {
      const h = makeSession(role, { allowedRsv: RSV1 });
      h.feed(...frames(h));
      assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_RSV');
      assert.equal(h.handler.messages.length, 0);
    });
  }

  test('writeCompressed writes RSV1 on a first frame; sendData never sets RSV bits (§5.2, RFC 7692 §6)', () => {
    const h = makeSession(role);
    h.session.writeCompressed(OP.BINARY, Buffer.from('z'), true);
    h.session.sendData(OP.TEXT, Buffer.from('y'));
    assert.deepEqual(
      h.handler.frames.map((f) => [f.rsv, f.opcode, f.payload.toString()]),
      [
        [RSV1, OP.BINARY, 'z'],
        [0, OP.TEXT, 'y'],
      ],
    );
  });

  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    const kind = opcode < 8 ? 'non-control' : 'control';
    test(`reserved ${kind} opcode ${opcode} fails with 1002 (§5.2, Autobahn 4.${opcode < 8 ? 1 : 2})`, () => {
      for (const payload of ['', 'reserved']) {
        const h = makeSession(role);
        h.feed(cat(h.peer.text('ok'), h.peer.frame({ opcode, payload }), h.peer.ping('p'), h.peer.text('no')));
        assertFailed(h, 1002, 'NOPOLL_ERR_INVALID_OPCODE');
        assert.deepEqual(summarize(h.handler.events).slice(0, -1), [
          { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from('ok').toString('hex') },
        ]);
        assert.equal(h.handler.writes.length, 1, 'no pong for the ping after the bad frame');
      }
    });
  }

  test('reserved opcode inside a fragmented message fails with 1002 and the message is never delivered (§5.2)', () => {
    const h = makeSession(role);
    h.feed(h.peer.text('ab', false), h.peer.frame({ opcode: 5, payload: 'x', fin: false }), h.peer.cont('cd', true));
    assertFailed(h, 1002, 'NOPOLL_ERR_INVALID_OPCODE');
    assert.equal(h.handler.messages.length, 0);
  });
}

for (const role of ROLES) describe(`${role} session: reserved bits and opcodes`, () => suite(role));

describe('FrameParser reserved bits and opcodes', () => {
  const opts = { expectMasked: false, maxFrameBytes: BIG, maxMessageBytes: BIG };

  test('reports the RSV bits of an allowed first data frame to the sink (§5.2)', () => {
    const sink = new RecordingSink();
    const parser = new FrameParser(sink, { ...opts, allowedRsv: RSV1 });
    parser.push(
      cat(
        buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload: 'z', fin: false }),
        buildFrame({ opcode: OP.CONT, payload: 'y' }),
      ),
    );
    assert.deepEqual(sink.errors, []);
    assert.deepEqual(
      sink.frames.map((f) => [f.rsv, f.opcode, f.fin]),
      [
        [RSV1, OP.TEXT, false],
        [0, OP.CONT, true],
      ],
    );
  });

  test('setAllowedRsv changes what is accepted from the next frame (§5.2)', () => {
    const sink = new RecordingSink();
    const parser = new FrameParser(sink, { ...opts, allowedRsv: 0 });
    parser.setAllowedRsv(RSV1);
    parser.push(buildFrame({ opcode: OP.BINARY, rsv: RSV1, payload: 'a' }));
    parser.setAllowedRsv(0);
    parser.push(buildFrame({ opcode: OP.BINARY, rsv: RSV1, payload: 'b' }));
    assert.equal(sink.frames.length, 1);
    assert.equal(sink.errors.length, 1);
    assert.equal(sink.errors[0]!.code, 'NOPOLL_ERR_UNEXPECTED_RSV');
    assert.equal(parser.stopped, true);
  });

  test('every reserved opcode is refused once, and the parser stops (§5.2)', () => {
    for (let opcode = 0; opcode < 16; opcode++) {
      if ([0, 1, 2, 8, 9, 10].includes(opcode)) continue;
      const sink = new RecordingSink();
      const parser = new FrameParser(sink, { ...opts, allowedRsv: 0 });
      parser.push(cat(buildFrame({ opcode }), buildFrame({ opcode: OP.TEXT, payload: 'x' })));
      parser.push(buildFrame({ opcode: OP.TEXT, payload: 'y' }));
      assert.deepEqual(sink.order, ['error'], `opcode ${opcode}`);
      assert.equal(sink.errors[0]!.code, 'NOPOLL_ERR_INVALID_OPCODE');
      assert.equal(sink.errors[0]!.closeCode, 1002);
    }
  });
});
