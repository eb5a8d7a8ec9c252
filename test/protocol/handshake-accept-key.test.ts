import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { acceptKeyFor, generateKey, isValidKey } from '../../src/protocol/handshake/accept-key.js';

test('acceptKeyFor matches the sample of RFC 6455 §1.3', () => {
  assert.equal(acceptKeyFor('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('acceptKeyFor matches the example of RFC 6455 §4.2.2', () => {
  // A second known pair (widely used in the WebSocket literature).
  assert.equal(acceptKeyFor('x3JJHMbDL1EzLkh9GBhXDw=='), 'HSmrc0sMlYUkAGmm5OPpG2HaGWk=');
});

test('generateKey gives a fresh valid 24-character key encoding 16 bytes', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const key = generateKey();
    assert.equal(key.length, 24);
    assert.equal(Buffer.from(key, 'base64').length, 16);
    assert.equal(isValidKey(key), true);
    seen.add(key);
  }
  assert.equal(seen.size, 200);
});

test('isValidKey accepts well-formed keys', () => {
  assert.equal(isValidKey('dGhlIHNhbXBsZSBub25jZQ=='), true);
  assert.equal(isValidKey('AAAAAAAAAAAAAAAAAAAAAA=='), true);
  assert.equal(isValidKey('/////////////////////w=='), true);
});

test('isValidKey refuses anything else', () => {
  for (const bad of [
    '',
    '!!!!',
    '!!!!!!!!!!!!!!!!!!!!!!==',
    'dGhlIHNhbXBsZSBub25jZQ=',
    'dGhlIHNhbXBsZSBub25jZQ===',
    'dGhlIHNhbXBsZSBub25jZQ',
    ' dGhlIHNhbXBsZSBub25jZQ==',
    'dGhlIHNhbXBsZSBub25jZQ== ',
    'dGhlIHNhbXBsZSBub25jZ Q==',
    'dGhlIHNhbXBsZSBub25jZQAA', // 24 chars but decodes to 18 bytes
    'dGhlIHNhbXBsZSBub25jZR==', // non-zero padding bits
    'dGhlIHNhbXBsZSBub25jZQ\n=',
    'dGhlIHNhbXBsZSBub25-Z_==', // URL alphabet
    'dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==',
  ]) {
    assert.equal(isValidKey(bad), false, JSON.stringify(bad));
  }
});

test('isValidKey agrees with the definition: 24 characters of strict base64 that round-trip through 16 bytes', async () => {
  const fc = (await import('fast-check')).default;
  const reference = (key: string): boolean =>
    /^[A-Za-z0-9+/]{22}==$/.test(key) && Buffer.from(key, 'base64').toString('base64') === key;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \u00e9';
  const nearKey = fc
    .array(fc.constantFrom(...alphabet), { minLength: 20, maxLength: 26 })
    .map((chars) => chars.join(''));
  const realKey = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64'));
  const mutated = fc
    .tuple(realKey, fc.nat(23), fc.constantFrom(...alphabet))
    .map(([key, at, ch]) => key.slice(0, at) + ch + key.slice(at + 1));
  fc.assert(
    fc.property(fc.oneof(nearKey, realKey, mutated), (key) => isValidKey(key) === reference(key)),
    { numRuns: 5000 },
  );
});

test('acceptKeyFor hashes any key as latin1 text, also one with characters outside ASCII', () => {
  // No valid key has them, but the answer must not depend on how the hashing path encodes text.
  const key = 'dGhlIHNhbXBsZSBub25jZQ\u00e9=';
  const expected = createHash('sha1')
    .update(Buffer.from(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`, 'latin1'))
    .digest('base64');
  assert.equal(acceptKeyFor(key), expected);
});
