/**
 * noPoll regression client, support tests (`test/nopoll-regression-client.c`, nopoll-api.md §4.2): the ones that
 * need no network.
 *
 * Skipped here, with the reason:
 * - test_01_strings: `nopoll_ncmp` is a C string helper; JavaScript strings have no equivalent to test.
 * - test_01_support, the `get_16bit`/`get_32bit` and `set_32bit` halves: C byte-order helpers, which Buffer's
 *   readUInt16BE/readUInt32BE replace; the nonce and base64-decode halves map to the key checks below.
 * - test_47, the "huge, overflowing or negative sizes" half: payload sizes are Buffer lengths, they cannot overflow.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Msg, Opcode, acceptKeyFor, applyMask } from '../../src/index.js';
import { generateKey, isValidKey } from '../../src/protocol/handshake/accept-key.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

test('noPoll test_01_base64: acceptKeyFor is base64(SHA-1(key + GUID)), stable over repeated calls', () => {
  // RFC 6455 §1.3's worked example.
  for (let round = 0; round < 10; round++) {
    assert.equal(acceptKeyFor('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  }
  for (let round = 0; round < 10; round++) {
    const key = randomBytes(16).toString('base64');
    assert.equal(
      acceptKeyFor(key),
      createHash('sha1')
        .update(key + GUID)
        .digest('base64'),
    );
  }
});

test('noPoll test_01_support: invalid base64 keys are refused and generated nonces are 16 bytes', () => {
  // noPoll: decoding "!!!!" fails cleanly.
  assert.equal(isValidKey('!!!!'), false);
  // noPoll's valid decode gives 14 bytes: valid base64, but not a 16-byte nonce, so not a key (RFC 6455 §4.2.1).
  assert.equal(Buffer.from('VGhpcyBpcyBhIHRlc3Q=', 'base64').toString(), 'This is a test');
  assert.equal(isValidKey('VGhpcyBpcyBhIHRlc3Q='), false);
  assert.equal(isValidKey('dGhlIHNhbXBsZSBub25jZQ=='), true);
  assert.equal(isValidKey(''), false);
  assert.equal(isValidKey('dGhlIHNhbXBsZSBub25jZQ== '), false);
  // noPoll: nopoll_nonce(13) never writes past its buffer (20 rounds). Here: every key is exactly 16 bytes.
  const seen = new Set<string>();
  for (let round = 0; round < 20; round++) {
    const key = generateKey();
    assert.equal(key.length, 24);
    assert.equal(isValidKey(key), true);
    assert.equal(Buffer.from(key, 'base64').length, 16);
    seen.add(key);
  }
  assert.equal(seen.size, 20, 'nonces repeat');
});

test('noPoll test_01_masking: masking changes the data and masking again restores it', () => {
  const original = Buffer.from('This is a test value');
  let mask = randomBytes(4);
  while (mask.readUInt32BE(0) === 0) mask = randomBytes(4);
  const data = Buffer.from(original);
  applyMask(data, mask);
  assert.notDeepEqual(data, original);
  for (let i = 0; i < data.length; i++) assert.equal(data[i], original[i]! ^ mask[i % 4]!);
  applyMask(data, mask);
  assert.deepEqual(data, original);
  // The key itself is untouched (noPoll reads it back with get_32bit).
  const copy = Buffer.from(mask);
  applyMask(Buffer.from(original), mask);
  assert.deepEqual(mask, copy);
});

test('noPoll test_01_masking: masking in pieces (a payload split across reads) equals masking at once', () => {
  const mask = Buffer.from([23, 24, 25, 26]);
  // Longer than the word-at-a-time threshold, and viewed at an odd offset so the alignment path runs.
  const backing = Buffer.alloc(301);
  const original = randomBytes(300);
  original.copy(backing, 1);
  const whole = Buffer.from(original);
  applyMask(whole, mask);
  for (const cut of [1, 2, 3, 10, 77, 150, 299]) {
    const piecewise = backing.subarray(1);
    original.copy(piecewise);
    const next = applyMask(piecewise.subarray(0, cut), mask, 0);
    assert.equal(next, cut & 3);
    applyMask(piecewise.subarray(cut), mask, next);
    assert.deepEqual(piecewise, whole, `cut at ${cut}`);
  }
});

test('noPoll test_47: Msg.join concatenates two pieces without touching their references', () => {
  const a = new Msg(Opcode.TEXT, Buffer.from('hello'), false, true);
  const b = new Msg(Opcode.CONTINUATION, Buffer.from('-world'), true, true);
  const joined = Msg.join(a, b);
  assert.ok(joined);
  assert.equal(joined.text, 'hello-world');
  assert.equal(joined.size, 11);
  assert.equal(joined.opcode, Opcode.TEXT);
  assert.equal(joined.isFinal, true);
  assert.equal(a.refCount, 1);
  assert.equal(b.refCount, 1);
  assert.notEqual(joined, a);
  assert.notEqual(joined, b);
});

test('noPoll test_47: Msg.join with missing pieces', () => {
  assert.equal(Msg.join(null, null), null);
  assert.equal(Msg.join(undefined, undefined), null);

  const left = new Msg(Opcode.TEXT, Buffer.from('hello'));
  const onlyLeft = Msg.join(left, null);
  assert.equal(onlyLeft, left);
  assert.equal(left.refCount, 2);

  const right = new Msg(Opcode.TEXT, Buffer.from('hello'));
  const onlyRight = Msg.join(null, right);
  assert.equal(onlyRight, right);
  assert.equal(right.refCount, 2);

  // Joining an empty holder with "hello" gives "hello".
  const empty = new Msg(Opcode.TEXT, Buffer.alloc(0), false, true);
  const filled = Msg.join(empty, new Msg(Opcode.CONTINUATION, Buffer.from('hello'), true, true));
  assert.ok(filled);
  assert.equal(filled.text, 'hello');
  assert.equal(filled.size, 5);
});
