/**
 * src/protocol/shared-frame.ts fed directly: server frames built once for many connections (RFC 6455 §5.2 header
 * forms, unmasked, RSV1 for a compressed payload, UTF-8 checked for text).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RSV1 } from '../../src/protocol/frame-header.js';
import { frameOnce, frameServerMessage, frameServerText } from '../../src/protocol/shared-frame.js';
import { decodeFrames, makeSession, OP, pattern } from '../helpers/frames.js';

describe('shared server frames', () => {
  it('uses the 7-bit, 16-bit and 64-bit length forms, unmasked, FIN set', () => {
    for (const [length, headerSize] of [
      [0, 2],
      [125, 2],
      [126, 4],
      [65535, 4],
      [65536, 10],
    ] as const) {
      const frame = frameServerMessage(2, Buffer.alloc(length, 7));
      assert.equal(frame.length, headerSize + length);
      assert.equal(frame[0], 0x82);
      assert.equal(frame[1]! & 0x80, 0, 'a server frame is not masked (§5.1)');
      const announced =
        headerSize === 2 ? frame[1]! : headerSize === 4 ? frame.readUInt16BE(2) : Number(frame.readBigUInt64BE(2));
      assert.equal(announced, length);
      assert.ok(frame.subarray(headerSize).every((b) => b === 7));
    }
  });

  it('sets RSV1 only for a compressed payload, and checks text only when it is not compressed', () => {
    assert.equal(frameServerMessage(1, Buffer.from('hi'), true)[0], 0xc1);
    assert.equal(frameServerMessage(1, Buffer.from([0xff]), true)[0], 0xc1, 'compressed bytes are not text yet');
    assert.throws(() => frameServerMessage(1, Buffer.from([0xc3, 0x28])), TypeError);
    assert.throws(() => frameServerMessage(9, Buffer.alloc(1)), TypeError);
    assert.throws(() => frameServerMessage(0, Buffer.alloc(1)), TypeError);
  });

  it('encodes a string straight into the frame, byte for byte what the Buffer form gives', () => {
    for (const text of ['', 'ascii', 'é€😀', 'x'.repeat(70_000)]) {
      assert.deepEqual(frameServerText(text), frameServerMessage(1, Buffer.from(text)));
    }
  });

  it('frameOnce writes the bytes a server session writes for the same message, in every length form', () => {
    for (const size of [0, 1, 125, 126, 4096, 4097, 65535, 65536]) {
      const payload = pattern(size, size + 3);
      const { session, handler } = makeSession('server');
      session.sendData(OP.BINARY, payload);
      assert.deepEqual(frameOnce(OP.BINARY, payload), Buffer.concat(handler.writes), `size ${size}`);
    }
  });

  it('frameOnce keeps fin, rsv and opcode, and a client session reads its frame', () => {
    const payload = pattern(300, 9);
    const [frame, ...rest] = decodeFrames(frameOnce(OP.TEXT, payload, false, RSV1));
    assert.equal(rest.length, 0);
    assert.deepEqual([frame!.fin, frame!.rsv, frame!.opcode, frame!.masked], [false, RSV1, OP.TEXT, false]);
    assert.deepEqual(frame!.payload, payload);
    const { feed, handler } = makeSession('client');
    feed(frameOnce(OP.TEXT, Buffer.from('to every subscriber')));
    assert.deepEqual(
      handler.messages.map((m) => m.payload.toString()),
      ['to every subscriber'],
    );
  });
});
