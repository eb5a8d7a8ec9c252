import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkExtraHeaders,
  HeaderList,
  isToken,
  listHasToken,
  parseTokenList,
  splitList,
  trimOws,
} from '../../src/protocol/handshake/headers.js';

test('isToken accepts every tchar and refuses separators, spaces, controls and non-ASCII', () => {
  assert.equal(isToken("!#$%&'*+-.^_`|~09azAZ"), true);
  assert.equal(isToken('websocket'), true);
  assert.equal(isToken(''), false);
  for (const ch of [
    '(',
    ')',
    ',',
    '/',
    ':',
    ';',
    '<',
    '=',
    '>',
    '?',
    '@',
    '[',
    '\\',
    ']',
    '{',
    '}',
    '"',
    ' ',
    '\t',
    '\x00',
    '\x7f',
    'é',
  ]) {
    assert.equal(isToken(`a${ch}b`), false, `char ${JSON.stringify(ch)}`);
  }
});

test('parseTokenList trims OWS, drops empty elements and lower-cases', () => {
  assert.deepEqual(parseTokenList('keep-alive, Upgrade'), ['keep-alive', 'upgrade']);
  assert.deepEqual(parseTokenList(' ,\tUpgrade ,, KEEP-ALIVE\t,'), ['upgrade', 'keep-alive']);
  assert.deepEqual(parseTokenList(''), []);
  assert.deepEqual(parseTokenList('WebSocket'), ['websocket']);
  assert.deepEqual(parseTokenList('HTTP/2.0, websocket'), ['http/2.0', 'websocket']);
});

test('splitList keeps case', () => {
  assert.deepEqual(splitList('Chat, superChat ,'), ['Chat', 'superChat']);
});

test('trimOws trims only SP and HTAB', () => {
  assert.equal(trimOws(' \t a b \t'), 'a b');
  assert.equal(trimOws('\u00a0x\u00a0'), '\u00a0x\u00a0');
  assert.equal(trimOws(''), '');
});

test('HeaderList lookups are case-insensitive and join repeated fields', () => {
  const h = new HeaderList([
    ['Host', 'example.com'],
    ['Sec-WebSocket-Protocol', 'chat'],
    ['sec-websocket-protocol', 'superchat, other'],
  ]);
  assert.equal(h.get('HOST'), 'example.com');
  assert.equal(h.get('Sec-Websocket-Protocol'), 'chat, superchat, other');
  assert.deepEqual(h.getAll('SEC-WEBSOCKET-PROTOCOL'), ['chat', 'superchat, other']);
  assert.equal(h.count('sec-websocket-protocol'), 2);
  assert.equal(h.count('origin'), 0);
  assert.equal(h.get('origin'), null);
  assert.deepEqual(h.getAll('origin'), []);
  assert.equal(h.has('host'), true);
  assert.equal(h.has('cookie'), false);
  assert.equal(h.size, 3);
  assert.deepEqual(h.entries(), [
    ['Host', 'example.com'],
    ['Sec-WebSocket-Protocol', 'chat'],
    ['sec-websocket-protocol', 'superchat, other'],
  ]);
  assert.deepEqual({ ...h.toObject() }, { host: 'example.com', 'sec-websocket-protocol': 'chat, superchat, other' });
  h.append('X-A', '1');
  assert.equal(h.get('x-a'), '1');
});

test('HeaderList.getAll returns a copy', () => {
  const h = new HeaderList([['A', '1']]);
  h.getAll('a').push('2');
  assert.deepEqual(h.getAll('a'), ['1']);
});

test('checkExtraHeaders validates names, values and reserved names', () => {
  const reserved = new Set(['host']);
  assert.deepEqual(checkExtraHeaders({ 'X-A': '1', 'X-B': 'two words' }, reserved), [
    ['X-A', '1'],
    ['X-B', 'two words'],
  ]);
  assert.deepEqual(
    checkExtraHeaders(
      [
        ['X-A', '1'],
        ['X-A', '2'],
      ],
      reserved,
    ),
    [
      ['X-A', '1'],
      ['X-A', '2'],
    ],
  );
  assert.deepEqual(checkExtraHeaders(undefined, reserved), []);
  assert.throws(() => checkExtraHeaders({ 'X-A': 'a\r\nInjected: 1' }, reserved), TypeError);
  assert.throws(() => checkExtraHeaders({ 'X-A': 'a\nb' }, reserved), TypeError);
  assert.throws(() => checkExtraHeaders({ 'X-A': 'a\0b' }, reserved), TypeError);
  assert.throws(() => checkExtraHeaders({ 'X-A': 'snow \u2603' }, reserved), TypeError);
  assert.throws(() => checkExtraHeaders({ 'Bad Name': '1' }, reserved), TypeError);
  assert.throws(() => checkExtraHeaders({ 'X-A:': '1' }, reserved), TypeError);
  assert.throws(() => checkExtraHeaders({ HOST: 'x' }, reserved), TypeError);
});

test('listHasToken answers what parseTokenList(value).includes(token) answers, without allocating', async () => {
  const fc = (await import('fast-check')).default;
  const piece = fc.constantFrom(
    'websocket',
    'WebSocket',
    'upgrade',
    'Upgrade',
    'keep-alive',
    'h2c',
    '',
    ' ',
    '\t',
    ',',
    'x',
    'websockets',
    'web socket',
    '\u00c0',
  );
  const value = fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(''));
  fc.assert(
    fc.property(
      value,
      fc.constantFrom('websocket', 'upgrade'),
      (v, token) => listHasToken(v, token) === parseTokenList(v).includes(token),
    ),
    { numRuns: 5000 },
  );
  assert.equal(listHasToken(null, 'upgrade'), false);
  assert.equal(listHasToken('keep-alive, Upgrade', 'upgrade'), true);
  assert.equal(listHasToken('keep-alive,upgraded', 'upgrade'), false);
});

test('HeaderList: lookups are case-insensitive, repeated fields join with ", ", raw pairs keep order and case', () => {
  const h = new HeaderList([
    ['Host', 'a'],
    ['X-Thing', '1'],
    ['x-thing', '2'],
  ]);
  assert.equal(h.get('HOST'), 'a');
  assert.equal(h.get('x-THING'), '1, 2');
  assert.deepEqual(h.getAll('X-Thing'), ['1', '2']);
  assert.equal(h.count('x-thing'), 2);
  assert.equal(h.has('missing'), false);
  assert.equal(h.get('missing'), null);
  assert.equal(h.size, 3);
  assert.deepEqual(h.entries(), [
    ['Host', 'a'],
    ['X-Thing', '1'],
    ['x-thing', '2'],
  ]);
  assert.deepEqual({ ...h.toObject() }, { host: 'a', 'x-thing': '1, 2' });
});
