// The closing handshake (RFC 6455 §5.5.1, §7.1, §7.4; Autobahn section 7): echoing, close codes, close reasons,
// input after a close frame, the CLOSING state, and close-body encoding.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidPayloadError, ProtocolError } from '../../src/errors.js';
import { encodeCloseBody, isValidCloseCode, parseCloseBody } from '../../src/protocol/close.js';
import type { Role } from '../../src/protocol/session.js';
import { SessionState } from '../../src/protocol/session.js';
import {
  assertFailed,
  cat,
  closePayload,
  decodeClose,
  makeSession,
  OP,
  pattern,
  ROLES,
  summarize,
  type Harness,
} from '../helpers/frames.js';

const INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];

function suite(role: Role): void {
  test('a close frame with no body is echoed with no body and reported as 1005 (§5.5.1, §7.1.5, Autobahn 7.3.1)', () => {
    const h = makeSession(role);
    h.feed(h.peer.close());
    assert.deepEqual(summarize(h.handler.events), [{ type: 'close', code: 1005, reason: '' }]);
    const frames = h.handler.frames;
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.opcode, OP.CLOSE);
    assert.equal(frames[0]!.fin, true);
    assert.equal(frames[0]!.masked, role === 'client');
    assert.equal(frames[0]!.payload.length, 0);
    assert.equal(h.session.state, SessionState.CLOSED);
    assert.equal(h.session.closeReceived, true);
    assert.equal(h.session.closeSent, true);
    assert.deepEqual(
      h.handler.log.map((e) => e.type),
      ['write', 'close'],
      'the echo is queued before the close is reported',
    );
  });

  test('a close frame with a code and a UTF-8 reason is echoed with the code and reported (§5.5.1, Autobahn 7.1.1)', () => {
    const h = makeSession(role);
    h.feed(h.peer.close(1000, 'Goodbye ✓ 𝄞'));
    assert.deepEqual(summarize(h.handler.events), [{ type: 'close', code: 1000, reason: 'Goodbye ✓ 𝄞' }]);
    const frames = h.handler.frames;
    assert.equal(frames.length, 1);
    assert.equal(decodeClose(frames[0]!.payload).code, 1000);
  });

  test('a close frame with a 123-byte reason (125-byte body) is accepted (§5.5, Autobahn 7.3.4)', () => {
    const h = makeSession(role);
    const reason = 'r'.repeat(123);
    h.feed(h.peer.close(1000, reason));
    assert.deepEqual(summarize(h.handler.events), [{ type: 'close', code: 1000, reason }]);
  });

  test('a close frame with a 1-byte body fails with 1002 (§5.5.1, Autobahn 7.3.2)', () => {
    const h = makeSession(role);
    h.feed(h.peer.frame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) }));
    assertFailed(h, 1002, 'NOPOLL_ERR_INVALID_CLOSE_BODY');
    assert.equal(h.session.closeReceived, false);
  });

  for (const code of INVALID_CODES) {
    test(`a close frame with invalid code ${code} fails with 1002 (§7.4.1, §7.4.2, Autobahn 7.9.x)`, () => {
      const h = makeSession(role);
      h.feed(h.peer.frame({ opcode: OP.CLOSE, payload: closePayload(code, 'x') }));
      assertFailed(h, 1002, 'NOPOLL_ERR_INVALID_CLOSE_CODE');
    });
  }

  test('every valid close code is accepted, reported and echoed (§7.4.1, §7.4.2, Autobahn 7.7.x)', () => {
    for (const code of VALID_CODES) {
      const h = makeSession(role);
      h.feed(h.peer.close(code, 'ok'));
      assert.deepEqual(summarize(h.handler.events), [{ type: 'close', code, reason: 'ok' }], `code ${code}`);
      assert.equal(decodeClose(h.handler.frames[0]!.payload).code, code);
    }
  });

  for (const [name, reason] of [
    ['C0 80', Buffer.from([0xc0, 0x80])],
    [
      'CE BA E1 BD B9 CF 83 CE BC CE B5 ED A0 80 65 64 69 74 65 64 (Autobahn 7.5.1)',
      Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex'),
    ],
    ['truncated E2 82', Buffer.from([0x61, 0xe2, 0x82])],
  ] as const) {
    test(`a close reason that is not UTF-8 (${name}) fails with 1007 (§5.5.1, §8.1)`, () => {
      const h = makeSession(role);
      h.feed(h.peer.frame({ opcode: OP.CLOSE, payload: closePayload(1000, reason) }));
      const error = assertFailed(h, 1007, 'NOPOLL_ERR_INVALID_UTF8');
      assert.ok(error instanceof InvalidPayloadError);
    });
  }

  test('after a close frame, further bytes (valid frames or garbage) are ignored (§5.5.1, §1.4, Autobahn 7.1.2-7.1.6)', () => {
    const h = makeSession(role);
    h.feed(
      cat(
        h.peer.text('before'),
        h.peer.close(1000, 'done'),
        h.peer.text('after'),
        h.peer.ping('p'),
        Buffer.from([0xff, 0x00, 0x13]),
      ),
    );
    h.feed(h.peer.close(1000), Buffer.from('garbage garbage'), h.peer.binary(pattern(10, 1)));
    assert.deepEqual(summarize(h.handler.events), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from('before').toString('hex') },
      { type: 'close', code: 1000, reason: 'done' },
    ]);
    assert.deepEqual(
      h.handler.frames.map((f) => f.opcode),
      [OP.CLOSE],
      'one echo, no pong',
    );
    assert.equal(h.session.bufferedBytes, 0);
  });

  test('after we send a close (CLOSING), data from the peer is still delivered until its close arrives (§7.1.2, §7.1.3)', () => {
    const h = makeSession(role);
    assert.equal(h.session.close(1001, 'going'), true);
    assert.equal(h.session.state, SessionState.CLOSING);
    assert.equal(h.session.closeSent, true);
    h.feed(
      h.peer.text('in flight'),
      h.peer.binary(Buffer.from([1, 2, 3]), false),
      h.peer.pong('pg'),
      h.peer.cont(Buffer.from([4]), true),
    );
    h.feed(h.peer.close(1001), h.peer.text('too late'));
    assert.deepEqual(summarize(h.handler.events), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from('in flight').toString('hex') },
      { type: 'pong', hex: Buffer.from('pg').toString('hex') },
      { type: 'message', opcode: OP.BINARY, fin: true, hex: '01020304' },
      { type: 'close', code: 1001, reason: '' },
    ]);
    const closes = h.handler.frames.filter((f) => f.opcode === OP.CLOSE);
    assert.equal(closes.length, 1, "the peer's close is not echoed when we already sent ours");
    assert.deepEqual(decodeClose(closes[0]!.payload), { code: 1001, reason: 'going' });
    assert.equal(h.session.state, SessionState.CLOSED);
  });

  test('a protocol error while CLOSING is reported but no second close frame is sent (§7.1.7)', () => {
    const h = makeSession(role);
    h.session.close(1000);
    h.feed(h.peer.frame({ opcode: 0x3 }));
    assert.equal(h.handler.errors.length, 1);
    assert.equal(h.handler.errors[0]!.closeCode, 1002);
    assert.equal(h.handler.frames.length, 1);
    assert.equal(decodeClose(h.handler.frames[0]!.payload).code, 1000);
    assert.equal(h.session.state, SessionState.CLOSED);
  });

  test('close() twice sends one close frame (§5.5.1)', () => {
    const h = makeSession(role);
    assert.equal(h.session.close(1000, 'first'), true);
    assert.equal(h.session.close(1001, 'second'), false);
    assert.equal(h.session.close(), false);
    const frames = h.handler.frames;
    assert.equal(frames.length, 1);
    assert.deepEqual(decodeClose(frames[0]!.payload), { code: 1000, reason: 'first' });
    assert.equal(frames[0]!.masked, role === 'client');
  });

  test('close() with no code sends an empty close body (§5.5.1)', () => {
    const h = makeSession(role);
    h.session.close();
    assert.deepEqual(
      h.handler.frames.map((f) => [f.opcode, f.payload.length]),
      [[OP.CLOSE, 0]],
    );
  });

  test('close() after the peer closed returns false and sends nothing more (§5.5.1)', () => {
    const h = makeSession(role);
    h.feed(h.peer.close(1000));
    assert.equal(h.session.close(1000), false);
    assert.equal(h.handler.writes.length, 1);
  });

  for (const [name, setup] of [
    ['we sent a close', (h: Harness) => void h.session.close(1000)],
    ['the peer closed', (h: Harness) => h.feed(h.peer.close(1000))],
    ['the connection failed', (h: Harness) => h.feed(h.peer.frame({ opcode: 0xb }))],
    ['abort()', (h: Harness) => h.session.abort()],
  ] as const) {
    test(`sending data after ${name} returns -1 and writes nothing (§5.5.1)`, () => {
      const h = makeSession(role);
      setup(h);
      const writes = h.handler.writes.length;
      assert.equal(h.session.sendText('x'), -1);
      assert.equal(h.session.sendText(Buffer.from('x')), -1);
      assert.equal(h.session.sendData(OP.BINARY, Buffer.from('x')), -1);
      assert.equal(h.session.sendData(OP.TEXT, Buffer.from('x'), false), -1);
      assert.equal(h.session.ping(), false);
      assert.equal(h.session.pong(), false);
      assert.equal(h.handler.writes.length, writes);
    });
  }

  test('abort() stops all input processing (§7.1.7)', () => {
    const h = makeSession(role);
    h.session.abort();
    h.feed(h.peer.text('ignored'), h.peer.close(1000));
    assert.deepEqual(h.handler.log, []);
    assert.equal(h.session.state, SessionState.CLOSED);
  });

  test('close() with a code that may not be sent or a too long reason throws RangeError and sends nothing (§7.4.1, §5.5)', () => {
    const h = makeSession(role);
    for (const code of [1005, 1006, 1015, 1004, 999, 5000])
      assert.throws(() => h.session.close(code), RangeError, `code ${code}`);
    assert.throws(() => h.session.close(1000, 'x'.repeat(124)), RangeError);
    assert.deepEqual(h.handler.writes, []);
    assert.equal(h.session.state, SessionState.OPEN);
  });
}

for (const role of ROLES) describe(`${role} session closing handshake`, () => suite(role));

describe('close bodies (RFC 6455 §5.5.1, §7.4)', () => {
  test('encodeCloseBody encodes the code big-endian followed by the UTF-8 reason', () => {
    assert.deepEqual(encodeCloseBody(), Buffer.alloc(0));
    assert.deepEqual(encodeCloseBody(1000), Buffer.from([0x03, 0xe8]));
    assert.deepEqual(encodeCloseBody(4999, 'é'), Buffer.from([0x13, 0x87, 0xc3, 0xa9]));
    assert.equal(encodeCloseBody(1000, 'x'.repeat(123)).length, 125);
    assert.equal(encodeCloseBody(1000, 'é'.repeat(61) + 'x').length, 125);
  });

  test('encodeCloseBody throws RangeError for reasons over 123 bytes, counted in UTF-8 bytes (§5.5)', () => {
    assert.throws(() => encodeCloseBody(1000, 'x'.repeat(124)), RangeError);
    assert.throws(() => encodeCloseBody(1000, 'é'.repeat(62)), RangeError); // 62 characters, 124 bytes
    assert.throws(() => encodeCloseBody(1000, '𝄞'.repeat(31)), RangeError); // 31 characters, 124 bytes
  });

  test('encodeCloseBody throws RangeError for 1005, 1006, 1015 and other codes that may not be sent (§7.4.1)', () => {
    for (const code of [...INVALID_CODES, 1000.5, NaN, -1000])
      assert.throws(() => encodeCloseBody(code), RangeError, `code ${code}`);
    for (const code of VALID_CODES) assert.deepEqual(encodeCloseBody(code).readUInt16BE(0), code);
  });

  test('encodeCloseBody throws TypeError for a reason without a code', () => {
    assert.throws(() => encodeCloseBody(undefined, 'why'), TypeError);
  });

  test('isValidCloseCode over 0..65535 accepts exactly 1000-1003, 1007-1014 and 3000-4999 (§7.4.1, §7.4.2)', () => {
    for (let code = 0; code <= 65535; code++) {
      const expected =
        (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
      assert.equal(isValidCloseCode(code), expected, `code ${code}`);
    }
  });

  test('parseCloseBody: empty, 1 byte, bad code, bad UTF-8, good', () => {
    assert.deepEqual(parseCloseBody(Buffer.alloc(0)), { code: 1005, reason: '' });
    const oneByte = parseCloseBody(Buffer.from([0x03]));
    assert.ok(oneByte instanceof ProtocolError && oneByte.closeCode === 1002);
    const badCode = parseCloseBody(closePayload(1006));
    assert.ok(
      badCode instanceof ProtocolError &&
        badCode.closeCode === 1002 &&
        badCode.code === 'NOPOLL_ERR_INVALID_CLOSE_CODE',
    );
    const badUtf8 = parseCloseBody(closePayload(1000, Buffer.from([0xff])));
    assert.ok(badUtf8 instanceof InvalidPayloadError && badUtf8.closeCode === 1007);
    // A view into a bigger buffer (as the parser delivers it).
    const backing = cat(Buffer.from('junk'), closePayload(3000, 'fine'), Buffer.from('junk'));
    assert.deepEqual(parseCloseBody(backing.subarray(4, backing.length - 4)), { code: 3000, reason: 'fine' });
  });
});
