import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
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
