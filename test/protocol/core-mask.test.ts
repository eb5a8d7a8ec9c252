// Masking (RFC 6455 §5.1, §5.3): the XOR helpers against a naive byte loop at every mask offset and at unaligned
// byte offsets; servers require masked frames, clients refuse them; clients mask everything they send with keys
// from their mask source, servers never mask.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyMask, copyMaskKey, copyMasked, randomMaskSource } from '../../src/protocol/mask.js';
import { inSimdReadBuffer, simdReadBuffer } from '../../src/protocol/mask-simd.js';
import { Session } from '../../src/protocol/session.js';
import {
  assertFailed,
  BIG,
  buildFrame,
  cat,
  decodeClose,
  makeSession,
  maskSequence,
  naiveMask,
  OP,
  pattern,
  RecordingHandler,
  summarize,
} from '../helpers/frames.js';

const KEY = Buffer.from([0x9c, 0x01, 0xfe, 0x5a]);
const LENGTHS = [...Array.from({ length: 101 }, (_, i) => i), 127, 128, 1000, 4093, 4096, 65535, 65536 + 3];

describe('applyMask (RFC 6455 §5.3)', () => {
  test('matches a naive byte loop for lengths 0..100 and large ones, at mask offsets 0..3 and byte offsets 0..7', () => {
    for (const length of LENGTHS) {
      const data = pattern(length, length + 1);
      for (let maskOffset = 0; maskOffset < 4; maskOffset++) {
        const expected = naiveMask(data, KEY, maskOffset);
        for (let byteOffset = 0; byteOffset < 8; byteOffset++) {
          // A view into a bigger buffer, with guard bytes on both sides.
          const backing = Buffer.alloc(byteOffset + length + 8, 0xa5);
          data.copy(backing, byteOffset);
          const view = backing.subarray(byteOffset, byteOffset + length);
          const next = applyMask(view, KEY, maskOffset);
          assert.equal(next, (maskOffset + length) & 3, `returned offset, length ${length}`);
          assert.ok(view.equals(expected), `length ${length} mask offset ${maskOffset} byte offset ${byteOffset}`);
          assert.ok(
            backing.subarray(0, byteOffset).every((b) => b === 0xa5),
            'bytes before untouched',
          );
          assert.ok(
            backing.subarray(byteOffset + length).every((b) => b === 0xa5),
            'bytes after untouched',
          );
        }
      }
    }
  });

  test('works on a plain Uint8Array view with an unaligned byteOffset', () => {
    const backing = new Uint8Array(1030);
    backing.set(pattern(1030, 2));
    const view = new Uint8Array(backing.buffer, 3, 1021);
    const expected = naiveMask(view, KEY, 2);
    applyMask(view, KEY, 2);
    assert.deepEqual(Buffer.from(view), expected);
  });

  test('masking twice restores the data (involution)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.nat(3),
        (data, key, off) => {
          const buf = Buffer.from(data);
          applyMask(buf, key, off);
          applyMask(buf, key, off);
          assert.deepEqual(buf, Buffer.from(data));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('unmasking piece by piece with the returned offset equals unmasking at once (random pieces, fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.array(fc.nat(400), { maxLength: 8 }),
        fc.nat(7),
        (data, key, cuts, byteOffset) => {
          const backing = Buffer.alloc(byteOffset + data.length);
          backing.set(data, byteOffset);
          const buf = backing.subarray(byteOffset);
          const points = [...new Set(cuts.filter((c) => c < data.length))].sort((a, b) => a - b);
          let m = 0;
          let prev = 0;
          for (const p of [...points, data.length]) {
            m = applyMask(buf.subarray(prev, p), key, m);
            prev = p;
          }
          assert.deepEqual(Buffer.from(buf), naiveMask(data, key));
          assert.equal(m, data.length & 3);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('copyMaskKey, from a plain buffer and from the shared read buffer in WebAssembly memory', () => {
  const key = (KEY[0]! << 24) | (KEY[1]! << 16) | (KEY[2]! << 8) | KEY[3]!;
  const readBuffer = simdReadBuffer();
  const sources: Array<[string, (data: Buffer, at: number) => Buffer]> = [
    [
      'a plain buffer',
      (data, at) => {
        const backing = Buffer.alloc(at + data.length);
        data.copy(backing, at);
        return backing.subarray(at);
      },
    ],
  ];
  // Where WebAssembly SIMD exists, the read buffer is in its memory and is unmasked in place before the copy.
  if (readBuffer !== null) {
    sources.push([
      'the read buffer',
      (data, at) => {
        data.copy(readBuffer, at);
        return readBuffer.subarray(at, at + data.length);
      },
    ]);
  }
  for (const [where, place] of sources) {
    test(`from ${where}: matches a naive byte loop at every length, mask offset and alignment`, () => {
      for (const length of [...LENGTHS, 16 * 1024 + 5, 200 * 1024 + 13]) {
        const data = pattern(length, length + 7);
        for (let maskOffset = 0; maskOffset < 4; maskOffset++) {
          const expected = naiveMask(data, KEY, maskOffset);
          for (const at of [0, 1, 3, 6]) {
            const source = place(data, at);
            if (where === 'the read buffer') assert.ok(inSimdReadBuffer(source));
            const target = Buffer.alloc(length + 9, 0xa5);
            copyMaskKey(source, target, 5, key, maskOffset);
            assert.ok(
              target.subarray(5, 5 + length).equals(expected),
              `length ${length} mask offset ${maskOffset} at ${at}`,
            );
            assert.ok(
              target.subarray(0, 5).every((b) => b === 0xa5) && target.subarray(5 + length).every((b) => b === 0xa5),
            );
          }
        }
      }
    });
  }
});

describe('copyMasked (RFC 6455 §5.3)', () => {
  test('matches a naive byte loop for lengths 0..100 and large ones, at target offsets 0..7 and unaligned sources', () => {
    for (const length of LENGTHS) {
      const data = pattern(length, length + 3);
      const expected = naiveMask(data, KEY);
      for (let offset = 0; offset < 8; offset++) {
        const srcBacking = Buffer.alloc(length + 3);
        data.copy(srcBacking, offset & 3);
        const source = srcBacking.subarray(offset & 3, (offset & 3) + length);
        const target = Buffer.alloc(offset + length + 4, 0x5a);
        copyMasked(source, target, offset, KEY);
        assert.ok(target.subarray(offset, offset + length).equals(expected), `length ${length} offset ${offset}`);
        assert.ok(
          target.subarray(0, offset).every((b) => b === 0x5a),
          'bytes before untouched',
        );
        assert.ok(
          target.subarray(offset + length).every((b) => b === 0x5a),
          'bytes after untouched',
        );
        assert.ok(source.equals(data), 'source untouched');
      }
    }
  });

  test('copyMasked then applyMask restores the source (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.nat(9),
        (data, key, offset) => {
          const target = Buffer.alloc(offset + data.length);
          copyMasked(data, target, offset, key);
          applyMask(target.subarray(offset), key, 0);
          assert.deepEqual(target.subarray(offset), Buffer.from(data));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('randomMaskSource (RFC 6455 §5.3)', () => {
  test('writes exactly 4 bytes at the offset, and keys vary', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const out = Buffer.alloc(10, 0xee);
      randomMaskSource(out, 3);
      assert.ok(out.subarray(0, 3).every((b) => b === 0xee) && out.subarray(7).every((b) => b === 0xee));
      seen.add(out.subarray(3, 7).toString('hex'));
    }
    assert.ok(seen.size > 2990, `${seen.size} distinct keys of 3000`);
  });
});

describe('masking direction enforced by the session (RFC 6455 §5.1)', () => {
  const unmasked = [
    ['text', buildFrame({ opcode: OP.TEXT, payload: 'hi' })],
    ['empty binary', buildFrame({ opcode: OP.BINARY })],
    ['ping', buildFrame({ opcode: OP.PING, payload: 'p' })],
    ['close', buildFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8]) })],
  ] as const;

  for (const [name, frame] of unmasked) {
    test(`server refuses an unmasked ${name} frame from a client with 1002 NOPOLL_ERR_MASK_REQUIRED (§5.1)`, () => {
      const h = makeSession('server');
      h.feed(cat(frame, h.peer.text('after')));
      assertFailed(h, 1002, 'NOPOLL_ERR_MASK_REQUIRED');
      assert.deepEqual(h.handler.events.length, 1, 'nothing delivered');
      h.feed(h.peer.text('later'));
      assert.equal(h.handler.events.length, 1, 'nothing delivered later either');
    });

    test(`client refuses a masked ${name} frame from a server with 1002 NOPOLL_ERR_UNEXPECTED_MASK (§5.1)`, () => {
      const h = makeSession('client');
      const masked = decodeAndMask(frame);
      h.feed(cat(masked, h.peer.text('after')));
      assertFailed(h, 1002, 'NOPOLL_ERR_UNEXPECTED_MASK');
      assert.equal(h.handler.events.length, 1, 'nothing delivered');
    });
  }

  test('server refuses an unmasked continuation in the middle of a masked fragmented message (§5.1)', () => {
    const h = makeSession('server');
    h.feed(h.peer.text('ab', false), buildFrame({ opcode: OP.CONT, payload: 'cd' }));
    assertFailed(h, 1002, 'NOPOLL_ERR_MASK_REQUIRED');
    assert.equal(h.handler.events.length, 1);
  });
});

// Re-encodes a one-frame unmasked buffer with a masking key.
function decodeAndMask(frame: Buffer): Buffer {
  const opcode = frame[0]! & 0x0f;
  const payload = frame.subarray(2);
  return buildFrame({ opcode, payload, mask: Buffer.from([0x11, 0x22, 0x33, 0x44]) });
}

describe('outgoing masking (RFC 6455 §5.1, §5.3)', () => {
  const keys = [
    Buffer.from([0x01, 0x02, 0x03, 0x04]),
    Buffer.from([0xff, 0x00, 0x80, 0x7f]),
    Buffer.from([0xde, 0xad, 0xbe, 0xef]),
    Buffer.from([0x00, 0x00, 0x00, 0x00]),
    Buffer.from([0x37, 0xfa, 0x21, 0x3d]),
  ];

  // Every way a session emits a frame, in one script; close last.
  function script(session: Session, incomingPing: Buffer): void {
    session.sendText('héllo');
    session.sendText(Buffer.from('bytes'));
    session.sendText('');
    session.sendData(OP.BINARY, pattern(5000, 1));
    session.sendData(OP.BINARY, Buffer.alloc(0));
    session.sendData(OP.TEXT, Buffer.from('frag'), false);
    session.ping(Buffer.from('ping'));
    session.sendData(OP.TEXT, Buffer.from('ment'), true);
    session.pong(Buffer.from('unsolicited'));
    session.receive(incomingPing); // answered with a pong
    session.close(1000, 'done');
  }

  test('a client masks every frame it sends, each with the next key from its mask source (§5.3)', () => {
    const seq = maskSequence(...keys);
    const handler = new RecordingHandler();
    const session = new Session(handler, {
      role: 'client',
      maxFrameBytes: BIG,
      maxMessageBytes: BIG,
      maskSource: seq.source,
    });
    script(session, buildFrame({ opcode: OP.PING, payload: 'auto' }));
    const frames = handler.frames;
    assert.equal(frames.length, 11);
    assert.equal(seq.calls, frames.length, 'one key drawn per frame');
    frames.forEach((f, i) => {
      assert.equal(f.masked, true, `frame ${i} masked`);
      assert.deepEqual(f.mask, keys[i % keys.length], `frame ${i} uses key ${i}`);
    });
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.fin, f.payload.toString('latin1')]),
      [
        [OP.TEXT, true, Buffer.from('héllo').toString('latin1')],
        [OP.TEXT, true, 'bytes'],
        [OP.TEXT, true, ''],
        [OP.BINARY, true, pattern(5000, 1).toString('latin1')],
        [OP.BINARY, true, ''],
        [OP.TEXT, false, 'frag'],
        [OP.PING, true, 'ping'],
        [OP.CONT, true, 'ment'],
        [OP.PONG, true, 'unsolicited'],
        [OP.PONG, true, 'auto'],
        [OP.CLOSE, true, '\x03\xe8done'],
      ],
    );
  });

  test('a server never masks what it sends (§5.1)', () => {
    const h = makeSession('server');
    script(h.session, h.peer.ping('auto'));
    const frames = h.handler.frames;
    assert.equal(frames.length, 11);
    for (const f of frames) assert.equal(f.masked, false);
    assert.deepEqual(decodeClose(frames[10]!.payload), { code: 1000, reason: 'done' });
  });

  test('a client does not mask the caller buffer in place (§5.3)', () => {
    const h = makeSession('client');
    const data = pattern(10000, 4);
    const copy = Buffer.from(data);
    h.session.sendData(OP.BINARY, data);
    h.session.sendData(OP.BINARY, data.subarray(0, 100), false);
    h.session.sendData(OP.BINARY, data.subarray(100, 200), true);
    h.session.ping(data.subarray(0, 125));
    assert.ok(data.equals(copy));
    assert.deepEqual(summarize(h.handler.events), []);
  });
});
