// frameOnce (a server frame built once for many connections) against what a server session writes for the same
// message, and against the reference decoder: same bytes, every length form (RFC 6455 §5.2), never masked (§5.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frameOnce } from '../../src/protocol/frame-writer.js';
import { RSV1 } from '../../src/protocol/frame-header.js';
import { decodeFrames, makeSession, OP, pattern } from '../helpers/frames.js';

const SIZES = [0, 1, 125, 126, 4096, 4097, 65535, 65536];

test('frameOnce writes the bytes a server session writes for the same message', () => {
  for (const size of SIZES) {
    const payload = pattern(size, size + 3);
    const { session, handler } = makeSession('server');
    session.sendData(OP.BINARY, payload);
    assert.deepEqual(frameOnce(OP.BINARY, payload), Buffer.concat(handler.writes), `size ${size}`);
  }
});

test('frameOnce keeps fin, rsv and opcode and never masks', () => {
  const payload = pattern(300, 9);
  const [frame, ...rest] = decodeFrames(frameOnce(OP.TEXT, payload, false, RSV1));
  assert.equal(rest.length, 0);
  assert.equal(frame!.fin, false);
  assert.equal(frame!.rsv, RSV1);
  assert.equal(frame!.opcode, OP.TEXT);
  assert.equal(frame!.masked, false);
  assert.deepEqual(frame!.payload, payload);
});

test('a client session parses a frameOnce frame as one message', () => {
  const payload = Buffer.from('broadcast to every subscriber');
  const { feed, handler } = makeSession('client');
  feed(frameOnce(OP.TEXT, payload));
  assert.deepEqual(
    handler.messages.map((m) => [m.opcode, m.payload.toString()]),
    [[OP.TEXT, payload.toString()]],
  );
});
