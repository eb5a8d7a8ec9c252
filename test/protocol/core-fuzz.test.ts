// Bounded fuzzing of the protocol core (RFC 6455 §5, §7.1.7, §8.1, §10.4): random and structured byte streams,
// randomly chunked, fed to both roles. The core must never throw on peer input, must fail at most once with a
// close code of 1002, 1007 or 1009, must deliver nothing after failing or after a close frame, and must not
// depend on how the bytes were chunked. Valid random conversations must be delivered exactly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameParser } from '../../src/protocol/frame-parser.js';
import { SessionState, type Role } from '../../src/protocol/session.js';
import {
  buildFrame,
  closePayload,
  decodeClose,
  decodeFrames,
  makeSession,
  OP,
  RecordingSink,
  ROLES,
  splitAt,
  summarize,
  type Harness,
} from '../helpers/frames.js';

const FAIL_CODES = new Set([1002, 1007, 1009]);

/** Checks every invariant of one finished run. */
function checkInvariants(h: Harness): void {
  const events = h.handler.events;
  const errors = events.filter((e) => e.type === 'error');
  const closes = events.filter((e) => e.type === 'close');
  assert.ok(errors.length + closes.length <= 1, 'at most one ending (error or close)');
  const endIndex = events.findIndex((e) => e.type === 'error' || e.type === 'close');
  if (endIndex !== -1) assert.equal(endIndex, events.length - 1, 'nothing delivered after the ending');
  // Every write is whole frames, masked iff the session is a client.
  const frames = h.handler.frames;
  for (const f of frames) {
    assert.equal(f.masked, h.role === 'client');
    assert.ok(f.opcode === OP.PONG || f.opcode === OP.CLOSE, `only pongs and closes are written, got ${f.opcode}`);
  }
  const closeFrames = frames.filter((f) => f.opcode === OP.CLOSE);
  if (errors.length === 1) {
    const error = errors[0]!;
    if (error.type !== 'error') return;
    assert.ok(FAIL_CODES.has(error.error.closeCode), `close code ${error.error.closeCode}`);
    assert.equal(closeFrames.length, 1);
    assert.equal(decodeClose(closeFrames[0]!.payload).code, error.error.closeCode);
    assert.equal(frames.at(-1)!.opcode, OP.CLOSE);
    assert.equal(h.session.state, SessionState.CLOSED);
  } else if (closes.length === 1) {
    assert.equal(closeFrames.length, 1, 'the close was echoed once');
    assert.equal(frames.at(-1)!.opcode, OP.CLOSE);
    assert.equal(h.session.state, SessionState.CLOSED);
  } else {
    assert.equal(closeFrames.length, 0);
    assert.equal(h.session.state, SessionState.OPEN);
  }
}

// One frame with random fields, biased towards plausible ones.
function randomFrame(role: Role): fc.Arbitrary<Buffer> {
  const opcode = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(OP.TEXT, OP.BINARY, OP.CONT, OP.PING, OP.PONG) },
    { weight: 1, arbitrary: fc.constant(OP.CLOSE) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) },
  );
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom('', 'hello', 'héllo €', '𝄞').map((s) => Buffer.from(s)),
    fc.constantFrom(
      Buffer.from([0xc0, 0x80]),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from([0xe2, 0x82]),
      closePayload(1000, 'bye'),
      closePayload(1004),
    ),
    fc.integer({ min: 100, max: 300 }).map((n) => Buffer.alloc(n, 0x61)),
  );
  return fc
    .record({
      opcode,
      payload,
      fin: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      rsv: fc.oneof(
        { weight: 9, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.constantFrom(0x10, 0x20, 0x40) },
      ),
      rightMask: fc.oneof({ weight: 15, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
      form: fc.oneof(
        { weight: 8, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(16 as const, 64 as const) },
      ),
    })
    .map(({ opcode, payload, fin, rsv, rightMask, key, form }) => {
      const masked = (role === 'server') === rightMask;
      const spec = { opcode, payload, fin, rsv, mask: masked ? key : null };
      return buildFrame(
        form === undefined || (form === 16 && payload.length > 0xffff) ? spec : { ...spec, lengthForm: form },
      );
    });
}

function randomStream(role: Role): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
    {
      weight: 4,
      arbitrary: fc
        .array(
          fc.oneof(
            { weight: 8, arbitrary: randomFrame(role) },
            { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 6 }).map((a) => Buffer.from(a)) },
          ),
          {
            maxLength: 12,
          },
        )
        .map((parts) => Buffer.concat(parts)),
    },
  );
}

function suite(role: Role): void {
  test('random byte streams in random chunks never throw, end at most once with 1002/1007/1009, and are chunking-independent', () => {
    fc.assert(
      fc.property(
        randomStream(role),
        fc.array(fc.nat(600), { maxLength: 8 }),
        fc.boolean(),
        fc.constantFrom(1 << 24, 256, 64),
        (bytes, cuts, deliverFrames, maxFrameBytes) => {
          const options = { deliverFrames, maxFrameBytes, maxMessageBytes: maxFrameBytes };
          const whole = makeSession(role, options);
          whole.feed(bytes);
          checkInvariants(whole);
          const chunked = makeSession(role, options);
          chunked.feed(...splitAt(bytes, cuts));
          checkInvariants(chunked);
          assert.deepEqual(summarize(chunked.handler.log), summarize(whole.handler.log));
          // Input after the end is ignored.
          if (whole.session.state === SessionState.CLOSED) {
            const before = whole.handler.log.length;
            whole.feed(
              bytes,
              buildFrame({ opcode: OP.PING, mask: role === 'server' ? Buffer.from([1, 2, 3, 4]) : null }),
            );
            assert.equal(whole.handler.log.length, before);
          }
        },
      ),
      { numRuns: 600 },
    );
  });

  test('random valid conversations are delivered exactly as a simple model predicts, in any chunking (§5.4, §5.5)', () => {
    // A message: its kind, its fragments, and control frames to send before each fragment.
    const control = fc.record({
      opcode: fc.constantFrom(OP.PING, OP.PONG),
      payload: fc.uint8Array({ maxLength: 125 }),
    });
    const message = fc.record({
      opcode: fc.constantFrom(OP.TEXT, OP.BINARY),
      text: fc
        .array(fc.constantFrom('a', 'é', '€', '𝄞', ' ', 'Z'), { maxLength: 30 })
        .map((a) => Buffer.from(a.join(''))),
      binary: fc.uint8Array({ maxLength: 60 }),
      cuts: fc.array(fc.nat(70), { maxLength: 4 }),
      controls: fc.array(fc.array(control, { maxLength: 2 }), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 6 }),
        fc.option(fc.constantFrom(1000, 1001, 3000), { nil: undefined }),
        fc.array(fc.nat(2000), { maxLength: 10 }),
        fc.boolean(),
        (messages, closeCode, chunkCuts, deliverFrames) => {
          const h = makeSession(role, { deliverFrames });
          const wire: Buffer[] = [];
          const expected: unknown[] = [];
          const expectedPongs: string[] = [];
          for (const m of messages) {
            const payload = m.opcode === OP.TEXT ? m.text : Buffer.from(m.binary);
            // Fragments may not split code points in a way the model would mind: UTF-8 validity is about the
            // whole message, so any byte split is fine.
            const pieces = splitAt(payload, m.cuts);
            pieces.forEach((piece, i) => {
              for (const c of m.controls[i] ?? []) {
                wire.push(h.peer.frame({ opcode: c.opcode, payload: c.payload }));
                const hex = Buffer.from(c.payload).toString('hex');
                expected.push({ type: c.opcode === OP.PING ? 'ping' : 'pong', hex });
                if (c.opcode === OP.PING) expectedPongs.push(hex);
              }
              const fin = i === pieces.length - 1;
              wire.push(h.peer.frame({ opcode: i === 0 ? m.opcode : OP.CONT, payload: piece, fin }));
              if (deliverFrames)
                expected.push({
                  type: 'message',
                  opcode: i === 0 ? m.opcode : OP.CONT,
                  fin,
                  hex: piece.toString('hex'),
                });
            });
            if (!deliverFrames)
              expected.push({ type: 'message', opcode: m.opcode, fin: true, hex: payload.toString('hex') });
          }
          if (closeCode !== undefined) {
            wire.push(h.peer.close(closeCode, 'end'));
            expected.push({ type: 'close', code: closeCode, reason: 'end' });
          }
          h.feed(...splitAt(Buffer.concat(wire), chunkCuts));
          assert.deepEqual(summarize(h.handler.events), expected);
          const written = h.handler.writes.flatMap((w) => decodeFrames(w));
          assert.deepEqual(
            written.filter((f) => f.opcode === OP.PONG).map((f) => f.payload.toString('hex')),
            expectedPongs,
          );
          assert.equal(written.filter((f) => f.opcode === OP.CLOSE).length, closeCode === undefined ? 0 : 1);
          checkInvariants(h);
        },
      ),
      { numRuns: 300 },
    );
  });
}

for (const role of ROLES) describe(`${role} session fuzz`, () => suite(role));

describe('FrameParser fuzz', () => {
  test('random bytes never throw, report at most one error, and nothing after it (§5.2)', () => {
    fc.assert(
      fc.property(
        fc.oneof(randomStream('server'), randomStream('client')),
        fc.array(fc.nat(400), { maxLength: 8 }),
        fc.boolean(),
        (bytes, cuts, expectMasked) => {
          const sink = new RecordingSink();
          const parser = new FrameParser(sink, { expectMasked, maxFrameBytes: 1000, allowedRsv: 0 });
          for (const chunk of splitAt(bytes, cuts)) parser.push(chunk);
          assert.ok(sink.errors.length <= 1);
          if (sink.errors.length === 1) {
            assert.equal(sink.order.at(-1), 'error');
            assert.equal(parser.stopped, true);
            assert.ok(FAIL_CODES.has(sink.errors[0]!.closeCode));
          }
          assert.ok(parser.bufferedBytes <= 1000 + 14);
        },
      ),
      { numRuns: 500 },
    );
  });
});
