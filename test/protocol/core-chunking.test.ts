// Chunking (RFC 6455 §5.2 framing is independent of TCP segmentation; noPoll test_30..35 and test_48): the same
// bytes cut anywhere — at every byte boundary, into single bytes, at random — give exactly the same events and
// the same bytes written, for both roles, at the Session and at the FrameParser level.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameParser } from '../../src/protocol/frame-parser.js';
import type { Role } from '../../src/protocol/session.js';
import {
  ascii,
  BIG,
  buildFrame,
  cat,
  makeSession,
  OP,
  pattern,
  Peer,
  RecordingSink,
  ROLES,
  splitAt,
  summarize,
} from '../helpers/frames.js';

interface Fixture {
  name: string;
  bytes: Buffer;
  /** Session options beyond the defaults. */
  deliverFrames?: boolean;
}

function fixtures(role: Role): Fixture[] {
  const p = new Peer(role);
  const euroClef = Buffer.from('a€𝄞é', 'utf8'); // 1, 3, 4 and 2-byte sequences
  return [
    { name: 'single text "Hello"', bytes: p.text('Hello') },
    { name: 'empty text and empty binary', bytes: cat(p.text(''), p.binary(Buffer.alloc(0))) },
    { name: 'text "Hel" + ping + "lo"', bytes: cat(p.text('Hel', false), p.ping('p!'), p.cont('lo', true)) },
    {
      name: 'multi-byte text cut inside code points across fragments',
      bytes: cat(
        p.text(euroClef.subarray(0, 3), false),
        p.cont(euroClef.subarray(3, 6), false),
        p.cont(euroClef.subarray(6), true),
      ),
    },
    { name: '126-byte binary (16-bit length form)', bytes: p.binary(pattern(126, 9)) },
    {
      name: 'pong then close 1000 "bye" then garbage',
      bytes: cat(p.pong('x'), p.close(1000, 'bye'), Buffer.from([0xff, 0xff, 0x00])),
    },
    {
      name: 'mixed stream: text, binary fragments with empty middle, ping, pong, text',
      bytes: cat(
        p.text('first'),
        p.binary(pattern(20, 2), false),
        p.cont(Buffer.alloc(0), false),
        p.ping(''),
        p.cont(pattern(7, 3), true),
        p.pong('pong'),
        p.text('last'),
      ),
    },
    {
      name: 'frames delivered one by one (deliverFrames)',
      deliverFrames: true,
      bytes: cat(p.text('ab', false), p.cont('cd', false), p.cont('ef', true)),
    },
    {
      name: 'valid frame then reserved opcode 3 then more',
      bytes: cat(p.text('ok'), p.frame({ opcode: 3, payload: 'zz' }), p.text('never')),
    },
    {
      name: 'invalid UTF-8 in the second fragment',
      bytes: cat(p.text('fine', false), p.cont(Buffer.from([0x61, 0xc0, 0x80]), false), p.cont('x', true)),
    },
    { name: 'close with invalid code 1004', bytes: cat(p.text('a'), p.close(1004)) },
  ];
}

function run(role: Role, fixture: Fixture, chunks: readonly Uint8Array[]): unknown[] {
  const h = makeSession(role, { deliverFrames: fixture.deliverFrames ?? false });
  h.feed(...chunks);
  return summarize(h.handler.log);
}

function suite(role: Role): void {
  const all = fixtures(role);

  test('reference runs: each fixture ends as expected (fixture self-check)', () => {
    const last = all.map((f) => {
      const log = run(role, f, [f.bytes]) as Array<{ type: string }>;
      return log.filter((e) => e.type !== 'write').at(-1)?.type;
    });
    assert.deepEqual(last, [
      'message',
      'message',
      'message',
      'message',
      'message',
      'close',
      'message',
      'message',
      'error',
      'error',
      'error',
    ]);
  });

  for (const f of all) {
    test(`"${f.name}" split at every byte boundary gives identical events and writes (RFC 6455 §5.2)`, () => {
      const reference = run(role, f, [f.bytes]);
      for (let cut = 1; cut < f.bytes.length; cut++) {
        assert.deepEqual(run(role, f, splitAt(f.bytes, [cut])), reference, `cut at ${cut}`);
      }
      if (f.bytes.length <= 64) {
        for (let a = 1; a < f.bytes.length; a++) {
          for (let b = a + 1; b < f.bytes.length; b++) {
            assert.deepEqual(run(role, f, splitAt(f.bytes, [a, b])), reference, `cuts at ${a}, ${b}`);
          }
        }
      }
    });

    test(`"${f.name}" fed one byte at a time gives identical events and writes`, () => {
      const reference = run(role, f, [f.bytes]);
      const single = Array.from(f.bytes, (b) => Buffer.from([b]));
      assert.deepEqual(run(role, f, single), reference);
      // Empty chunks in between change nothing either.
      assert.deepEqual(
        run(
          role,
          f,
          single.flatMap((c) => [Buffer.alloc(0), c]),
        ),
        reference,
      );
    });
  }

  test('random chunkings of every fixture (fast-check) give identical events and writes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: all.length - 1 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 12 }),
        (index, cuts) => {
          const f = all[index]!;
          assert.deepEqual(run(role, f, splitAt(f.bytes, cuts)), run(role, f, [f.bytes]));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a 64 KiB + 1 binary frame in random chunks arrives intact (payload buffering across chunks, §5.2)', () => {
    const p = new Peer(role);
    const payload = pattern(65537, 5);
    const bytes = cat(p.binary(payload), p.text('after'));
    const expected = [
      { type: 'message', opcode: OP.BINARY, fin: true, hex: payload.toString('hex') },
      { type: 'message', opcode: OP.TEXT, fin: true, hex: Buffer.from('after').toString('hex') },
    ];
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 20 }), (cuts) => {
        const h = makeSession(role);
        h.feed(...splitAt(bytes, cuts));
        assert.deepEqual(summarize(h.handler.log), expected);
        assert.equal(h.session.bufferedBytes, 0);
      }),
      { numRuns: 40 },
    );
  });

  // noPoll test_30..35: a header cut after 1, 2, 3, 4, 5 and 8 bytes is completed by the next chunk.
  for (const [label, size] of [
    ['64-bit', 65536],
    ['16-bit', 300],
  ] as const) {
    for (const cut of [1, 2, 3, 4, 5, 8]) {
      test(`a ${label}-length header cut after ${cut} bytes waits for the rest (noPoll test_30..35, RFC 6455 §5.2)`, () => {
        const p = new Peer(role);
        const payload = pattern(size, cut);
        const frame = p.binary(payload);
        const headerSize = (size < 65536 ? 4 : 10) + (role === 'server' ? 4 : 0);
        const h = makeSession(role);
        h.feed(frame.subarray(0, cut));
        assert.deepEqual(h.handler.log, [], 'nothing delivered while the frame is incomplete');
        // Header bytes held while the header is incomplete, payload bytes held after it.
        assert.equal(h.session.bufferedBytes, cut < headerSize ? cut : cut - headerSize);
        const next = Math.max(cut, headerSize + 3);
        h.feed(frame.subarray(cut, next));
        assert.deepEqual(h.handler.log, [], 'nothing delivered while the payload is incomplete');
        assert.equal(h.session.bufferedBytes, next - headerSize);
        h.feed(frame.subarray(next));
        assert.deepEqual(summarize(h.handler.log), [
          { type: 'message', opcode: OP.BINARY, fin: true, hex: payload.toString('hex') },
        ]);
        assert.equal(h.session.bufferedBytes, 0);
      });
    }
  }

  test('many frames in one chunk are all delivered in order (noPoll test_48)', () => {
    const p = new Peer(role);
    const parts: Buffer[] = [];
    const expected: unknown[] = [];
    for (let i = 0; i < 50; i++) {
      const text = ascii(i * 7, i);
      parts.push(p.text(text));
      expected.push({ type: 'message', opcode: OP.TEXT, fin: true, hex: text.toString('hex') });
      if (i % 10 === 9) {
        parts.push(p.pong(`n${i}`));
        expected.push({ type: 'pong', hex: Buffer.from(`n${i}`).toString('hex') });
      }
    }
    parts.push(p.binary(pattern(300, 1)));
    expected.push({ type: 'message', opcode: OP.BINARY, fin: true, hex: pattern(300, 1).toString('hex') });
    const h = makeSession(role);
    h.feed(Buffer.concat(parts));
    assert.deepEqual(summarize(h.handler.log), expected);
  });
}

for (const role of ROLES) describe(`${role} session chunking`, () => suite(role));

describe('FrameParser chunking', () => {
  for (const expectMasked of [false, true]) {
    test(`every split of a frame sequence gives identical frames (${expectMasked ? 'masked' : 'unmasked'} input, §5.2)`, () => {
      const key = (n: number): Buffer | null => (expectMasked ? Buffer.from([n, 0x80 | n, 0x33, 0xcc]) : null);
      const bytes = cat(
        buildFrame({ opcode: OP.TEXT, payload: 'abc', fin: false, mask: key(1) }),
        buildFrame({ opcode: OP.PING, payload: pattern(125, 1), mask: key(2) }),
        buildFrame({ opcode: OP.CONT, payload: pattern(126, 2), fin: true, mask: key(3) }),
        buildFrame({ opcode: OP.BINARY, payload: Buffer.alloc(0), mask: key(4) }),
        buildFrame({ opcode: OP.BINARY, payload: pattern(33, 3), mask: key(5), lengthForm: 64 }),
      );
      const parse = (chunks: Buffer[]): RecordingSink => {
        const sink = new RecordingSink();
        const parser = new FrameParser(sink, { expectMasked, maxFrameBytes: BIG, allowedRsv: 0 });
        for (const c of chunks) parser.push(c);
        assert.equal(parser.bufferedBytes, 0);
        // A frame that spanned chunks was also announced part by part, and its parts add up to its payload.
        sink.frames.forEach((frame, k) => {
          const parts = sink.parts.filter((p) => p.frame === k);
          if (parts.length === 0) return;
          for (const p of parts) assert.equal(p.opcode, frame.opcode);
          assert.deepEqual(Buffer.concat(parts.map((p) => p.part)), frame.payload, `parts of frame ${k}`);
        });
        return sink;
      };
      const reference = parse([Buffer.from(bytes)]);
      assert.equal(reference.errors.length, 0);
      assert.deepEqual(
        reference.frames.map((f) => [f.fin, f.opcode, f.payload.length]),
        [
          [false, OP.TEXT, 3],
          [true, OP.PING, 125],
          [true, OP.CONT, 126],
          [true, OP.BINARY, 0],
          [true, OP.BINARY, 33],
        ],
      );
      for (let cut = 1; cut < bytes.length; cut++) {
        assert.deepEqual(parse(splitAt(bytes, [cut])).frames, reference.frames, `cut at ${cut}`);
      }
      assert.deepEqual(parse(Array.from(bytes, (b) => Buffer.from([b]))).frames, reference.frames);
    });
  }

  test('bufferedBytes counts the header bytes held, then the payload bytes held', () => {
    const sink = new RecordingSink();
    const parser = new FrameParser(sink, { expectMasked: true, maxFrameBytes: BIG, allowedRsv: 0 });
    const frame = buildFrame({ opcode: OP.BINARY, payload: pattern(1000, 1), mask: Buffer.from([1, 2, 3, 4]) });
    // Header: 2 + 2 length + 4 mask = 8 bytes.
    for (let i = 0; i < 8; i++) {
      assert.equal(parser.bufferedBytes, i);
      parser.push(frame.subarray(i, i + 1));
    }
    assert.equal(parser.bufferedBytes, 0);
    parser.push(frame.subarray(8, 508));
    assert.equal(parser.bufferedBytes, 500);
    parser.push(frame.subarray(508));
    assert.equal(parser.bufferedBytes, 0);
    assert.equal(sink.frames.length, 1);
    assert.ok(sink.frames[0]!.payload.equals(pattern(1000, 1)));
  });
});
