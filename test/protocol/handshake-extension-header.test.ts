import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatExtensions,
  parseExtensions,
  type ExtensionOffer,
} from '../../src/protocol/handshake/extension-header.js';

test('parses a bare extension and one with params', () => {
  assert.deepEqual(parseExtensions('permessage-deflate'), [{ name: 'permessage-deflate', params: {} }]);
  assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits=10'), [
    { name: 'permessage-deflate', params: { client_max_window_bits: true, server_max_window_bits: '10' } },
  ]);
});

test('parses several offers, with OWS anywhere RFC 2616 implied LWS allows it', () => {
  assert.deepEqual(parseExtensions(' foo ,bar ; baz = 2 ;\tqux\t, foo; x=1 '), [
    { name: 'foo', params: {} },
    { name: 'bar', params: { baz: '2', qux: true } },
    { name: 'foo', params: { x: '1' } },
  ]);
});

test('the RFC 6455 §9.1 examples parse', () => {
  assert.deepEqual(parseExtensions('mux; max-channels=4; flow-control, deflate-stream'), [
    { name: 'mux', params: { 'max-channels': '4', 'flow-control': true } },
    { name: 'deflate-stream', params: {} },
  ]);
  assert.deepEqual(parseExtensions('private-extension'), [{ name: 'private-extension', params: {} }]);
});

test('quoted values are unescaped and must be tokens', () => {
  assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits="10"'), [
    { name: 'permessage-deflate', params: { client_max_window_bits: '10' } },
  ]);
  assert.deepEqual(parseExtensions('x; a="b\\c"'), [{ name: 'x', params: { a: 'bc' } }]);
  assert.equal(parseExtensions('x; a="two words"'), null);
  assert.equal(parseExtensions('x; a=""'), null);
  assert.equal(parseExtensions('x; a="a,b"'), null);
  assert.equal(parseExtensions('x; a="unterminated'), null);
  assert.equal(parseExtensions('x; a="x\\'), null);
  assert.equal(parseExtensions('x; a="1"2'), null);
});

test('empty list elements are ignored', () => {
  assert.deepEqual(parseExtensions(''), []);
  assert.deepEqual(parseExtensions(' , ,'), []);
  assert.deepEqual(parseExtensions('a,,b,'), [
    { name: 'a', params: {} },
    { name: 'b', params: {} },
  ]);
});

test('malformed values give null', () => {
  for (const bad of [
    ';',
    'a;',
    'a; ;b',
    'a; =1',
    'a; b=',
    'a; b=,',
    'a b',
    'a; b c',
    'a; b=1 2',
    '"a"',
    'a=1',
    'a; b==1',
    'a; b=@',
    'a/1',
    'a;b=1;',
    'é',
  ]) {
    assert.equal(parseExtensions(bad), null, JSON.stringify(bad));
  }
});

test('a repeated param keeps its first value and is reported', () => {
  const parsed = parseExtensions('permessage-deflate; server_max_window_bits=10; server_max_window_bits=11; a; a');
  assert.deepEqual(parsed, [
    {
      name: 'permessage-deflate',
      params: { server_max_window_bits: '10', a: true },
      duplicateParams: ['server_max_window_bits', 'a'],
    },
  ]);
  assert.equal(parseExtensions('x; a=1')?.[0]?.duplicateParams, undefined);
});

test('params keep insertion order', () => {
  const parsed = parseExtensions('x; c=1; a; b=2');
  assert.deepEqual(Object.keys(parsed?.[0]?.params ?? {}), ['c', 'a', 'b']);
});

test('a param named like an Object.prototype member is an ordinary param', () => {
  assert.deepEqual(parseExtensions('x; constructor; __proto__=1')?.[0]?.params, {
    constructor: true,
    ['__proto__']: '1',
  });
});

test('formatExtensions writes the grammar back and round-trips', () => {
  const list: ExtensionOffer[] = [
    { name: 'permessage-deflate', params: { client_max_window_bits: true, server_max_window_bits: '10' } },
    { name: 'x-foo', params: {} },
  ];
  const text = formatExtensions(list);
  assert.equal(text, 'permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo');
  assert.deepEqual(parseExtensions(text), list);
  assert.equal(formatExtensions([]), '');
});

test('formatExtensions refuses non-tokens', () => {
  assert.throws(() => formatExtensions([{ name: 'bad name', params: {} }]), TypeError);
  assert.throws(() => formatExtensions([{ name: 'x', params: { 'a b': true } }]), TypeError);
  assert.throws(() => formatExtensions([{ name: 'x', params: { a: 'two words' } }]), TypeError);
  assert.throws(() => formatExtensions([{ name: 'x', params: { a: '' } }]), TypeError);
});
