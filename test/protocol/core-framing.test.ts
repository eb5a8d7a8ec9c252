// Framing (RFC 6455 §5.2, §5.7; Autobahn sections 1-2 equivalents): payload sizes in every length form, header
// encoding, and the RFC's own example frames as golden vectors, for both roles.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  encodeFrameHeader,
  frameHeaderSize,
  RSV1,
  RSV2,
  RSV3,
  writeFrameHeader,
} from '../../src/protocol/frame-header.js';
import { FrameParser } from '../../src/protocol/frame-parser.js';
import { Session, type Role, type SessionHandler } from '../../src/protocol/session.js';
import {
  ascii,
  BIG,
  buildFrame,
  decodeFrames,
  decodeHeader,
  makeSession,
  maskSequence,
  minimalForm,
  naiveMask,
  OP,
  pattern,
  RecordingHandler,
  RecordingSink,
  RFC_KEY,
  ROLES,
  summarize,
} from '../helpers/frames.js';

const SIZES = [0, 1, 125, 126, 127, 65535, 65536];
const KINDS = [
  { name: 'text', opcode: OP.TEXT, make: (n: number) => ascii(n) },
  { name: 'binary', opcode: OP.BINARY, make: (n: number) => pattern(n, 7) },
] as const;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function suite(role: Role): void {
  const other: Role = role === 'client' ? 'server' : 'client';

  for (const kind of KINDS) {
    for (const size of SIZES) {
      const form = minimalForm(size);
      test(`receives a ${kind.name} frame of ${size} bytes (${form}-bit length form) as one message (RFC 6455 §5.2)`, () => {
        const h = makeSession(role);
        const payload = kind.make(size);
        const bytes = h.peer.frame({ opcode: kind.opcode, payload });
        assert.equal(decodeHeader(bytes).lengthForm, form);
        h.feed(bytes);
        assert.deepEqual(summarize(h.handler.log), [
          { type: 'message', opcode: kind.opcode, fin: true, hex: payload.toString('hex') },
        ]);
      });

      test(`sends a ${kind.name} frame of ${size} bytes in the minimal ${form}-bit length form (RFC 6455 §5.2)`, () => {
        const h = makeSession(role);
        const payload = kind.make(size);
        const copy = Buffer.from(payload);
        assert.equal(h.session.sendData(kind.opcode, payload), size);
        assert.deepEqual(payload, copy, 'the caller buffer is not modified');
        const frames = h.handler.frames;
        assert.equal(frames.length, 1);
        const f = frames[0]!;
        assert.equal(f.fin, true);
        assert.equal(f.rsv, 0);
        assert.equal(f.opcode, kind.opcode);
        assert.equal(f.masked, role === 'client');
        assert.equal(f.lengthForm, form);
        assert.equal(f.headerSize, frameHeaderSize(size, role === 'client'));
        assert.ok(f.payload.equals(payload));
      });

      test(`a ${kind.name} frame of ${size} bytes sent by a ${role} is received by a ${other} (RFC 6455 §5.2)`, () => {
        const a = makeSession(role);
        const b = makeSession(other);
        const payload = kind.make(size);
        if (kind.opcode === OP.TEXT) a.session.sendText(payload.toString('latin1'));
        else a.session.sendData(kind.opcode, payload);
        for (const w of a.handler.writes) b.feed(w);
        assert.deepEqual(summarize(b.handler.log), [
          { type: 'message', opcode: kind.opcode, fin: true, hex: payload.toString('hex') },
        ]);
      });
    }
  }

  // One 16 MiB buffer (plus header room) serves every 16 MiB test of this role.
  let big: Buffer | null = null;
  const bigBuffer = (): Buffer => (big ??= Buffer.allocUnsafe(BIG + 14));

  for (const kind of KINDS) {
    test(`receives a 16 MiB ${kind.name} frame (64-bit length form) as one message (RFC 6455 §5.2)`, () => {
      const buf = bigBuffer();
      const payload = buf.subarray(14);
      payload.fill(kind.make(251));
      const expected = sha(payload);
      let frame: Buffer;
      if (role === 'server') {
        const key = Buffer.from([0xa1, 0x02, 0xf3, 0x44]);
        buildFrame({ opcode: kind.opcode, mask: key, announced: BigInt(BIG) }).copy(buf, 0);
        for (let i = 0; i < BIG; i++) payload[i] ^= key[i & 3]!;
        frame = buf;
      } else {
        buildFrame({ opcode: kind.opcode, announced: BigInt(BIG) }).copy(buf, 4);
        frame = buf.subarray(4);
      }
      const h = makeSession(role, {}, new RecordingHandler(false));
      h.session.receive(frame);
      const events = h.handler.events;
      assert.equal(events.length, 1);
      const e = events[0]!;
      assert.equal(e.type, 'message');
      if (e.type !== 'message') return;
      assert.equal(e.opcode, kind.opcode);
      assert.equal(e.fin, true);
      assert.equal(e.payload.length, BIG);
      assert.equal(sha(e.payload), expected);
    });

    test(`sends a 16 MiB ${kind.name} frame in the 64-bit length form (RFC 6455 §5.2)`, () => {
      const payload = bigBuffer().subarray(14);
      payload.fill(kind.make(251));
      const expected = sha(payload);
      const writes: Buffer[][] = [];
      const handler: SessionHandler = {
        sessionWrite: (first, second) => void writes.push(second === null ? [first] : [first, second]),
        sessionMessage: () => assert.fail('unexpected message'),
        sessionPing: () => assert.fail('unexpected ping'),
        sessionPong: () => assert.fail('unexpected pong'),
        sessionClose: () => assert.fail('unexpected close'),
        sessionError: () => assert.fail('unexpected error'),
      };
      const session = new Session(handler, {
        role,
        maxFrameBytes: BIG,
        maxMessageBytes: BIG,
        maskSource: maskSequence(RFC_KEY).source,
      });
      assert.equal(session.sendData(kind.opcode, payload), BIG);
      assert.equal(writes.length, 1);
      const parts = writes[0]!;
      const first = parts[0]!;
      const header = decodeHeader(first);
      assert.equal(header.fin, true);
      assert.equal(header.opcode, kind.opcode);
      assert.equal(header.lengthForm, 64);
      assert.equal(header.length, BigInt(BIG));
      assert.equal(header.masked, role === 'client');
      const body = parts.length === 2 ? parts[1]! : first.subarray(header.size);
      assert.equal(body.length, BIG);
      if (role === 'client') {
        assert.deepEqual(header.mask, RFC_KEY);
        // The frame is ours now: unmask it in place, one byte at a time.
        for (let i = 0; i < BIG; i++) body[i] ^= RFC_KEY[i & 3]!;
        assert.equal(sha(body), expected);
      } else {
        assert.equal(sha(body), expected);
      }
      assert.equal(sha(payload), expected, 'the caller buffer is not modified');
    });
  }
}

for (const role of ROLES) describe(`${role} session framing`, () => suite(role));

describe('frame header encoding (RFC 6455 §5.2)', () => {
  test('encodeFrameHeader matches the RFC 6455 §5.7 example headers', () => {
    assert.deepEqual(encodeFrameHeader(true, OP.TEXT, 5), hex('81 05'));
    assert.deepEqual(encodeFrameHeader(true, OP.TEXT, 5, RFC_KEY), hex('81 85 37 fa 21 3d'));
    assert.deepEqual(encodeFrameHeader(false, OP.TEXT, 3), hex('01 03'));
    assert.deepEqual(encodeFrameHeader(true, OP.CONT, 2), hex('80 02'));
    assert.deepEqual(encodeFrameHeader(true, OP.PING, 5), hex('89 05'));
    assert.deepEqual(encodeFrameHeader(true, OP.PONG, 5, RFC_KEY), hex('8a 85 37 fa 21 3d'));
    assert.deepEqual(encodeFrameHeader(true, OP.BINARY, 256), hex('82 7e 01 00'));
    assert.deepEqual(encodeFrameHeader(true, OP.BINARY, 65536), hex('82 7f 00 00 00 00 00 01 00 00'));
  });

  test('length form boundaries 125/126, 65535/65536 and the RSV bits (RFC 6455 §5.2)', () => {
    assert.deepEqual(encodeFrameHeader(true, OP.BINARY, 125), hex('82 7d'));
    assert.deepEqual(encodeFrameHeader(true, OP.BINARY, 126), hex('82 7e 00 7e'));
    assert.deepEqual(encodeFrameHeader(true, OP.BINARY, 127), hex('82 7e 00 7f'));
    assert.deepEqual(encodeFrameHeader(true, OP.BINARY, 65535), hex('82 7e ff ff'));
    assert.deepEqual(encodeFrameHeader(true, OP.BINARY, 0xffffffff), hex('82 7f 00 00 00 00 ff ff ff ff'));
    assert.deepEqual(encodeFrameHeader(true, OP.BINARY, 0x100000000), hex('82 7f 00 00 00 01 00 00 00 00'));
    assert.deepEqual(encodeFrameHeader(false, OP.TEXT, 0, null, RSV1 | RSV2 | RSV3), hex('71 00'));
    assert.deepEqual(encodeFrameHeader(true, OP.TEXT, 0, null, RSV1), hex('c1 00'));
    for (const [length, size] of [
      [0, 2],
      [125, 2],
      [126, 4],
      [65535, 4],
      [65536, 10],
      [2 ** 40, 10],
    ] as const) {
      assert.equal(frameHeaderSize(length, false), size);
      assert.equal(frameHeaderSize(length, true), size + 4);
    }
  });

  test('encodeFrameHeader/writeFrameHeader/frameHeaderSize round trip for any header with a length below 2^32', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.constantFrom(0, RSV1, RSV2, RSV3, RSV1 | RSV2, RSV1 | RSV3, RSV2 | RSV3, RSV1 | RSV2 | RSV3),
        fc.integer({ min: 0, max: 15 }),
        fc.oneof(
          fc.integer({ min: 0, max: 200 }),
          fc.integer({ min: 65500, max: 65600 }),
          fc.integer({ min: 0, max: 0xffffffff }),
        ),
        fc.option(fc.uint8Array({ minLength: 4, maxLength: 4 }), { nil: null }),
        fc.integer({ min: 0, max: 7 }),
        (fin, rsv, opcode, length, mask, offset) => {
          const header = encodeFrameHeader(fin, opcode, length, mask, rsv);
          assert.equal(header.length, frameHeaderSize(length, mask !== null));
          const d = decodeHeader(header);
          assert.equal(d.fin, fin);
          assert.equal(d.rsv, rsv);
          assert.equal(d.opcode, opcode);
          assert.equal(d.masked, mask !== null);
          assert.deepEqual(d.mask, mask === null ? null : Buffer.from(mask));
          assert.equal(d.length, BigInt(length));
          assert.equal(d.lengthForm, minimalForm(length));
          assert.equal(d.size, header.length);
          // writeFrameHeader writes the same bytes at any offset and nothing outside them.
          const target = Buffer.alloc(offset + header.length + 3, 0xee);
          assert.equal(writeFrameHeader(target, offset, fin, rsv, opcode, length, mask), offset + header.length);
          assert.deepEqual(target.subarray(offset, offset + header.length), header);
          assert.ok(target.subarray(0, offset).every((b) => b === 0xee));
          assert.ok(target.subarray(offset + header.length).every((b) => b === 0xee));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('encodeFrameHeader writes 64-bit lengths from 2^32 up to 2^53-1 exactly (RFC 6455 §5.2)', () => {
    for (const length of [
      2 ** 32,
      2 ** 40 + 5,
      2 ** 47 + 1,
      2 ** 48,
      2 ** 48 + 0x1234,
      2 ** 52 + 3,
      Number.MAX_SAFE_INTEGER,
    ]) {
      const d = decodeHeader(encodeFrameHeader(true, OP.BINARY, length));
      assert.equal(d.lengthForm, 64);
      assert.equal(d.length, BigInt(length), `length ${length}`);
    }
  });

  test('headers from encodeFrameHeader are parsed back by FrameParser with their payload (RFC 6455 §5.2)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(OP.TEXT, OP.BINARY, OP.PING, OP.PONG),
        fc.uint8Array({ maxLength: 125 }),
        fc.boolean(),
        (opcode, raw, masked) => {
          const payload = opcode === OP.TEXT ? ascii(raw.length, raw[0] ?? 0) : Buffer.from(raw);
          const key = masked ? Buffer.from([raw.length, 0x5a, 0xc3, 0x11]) : null;
          const bytes = Buffer.concat([
            encodeFrameHeader(true, opcode, payload.length, key),
            key === null ? payload : naiveMask(payload, key),
          ]);
          const sink = new RecordingSink();
          new FrameParser(sink, { expectMasked: masked, maxFrameBytes: 1000, allowedRsv: 0 }).push(bytes);
          assert.equal(sink.errors.length, 0);
          assert.deepEqual(sink.frames, [{ fin: true, rsv: 0, opcode, payload }]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('RFC 6455 §5.7 example frames (golden vectors)', () => {
  const HELLO = Buffer.from('Hello');
  const unmaskedHello = hex('81 05 48 65 6c 6c 6f');
  const maskedHello = hex('81 85 37 fa 21 3d 7f 9f 4d 51 58');
  const fragmented = [hex('01 03 48 65 6c'), hex('80 02 6c 6f')];
  const unmaskedPing = hex('89 05 48 65 6c 6c 6f');
  const maskedPong = hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58');
  const bin256 = Buffer.concat([hex('82 7e 01 00'), pattern(256, 3)]);
  const bin64k = Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), pattern(65536, 4)]);

  test('client receives the single-frame unmasked text message "Hello" (§5.7)', () => {
    const h = makeSession('client');
    h.feed(unmaskedHello);
    assert.deepEqual(summarize(h.handler.log), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: HELLO.toString('hex') },
    ]);
  });

  test('server receives the single-frame masked text message "Hello" with key 37 fa 21 3d (§5.7)', () => {
    const h = makeSession('server');
    h.feed(maskedHello);
    assert.deepEqual(summarize(h.handler.log), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: HELLO.toString('hex') },
    ]);
  });

  test('client receives the fragmented unmasked text message "Hel" + "lo" as one message (§5.7)', () => {
    const h = makeSession('client');
    h.feed(...fragmented);
    assert.deepEqual(summarize(h.handler.log), [
      { type: 'message', opcode: OP.TEXT, fin: true, hex: HELLO.toString('hex') },
    ]);
  });

  test('client answers the unmasked ping "Hello" with exactly the masked pong of the example (§5.7)', () => {
    const h = makeSession('client');
    h.feed(unmaskedPing);
    assert.deepEqual(h.handler.writes, [maskedPong]);
    assert.deepEqual(summarize(h.handler.events), [{ type: 'ping', hex: HELLO.toString('hex') }]);
  });

  test('client receives the 256-byte and 64 KiB unmasked binary examples (§5.7)', () => {
    const h = makeSession('client');
    h.feed(bin256, bin64k);
    const messages = h.handler.messages;
    assert.equal(messages.length, 2);
    assert.ok(messages[0]!.payload.equals(bin256.subarray(4)));
    assert.ok(messages[1]!.payload.equals(bin64k.subarray(10)));
  });

  test('server sends the unmasked examples byte for byte: text, fragments, ping, 256 B and 64 KiB headers (§5.7)', () => {
    const h = makeSession('server');
    h.session.sendText('Hello');
    h.session.sendData(OP.TEXT, HELLO);
    h.session.sendData(OP.TEXT, Buffer.from('Hel'), false);
    h.session.sendData(OP.TEXT, Buffer.from('lo'), true);
    h.session.ping(HELLO);
    h.session.sendData(OP.BINARY, bin256.subarray(4));
    h.session.sendData(OP.BINARY, bin64k.subarray(10));
    assert.deepEqual(h.handler.writes, [unmaskedHello, unmaskedHello, ...fragmented, unmaskedPing, bin256, bin64k]);
  });

  test('client with mask key 37 fa 21 3d sends the masked "Hello" example byte for byte (§5.7)', () => {
    const h = makeSession('client');
    h.session.sendText('Hello');
    h.session.sendText(HELLO);
    h.session.sendData(OP.TEXT, HELLO);
    h.session.pong(HELLO);
    assert.deepEqual(h.handler.writes, [maskedHello, maskedHello, maskedHello, maskedPong]);
  });

  test('FrameParser decodes every example frame (§5.7)', () => {
    const cases: Array<[boolean, Buffer, Array<[boolean, number, Buffer]>]> = [
      [false, unmaskedHello, [[true, OP.TEXT, HELLO]]],
      [true, maskedHello, [[true, OP.TEXT, HELLO]]],
      [
        false,
        Buffer.concat(fragmented),
        [
          [false, OP.TEXT, Buffer.from('Hel')],
          [true, OP.CONT, Buffer.from('lo')],
        ],
      ],
      [false, unmaskedPing, [[true, OP.PING, HELLO]]],
      [true, maskedPong, [[true, OP.PONG, HELLO]]],
      [false, bin256, [[true, OP.BINARY, bin256.subarray(4)]]],
      [false, bin64k, [[true, OP.BINARY, bin64k.subarray(10)]]],
    ];
    for (const [expectMasked, bytes, expected] of cases) {
      const sink = new RecordingSink();
      new FrameParser(sink, { expectMasked, maxFrameBytes: BIG, allowedRsv: 0 }).push(Buffer.from(bytes));
      assert.deepEqual(sink.errors, []);
      assert.deepEqual(
        sink.frames,
        expected.map(([fin, opcode, payload]) => ({ fin, rsv: 0, opcode, payload: Buffer.from(payload) })),
      );
    }
  });

  test('our decoder agrees with the examples (self-check of the test helper)', () => {
    const [f] = decodeFrames(maskedHello);
    assert.deepEqual(f!.mask, RFC_KEY);
    assert.deepEqual(f!.payload, HELLO);
    assert.deepEqual(buildFrame({ opcode: OP.TEXT, payload: 'Hello', mask: RFC_KEY }), maskedHello);
    assert.deepEqual(buildFrame({ opcode: OP.BINARY, payload: bin64k.subarray(10) }), bin64k);
  });
});
