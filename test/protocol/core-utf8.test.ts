// UTF-8 (RFC 6455 §5.6, §8.1; RFC 3629; Autobahn section 6): valid text of every sequence length is accepted,
// every kind of ill-formed sequence fails the connection with 1007, fragmented text fails fast at the first bad
// fragment, and code points may be split anywhere across fragments. Utf8Validator is checked against
// buffer.isUtf8 on random input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { InvalidPayloadError } from '../../src/errors.js';
import { isValidUtf8, Utf8Validator } from '../../src/protocol/utf8.js';
import type { Role } from '../../src/protocol/session.js';
import { assertFailed, cat, makeSession, OP, Peer, ROLES, splitAt, summarize } from '../helpers/frames.js';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const VALID: ReadonlyArray<[string, Buffer]> = [
  ['ASCII', Buffer.from('Hello, world')],
  ['2-byte U+0080', h('c2 80')],
  ['2-byte U+00E9 é', h('c3 a9')],
  ['2-byte U+07FF', h('df bf')],
  ['3-byte U+0800', h('e0 a0 80')],
  ['3-byte U+20AC €', h('e2 82 ac')],
  ['3-byte U+D7FF (below surrogates)', h('ed 9f bf')],
  ['3-byte U+E000 (above surrogates)', h('ee 80 80')],
  ['3-byte U+FFFD', h('ef bf bd')],
  ['3-byte U+FFFF', h('ef bf bf')],
  ['4-byte U+10000', h('f0 90 80 80')],
  ['4-byte U+1D11E 𝄞', h('f0 9d 84 9e')],
  ['4-byte U+10FFFF', h('f4 8f bf bf')],
  ['Autobahn 6.2 "Hello-µ@ßöäüàá-UTF-8!!"', Buffer.from('Hello-µ@ßöäüàá-UTF-8!!')],
  ['Autobahn 6.5 "κόσμε"', Buffer.from('κόσμε')],
];

// Sequences that are wrong as soon as their last byte is seen (no end-of-message needed).
const INVALID: ReadonlyArray<[string, Buffer]> = [
  ['overlong C0 80 (U+0000)', h('c0 80')],
  ['overlong C1 BF', h('c1 bf')],
  ['overlong E0 80 80', h('e0 80 80')],
  ['overlong E0 9F BF', h('e0 9f bf')],
  ['overlong F0 80 80 80', h('f0 80 80 80')],
  ['overlong F0 8F BF BF', h('f0 8f bf bf')],
  ['surrogate ED A0 80 (U+D800)', h('ed a0 80')],
  ['surrogate ED BF BF (U+DFFF)', h('ed bf bf')],
  ['surrogate pair ED A0 80 ED B0 80', h('ed a0 80 ed b0 80')],
  ['over U+10FFFF F4 90 80 80', h('f4 90 80 80')],
  ['F5 80 80 80', h('f5 80 80 80')],
  ['F7 BF BF BF', h('f7 bf bf bf')],
  ['F8 88 80 80 80 (5-byte form)', h('f8 88 80 80 80')],
  ['FC 84 80 80 80 80 (6-byte form)', h('fc 84 80 80 80 80')],
  ['FE', h('fe')],
  ['FF', h('ff')],
  ['lone continuation 80', h('80')],
  ['lone continuation BF', h('bf')],
  ['lead byte followed by ASCII C3 41', h('c3 41')],
  ['3-byte lead cut by ASCII E2 82 41', h('e2 82 41')],
  ['extra continuation after é: C3 A9 A9', h('c3 a9 a9')],
];

// Sequences that are only wrong because the message ends.
const TRUNCATED: ReadonlyArray<[string, Buffer]> = [
  ['C3', h('c3')],
  ['E2 82', h('e2 82')],
  ['E0', h('e0')],
  ['F0 9D 84', h('f0 9d 84')],
  ['F4 8F', h('f4 8f')],
];

function suite(role: Role): void {
  for (const [name, bytes] of VALID) {
    test(`valid UTF-8 text (${name}) is delivered, whole and as frames (§8.1, Autobahn 6.2-6.5)`, () => {
      const text = cat(Buffer.from('<'), bytes, Buffer.from('>'));
      for (const deliverFrames of [false, true]) {
        const s = makeSession(role, { deliverFrames });
        s.feed(s.peer.text(text));
        assert.deepEqual(summarize(s.handler.log), [
          { type: 'message', opcode: OP.TEXT, fin: true, hex: text.toString('hex') },
        ]);
      }
    });
  }

  for (const [name, bytes] of [...INVALID, ...TRUNCATED]) {
    test(`invalid UTF-8 text (${name}) fails with 1007 InvalidPayloadError (§8.1, Autobahn 6.x)`, () => {
      for (const deliverFrames of [false, true]) {
        const s = makeSession(role, { deliverFrames });
        s.feed(cat(s.peer.text(cat(Buffer.from('ab'), bytes)), s.peer.text('after')));
        const error = assertFailed(s, 1007, 'NOPOLL_ERR_INVALID_UTF8');
        assert.ok(error instanceof InvalidPayloadError);
        assert.equal(s.handler.messages.length, 0);
      }
    });
  }

  test('sendText refuses a buffer that is not UTF-8 with TypeError and writes nothing (§5.6)', () => {
    const s = makeSession(role);
    for (const [name, bytes] of [...INVALID, ...TRUNCATED])
      assert.throws(() => s.session.sendText(bytes), TypeError, name);
    assert.deepEqual(s.handler.writes, []);
    for (const [, bytes] of VALID) assert.equal(s.session.sendText(bytes), bytes.length);
    assert.deepEqual(
      s.handler.frames.map((f) => f.payload.toString('hex')),
      VALID.map(([, b]) => b.toString('hex')),
    );
  });

  test('invalid UTF-8 in a binary message is not checked (§5.6)', () => {
    const s = makeSession(role);
    const all = Buffer.concat(INVALID.map(([, b]) => b));
    s.feed(s.peer.binary(all));
    assert.deepEqual(summarize(s.handler.log), [
      { type: 'message', opcode: OP.BINARY, fin: true, hex: all.toString('hex') },
    ]);
  });

  for (const [name, bytes] of INVALID) {
    test(`fail-fast: a first fragment containing ${name} fails before the FIN frame arrives (§8.1)`, () => {
      for (const deliverFrames of [false, true]) {
        const s = makeSession(role, { deliverFrames });
        s.feed(s.peer.text(cat(Buffer.from('ok '), bytes, Buffer.from(' more')), false));
        assertFailed(s, 1007, 'NOPOLL_ERR_INVALID_UTF8');
        assert.equal(s.handler.messages.length, 0);
        s.feed(s.peer.cont('end', true));
        assert.equal(s.handler.events.length, 1);
      }
    });
  }

  test('fail-fast: a bad middle fragment fails at once; in frame mode the good fragments before it were delivered (§8.1)', () => {
    for (const deliverFrames of [false, true]) {
      const s = makeSession(role, { deliverFrames });
      s.feed(s.peer.text('good ', false), s.peer.cont('€', false), s.peer.cont(h('ed a0 80'), false));
      assertFailed(s, 1007, 'NOPOLL_ERR_INVALID_UTF8');
      assert.deepEqual(
        s.handler.messages.map((m) => [m.opcode, m.payload.toString(), m.fin]),
        deliverFrames
          ? [
              [OP.TEXT, 'good ', false],
              [OP.CONT, '€', false],
            ]
          : [],
      );
    }
  });

  test('fail-fast: a fragment that ends inside a sequence already impossible fails at once (F4 90 | ...) (§8.1)', () => {
    for (const tail of [h('f4 90'), h('ed a0'), h('e0 80'), h('f0 80'), h('f5')]) {
      const s = makeSession(role);
      s.feed(s.peer.text(cat(Buffer.from('x'), tail), false));
      assertFailed(s, 1007, 'NOPOLL_ERR_INVALID_UTF8');
    }
  });

  test('fail-fast: one long text frame whose first received part is invalid fails before the rest of the frame arrives (§8.1)', () => {
    const payload = cat(Buffer.from('start '), h('c0 80'), Buffer.alloc(100000, 0x61));
    const s = makeSession(role);
    const frame = s.peer.text(payload);
    s.feed(frame.subarray(0, 100));
    assertFailed(s, 1007, 'NOPOLL_ERR_INVALID_UTF8');
    s.feed(frame.subarray(100));
    assert.equal(s.handler.events.length, 1);
  });

  for (const [name, bytes] of TRUNCATED) {
    test(`a fragment ending inside a sequence (${name}) is accepted until a FIN ends the message there (§8.1)`, () => {
      const s = makeSession(role);
      s.feed(s.peer.text(cat(Buffer.from('x'), bytes), false), s.peer.cont('', false));
      assert.deepEqual(s.handler.log, [], 'no failure while the sequence may still complete');
      s.feed(s.peer.cont('', true));
      assertFailed(s, 1007, 'NOPOLL_ERR_INVALID_UTF8');
    });
  }

  test('a code point split across fragment boundaries at every split position is accepted (§5.4, §8.1, Autobahn 6.2-6.4)', () => {
    const text = Buffer.from('aé€𝄞\u{10FFFF}\uFFFFz', 'utf8');
    for (const deliverFrames of [false, true]) {
      for (let a = 0; a <= text.length; a++) {
        for (let b = a; b <= text.length; b++) {
          const pieces = [text.subarray(0, a), text.subarray(a, b), text.subarray(b)];
          const s = makeSession(role, { deliverFrames });
          s.feed(s.peer.text(pieces[0]!, false), s.peer.cont(pieces[1]!, false), s.peer.cont(pieces[2]!, true));
          assert.equal(s.handler.errors.length, 0, `split at ${a}, ${b}`);
          const got = Buffer.concat(s.handler.messages.map((m) => m.payload));
          assert.ok(got.equals(text), `split at ${a}, ${b}`);
        }
      }
    }
  });

  test('a code point split across TCP chunks inside one text frame at every position is accepted (§8.1)', () => {
    const text = Buffer.from('€𝄞é'.repeat(40), 'utf8');
    const frame = new Peer(role).text(text);
    for (let cut = 1; cut < frame.length; cut++) {
      const s = makeSession(role);
      s.feed(...splitAt(frame, [cut, cut + 1, cut + 5]));
      assert.deepEqual(
        summarize(s.handler.log),
        [{ type: 'message', opcode: OP.TEXT, fin: true, hex: text.toString('hex') }],
        `cut ${cut}`,
      );
    }
  });

  test('random text split into random fragments and chunks is accepted or refused exactly as isUtf8 says (fast-check, §8.1)', () => {
    fc.assert(
      fc.property(
        utf8ishBytes(),
        fc.array(fc.nat(80), { maxLength: 4 }),
        fc.array(fc.nat(200), { maxLength: 4 }),
        fc.boolean(),
        (bytes, fragCuts, chunkCuts, deliverFrames) => {
          const s = makeSession(role, { deliverFrames });
          const pieces = splitAt(bytes, fragCuts);
          const wire = cat(
            ...pieces.map((p, i) =>
              s.peer.frame({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: p, fin: i === pieces.length - 1 }),
            ),
          );
          s.feed(...splitAt(wire, chunkCuts));
          if (isUtf8(bytes)) {
            assert.equal(s.handler.errors.length, 0);
            assert.ok(Buffer.concat(s.handler.messages.map((m) => m.payload)).equals(bytes));
          } else {
            assertFailed(s, 1007, 'NOPOLL_ERR_INVALID_UTF8');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
}

for (const role of ROLES) describe(`${role} session UTF-8`, () => suite(role));

// Strings mixing code points of every UTF-8 length (cheaper to set up than fast-check's full-unicode strings).
function text(minLength: number, maxLength: number): fc.Arbitrary<string> {
  const codePoint = fc.oneof(
    fc.integer({ min: 0x20, max: 0x7e }),
    fc.integer({ min: 0x80, max: 0x7ff }),
    fc.integer({ min: 0x800, max: 0xffff }),
    fc.integer({ min: 0x10000, max: 0x10ffff }),
  );
  return fc.array(codePoint, { minLength, maxLength }).map((cps) => String.fromCodePoint(...cps));
}

// Byte arrays that are often valid UTF-8, often nearly so, sometimes random.
function utf8ishBytes(): fc.Arbitrary<Buffer> {
  const interesting = [...VALID, ...INVALID, ...TRUNCATED].map(([, b]) => b);
  return fc.oneof(
    text(0, 40).map((s) => Buffer.from(s, 'utf8')),
    fc.array(fc.constantFrom(...interesting), { maxLength: 8 }).map((parts) => Buffer.concat(parts)),
    fc.tuple(text(0, 30), fc.nat(), fc.integer({ min: 0x80, max: 0xff })).map(([s, at, byte]) => {
      const b = Buffer.from(s, 'utf8');
      const i = b.length === 0 ? 0 : at % (b.length + 1);
      return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
    }),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  );
}

describe('Utf8Validator and isValidUtf8 (RFC 3629, RFC 6455 §8.1)', () => {
  test('isValidUtf8 accepts the empty buffer and agrees with the tables', () => {
    assert.equal(isValidUtf8(Buffer.alloc(0)), true);
    for (const [name, b] of VALID) assert.equal(isValidUtf8(b), true, name);
    for (const [name, b] of [...INVALID, ...TRUNCATED]) assert.equal(isValidUtf8(b), false, name);
  });

  test('the validator accepts every valid table entry fed byte by byte and in one push', () => {
    for (const [name, b] of VALID) {
      const v = new Utf8Validator();
      for (const byte of b) assert.equal(v.push(Buffer.from([byte])), true, name);
      assert.equal(v.atBoundary, true, name);
      const w = new Utf8Validator();
      assert.equal(w.push(b), true, name);
      assert.equal(w.atBoundary, true, name);
    }
  });

  test('the validator refuses each invalid sequence no later than its last byte, in any chunking', () => {
    for (const [name, bad] of INVALID) {
      const prefix = Buffer.from('valid é € ');
      const stream = cat(prefix, bad, Buffer.from('tail'));
      const badEnd = prefix.length + bad.length;
      for (let cut = 0; cut <= stream.length; cut++) {
        const v = new Utf8Validator();
        let failedAt = -1;
        let pos = 0;
        for (const chunk of splitAt(stream, [cut, cut + 1])) {
          pos += chunk.length;
          if (!v.push(chunk)) {
            failedAt = pos;
            break;
          }
        }
        assert.ok(failedAt !== -1, `${name}: never refused (cut ${cut})`);
        // Refused in the chunk containing the last byte of the bad sequence, or earlier.
        const chunkEnds = splitAt(stream, [cut, cut + 1]).reduce<number[]>(
          (ends, c) => [...ends, (ends.at(-1) ?? 0) + c.length],
          [],
        );
        const limit = chunkEnds.find((e) => e >= badEnd)!;
        assert.ok(failedAt <= limit, `${name}: refused at ${failedAt}, expected by ${limit} (cut ${cut})`);
      }
    }
  });

  test('reset() forgets an open sequence', () => {
    const v = new Utf8Validator();
    assert.equal(v.push(h('e2 82')), true);
    assert.equal(v.atBoundary, false);
    v.reset();
    assert.equal(v.atBoundary, true);
    assert.equal(v.push(Buffer.from('abc')), true);
    assert.equal(v.atBoundary, true);
  });

  test('for any bytes and any chunking, all pushes succeed and end at a boundary iff isUtf8(whole) (fast-check)', () => {
    fc.assert(
      fc.property(utf8ishBytes(), fc.array(fc.nat(45), { maxLength: 6 }), (bytes, cuts) => {
        const v = new Utf8Validator();
        let ok = true;
        for (const chunk of splitAt(bytes, cuts)) {
          if (!v.push(chunk)) {
            ok = false;
            break;
          }
        }
        assert.equal(ok && v.atBoundary, isUtf8(bytes), bytes.toString('hex'));
      }),
      { numRuns: 3000 },
    );
  });

  test('on long random valid text the validator agrees with isUtf8 across chunk edges (fast-check)', () => {
    fc.assert(
      fc.property(text(50, 300), fc.array(fc.nat(1200), { maxLength: 10 }), (s, cuts) => {
        const bytes = Buffer.from(s, 'utf8');
        const v = new Utf8Validator();
        for (const chunk of splitAt(bytes, cuts)) assert.equal(v.push(chunk), true);
        assert.equal(v.atBoundary, true);
      }),
      { numRuns: 300 },
    );
  });

  test('random bytes (mostly invalid) agree with isUtf8 (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(64), { maxLength: 5 }), (raw, cuts) => {
        const bytes = Buffer.from(raw);
        const v = new Utf8Validator();
        let ok = true;
        for (const chunk of splitAt(bytes, cuts)) if (ok && !v.push(chunk)) ok = false;
        assert.equal(ok && v.atBoundary, isUtf8(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  test('a 1 MiB mixed text validates in 64 KiB chunks', () => {
    const unit = Buffer.from('ASCII é € 𝄞 \u{10FFFF} ');
    const text = Buffer.alloc(1 << 20);
    text.fill(unit);
    // The fill may cut the last code point: trim to a boundary.
    let end = text.length;
    while (!isUtf8(text.subarray(0, end))) end--;
    const body = text.subarray(0, end);
    const v = new Utf8Validator();
    for (const chunk of splitAt(
      body,
      Array.from({ length: 16 }, (_, i) => i * 65536 + 1),
    ))
      assert.equal(v.push(chunk), true);
    assert.equal(v.atBoundary, true);
  });
});
