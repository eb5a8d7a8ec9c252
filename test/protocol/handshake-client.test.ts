import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { HandshakeError } from '../../src/errors.js';
import { buildClientRequest, checkServerResponse } from '../../src/protocol/handshake/client-handshake.js';
import { HttpHeadParser, type RequestHead, type ResponseHead } from '../../src/protocol/handshake/http-head-parser.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
const LIMITS = { maxHeadBytes: 16 * 1024, maxHeaderCount: 100 };

function response(statusLine: string, ...headers: string[]): ResponseHead {
  const r = new HttpHeadParser('response', LIMITS).push(
    Buffer.from(`${statusLine}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`, 'latin1'),
  );
  assert.equal(r.kind, 'complete');
  return (r as { head: ResponseHead }).head;
}

const BASE = ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${ACCEPT}`];

function failure(head: ResponseHead, opts: Parameters<typeof checkServerResponse>[2] = {}): HandshakeError {
  const r = checkServerResponse(head, KEY, opts);
  assert.equal(r.ok, false, 'expected the response to be refused');
  const error = (r as { error: HandshakeError }).error;
  assert.ok(error instanceof HandshakeError);
  assert.equal(error.code, 'NOPOLL_ERR_HANDSHAKE');
  return error;
}

test('buildClientRequest writes the RFC 6455 §4.1 request in order', () => {
  const text = buildClientRequest({
    host: 'server.example.com:8080',
    path: '/chat?room=1',
    key: KEY,
    origin: 'http://example.com',
    cookie: 'a=1; b=2',
    protocols: ['chat', 'superchat'],
    extensions: 'permessage-deflate; client_max_window_bits',
    extraHeaders: { 'X-Trace': 'abc' },
  }).toString('latin1');
  assert.equal(
    text,
    'GET /chat?room=1 HTTP/1.1\r\n' +
      'Host: server.example.com:8080\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${KEY}\r\n` +
      'Sec-WebSocket-Version: 13\r\n' +
      'Origin: http://example.com\r\n' +
      'Cookie: a=1; b=2\r\n' +
      'Sec-WebSocket-Protocol: chat, superchat\r\n' +
      'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' +
      'X-Trace: abc\r\n' +
      '\r\n',
  );
});

test('buildClientRequest omits optional headers and honours version and pair lists', () => {
  const text = buildClientRequest({
    host: 'h',
    path: '/',
    key: KEY,
    version: 8,
    origin: null,
    protocols: [],
    extraHeaders: [
      ['X-A', '1'],
      ['X-A', '2'],
    ],
  }).toString('latin1');
  assert.equal(
    text,
    `GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 8\r\nX-A: 1\r\nX-A: 2\r\n\r\n`,
  );
  const parsed = new HttpHeadParser('request', LIMITS).push(Buffer.from(text, 'latin1'));
  assert.equal((parsed as { head: RequestHead }).head.headers.has('origin'), false);
});

test('buildClientRequest throws TypeError on caller mistakes', () => {
  const ok = { host: 'h', path: '/', key: KEY };
  const bad: Array<[string, object]> = [
    ['bad subprotocol', { protocols: ['a b'] }],
    ['empty subprotocol', { protocols: [''] }],
    ['separator in subprotocol', { protocols: ['a,b'] }],
    ['duplicate subprotocol', { protocols: ['chat', 'chat'] }],
    ['CRLF in extra value', { extraHeaders: { 'X-A': 'a\r\nEvil: 1' } }],
    ['LF in extra value', { extraHeaders: { 'X-A': 'a\nb' } }],
    ['NUL in extra value', { extraHeaders: { 'X-A': 'a\0b' } }],
    ['bad extra name', { extraHeaders: { 'X A': '1' } }],
    ['extra repeats a managed header', { extraHeaders: { 'sec-websocket-key': KEY } }],
    ['extra repeats origin', { origin: 'http://a', extraHeaders: { Origin: 'http://b' } }],
    ['CRLF in host', { host: 'h\r\nX: 1' }],
    ['empty host', { host: '' }],
    ['CRLF in origin', { origin: 'a\r\n' }],
    ['CRLF in cookie', { cookie: 'a\n' }],
    ['path without slash', { path: 'chat' }],
    ['path with space', { path: '/a b' }],
    ['path with fragment', { path: '/a#b' }],
    ['path with CRLF', { path: '/a\r\n' }],
    ['non-ASCII path', { path: '/caf\u00e9' }],
    ['invalid key', { key: '!!!!' }],
    ['bad version', { version: 256 }],
    ['fractional version', { version: 1.5 }],
    ['malformed extension offer', { extensions: 'a;;' }],
    ['CRLF in extensions', { extensions: 'a\r\n' }],
  ];
  for (const [name, patch] of bad) {
    assert.throws(() => buildClientRequest({ ...ok, ...patch }), TypeError, name);
  }
  // Origin and Cookie may come as extra headers when the dedicated options are not used.
  const text = buildClientRequest({ ...ok, extraHeaders: { Origin: 'http://x', Cookie: 'c=1' } }).toString('latin1');
  assert.match(text, /\r\nOrigin: http:\/\/x\r\nCookie: c=1\r\n\r\n$/);
});

test('a correct 101 response is accepted', () => {
  const r = checkServerResponse(response('HTTP/1.1 101 Switching Protocols', ...BASE), KEY, {});
  assert.equal(r.ok, true);
  const result = (r as { result: { protocol: string | null; extensions: unknown[] } }).result;
  assert.equal(result.protocol, null);
  assert.deepEqual(result.extensions, []);
});

test('Upgrade and Connection compare as case-insensitive token lists', () => {
  const head = response(
    'HTTP/1.1 101 x',
    'Upgrade: WebSocket',
    'Connection: keep-alive, UPGRADE',
    `Sec-WebSocket-Accept: ${ACCEPT}`,
  );
  assert.equal(checkServerResponse(head, KEY, {}).ok, true);
});

test('non-101 statuses are refused with the status received', () => {
  for (const [line, status] of [
    ['HTTP/1.1 200 OK', 200],
    ['HTTP/1.1 301 Moved Permanently', 301],
    ['HTTP/1.1 302 Found', 302],
    ['HTTP/1.1 400 Bad Request', 400],
    ['HTTP/1.1 403 Forbidden', 403],
    ['HTTP/1.1 426 Upgrade Required', 426],
    ['HTTP/1.1 503', 503],
  ] as const) {
    const error = failure(response(line, ...BASE));
    assert.equal(error.status, status, line);
    assert.match(error.message, new RegExp(String(status)));
  }
});

test('a wrong, missing or repeated Sec-WebSocket-Accept is refused', () => {
  const wrong = failure(
    response(
      'HTTP/1.1 101 x',
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=',
    ),
  );
  assert.equal(wrong.status, 101);
  assert.match(wrong.message, /Accept/);
  failure(response('HTTP/1.1 101 x', 'Upgrade: websocket', 'Connection: Upgrade'));
  failure(response('HTTP/1.1 101 x', ...BASE, `Sec-WebSocket-Accept: ${ACCEPT}`));
  // The key must be the one sent, not any key.
  assert.equal(checkServerResponse(response('HTTP/1.1 101 x', ...BASE), 'AAAAAAAAAAAAAAAAAAAAAA==', {}).ok, false);
});

test('a missing or wrong Upgrade or Connection is refused', () => {
  assert.match(
    failure(response('HTTP/1.1 101 x', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${ACCEPT}`)).message,
    /Upgrade/,
  );
  failure(response('HTTP/1.1 101 x', 'Upgrade: h2c', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${ACCEPT}`));
  assert.match(
    failure(response('HTTP/1.1 101 x', 'Upgrade: websocket', `Sec-WebSocket-Accept: ${ACCEPT}`)).message,
    /Connection/,
  );
  failure(
    response('HTTP/1.1 101 x', 'Upgrade: websocket', 'Connection: keep-alive', `Sec-WebSocket-Accept: ${ACCEPT}`),
  );
});

test('subprotocol: the server may pick only one of ours', () => {
  const pick = (value: string): ResponseHead => response('HTTP/1.1 101 x', ...BASE, `Sec-WebSocket-Protocol: ${value}`);
  const r = checkServerResponse(pick('superchat'), KEY, { protocols: ['chat', 'superchat'] });
  assert.equal(r.ok && r.result.protocol, 'superchat');
  assert.match(failure(pick('other'), { protocols: ['chat'] }).message, /not offered/);
  assert.match(failure(pick('chat'), {}).message, /none was offered/);
  failure(pick('chat'), { protocols: [] });
  failure(pick('chat, superchat'), { protocols: ['chat', 'superchat'] });
  failure(pick('Chat'), { protocols: ['chat'] });
  failure(pick(''), { protocols: ['chat'] });
  failure(response('HTTP/1.1 101 x', ...BASE, 'Sec-WebSocket-Protocol: chat', 'Sec-WebSocket-Protocol: chat'), {
    protocols: ['chat'],
  });
  // Not choosing is fine.
  assert.equal(checkServerResponse(response('HTTP/1.1 101 x', ...BASE), KEY, { protocols: ['chat'] }).ok, true);
});

test('extensions: only offered ones, well-formed, in the server order', () => {
  const ext = (value: string): ResponseHead =>
    response('HTTP/1.1 101 x', ...BASE, `Sec-WebSocket-Extensions: ${value}`);
  const r = checkServerResponse(ext('permessage-deflate; server_no_context_takeover'), KEY, {
    extensionsOffered: ['permessage-deflate'],
  });
  assert.equal(r.ok, true);
  assert.deepEqual(r.ok && r.result.extensions, [
    { name: 'permessage-deflate', params: { server_no_context_takeover: true } },
  ]);
  assert.match(failure(ext('x-unknown')).message, /not offered/);
  failure(ext('x-unknown'), { extensionsOffered: ['permessage-deflate'] });
  failure(ext('permessage-deflate; a=b c'), { extensionsOffered: ['permessage-deflate'] });
  const split = response('HTTP/1.1 101 x', ...BASE, 'Sec-WebSocket-Extensions: a', 'Sec-WebSocket-Extensions: b; x=1');
  const two = checkServerResponse(split, KEY, { extensionsOffered: ['b', 'a'] });
  assert.deepEqual(two.ok && two.result.extensions.map((e) => e.name), ['a', 'b']);
});

test('the result carries every response header', () => {
  const r = checkServerResponse(response('HTTP/1.1 101 x', ...BASE, 'X-Server: nopoll'), KEY, {});
  assert.equal(r.ok && r.result.headers.get('x-server'), 'nopoll');
});
