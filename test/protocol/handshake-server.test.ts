import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { HttpHeadParser, type RequestHead, type ResponseHead } from '../../src/protocol/handshake/http-head-parser.js';
import {
  buildAcceptResponse,
  buildRejectResponse,
  checkClientRequest,
  selectProtocol,
  type ServerCheckResult,
  type ServerHandshakePolicy,
} from '../../src/protocol/handshake/server-handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const LIMITS = { maxHeadBytes: 16 * 1024, maxHeaderCount: 100 };
const BASE: Record<string, string> = {
  Host: 'server.example.com',
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Key': KEY,
  'Sec-WebSocket-Version': '13',
};

/** Builds a request head from a request line and headers; a header set to null is left out. */
function request(line: string, patch: Record<string, string | null> = {}, extra: string[] = []): RequestHead {
  const fields = { ...BASE, ...patch };
  const lines = Object.entries(fields)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}: ${v}\r\n`);
  const r = new HttpHeadParser('request', LIMITS).push(
    Buffer.from(`${line}\r\n${lines.join('')}${extra.map((e) => `${e}\r\n`).join('')}\r\n`, 'latin1'),
  );
  assert.equal(r.kind, 'complete');
  return (r as { head: RequestHead }).head;
}

function refused(
  r: ServerCheckResult,
  status: number,
  name = '',
): { message: string; headers: Array<[string, string]> } {
  assert.equal(r.ok, false, `expected ${status} ${name}`);
  const f = r as { status: number; message: string; headers: Array<[string, string]> };
  assert.equal(f.status, status, `${name}: ${f.message}`);
  assert.ok(f.message.length > 0);
  return f;
}

function parseResponse(bytes: Buffer): { head: ResponseHead; rest: Buffer } {
  const r = new HttpHeadParser('response', LIMITS).push(bytes);
  assert.equal(r.kind, 'complete');
  return r as { head: ResponseHead; rest: Buffer };
}

test('a valid request is accepted and described', () => {
  const r = checkClientRequest(
    request('GET /chat?x=1 HTTP/1.1', { Origin: 'http://example.com', Cookie: 'a=1', 'X-Real-IP': '10.0.0.1' }),
  );
  assert.equal(r.ok, true);
  const info = (r as Extract<ServerCheckResult, { ok: true }>).request;
  assert.equal(info.path, '/chat?x=1');
  assert.equal(info.host, 'server.example.com');
  assert.equal(info.origin, 'http://example.com');
  assert.equal(info.key, KEY);
  assert.equal(info.version, 13);
  assert.deepEqual(info.protocols, []);
  assert.deepEqual(info.extensions, []);
  assert.equal(info.cookie, 'a=1');
  assert.equal(info.xRealIp, '10.0.0.1');
  assert.equal(info.headers.get('upgrade'), 'websocket');
});

test('absent optional headers are null', () => {
  const r = checkClientRequest(request('GET / HTTP/1.1'));
  assert.ok(r.ok);
  assert.equal(r.request.origin, null);
  assert.equal(r.request.cookie, null);
  assert.equal(r.request.xRealIp, null);
});

test('POST and other methods are 405 with Allow: GET', () => {
  for (const method of ['POST', 'PUT', 'HEAD', 'get']) {
    const f = refused(checkClientRequest(request(`${method} / HTTP/1.1`)), 405, method);
    assert.deepEqual(f.headers, [['Allow', 'GET']]);
  }
});

test('HTTP/1.0 is refused, 1.1 and later accepted', () => {
  refused(checkClientRequest(request('GET / HTTP/1.0')), 400);
  refused(checkClientRequest(request('GET / HTTP/0.9')), 400);
  assert.equal(checkClientRequest(request('GET / HTTP/2.0')).ok, true);
});

test('request targets: origin form and absolute http(s)/ws(s) forms', () => {
  const pathOf = (target: string): string => {
    const r = checkClientRequest(request(`GET ${target} HTTP/1.1`));
    assert.ok(r.ok, target);
    return r.request.path;
  };
  assert.equal(pathOf('/a/b?c=d'), '/a/b?c=d');
  assert.equal(pathOf('http://server.example.com/chat?x=1'), '/chat?x=1');
  assert.equal(pathOf('HTTPS://server.example.com:8443/chat'), '/chat');
  assert.equal(pathOf('ws://h'), '/');
  assert.equal(pathOf('wss://h?q=1'), '/?q=1');
  for (const bad of ['*', 'chat', 'ftp://h/x', 'server.example.com:80', 'http:///x', 'http://h/a#frag', '/a#frag']) {
    refused(checkClientRequest(request(`GET ${bad} HTTP/1.1`)), 400, bad);
  }
});

test('each missing or malformed required header is 400', () => {
  const cases: Array<[string, Record<string, string | null>, string[]?]> = [
    ['no Host', { Host: null }],
    ['empty Host', { Host: '' }],
    ['two Hosts', {}, ['Host: other.example.com']],
    ['no Upgrade', { Upgrade: null }],
    ['wrong Upgrade', { Upgrade: 'h2c' }],
    ['no Connection', { Connection: null }],
    ['Connection without upgrade', { Connection: 'keep-alive' }],
    ['no key', { 'Sec-WebSocket-Key': null }],
    ['invalid base64 key', { 'Sec-WebSocket-Key': '!!!!' }],
    ['short key', { 'Sec-WebSocket-Key': 'AAAA' }],
    ['key of 18 bytes', { 'Sec-WebSocket-Key': 'AAAAAAAAAAAAAAAAAAAAAAAA' }],
    ['two keys', {}, [`Sec-WebSocket-Key: ${KEY}`]],
    ['no version', { 'Sec-WebSocket-Version': null }],
    ['non-numeric version', { 'Sec-WebSocket-Version': 'thirteen' }],
    ['version list', { 'Sec-WebSocket-Version': '13, 8' }],
    ['two versions', {}, ['Sec-WebSocket-Version: 13']],
    ['malformed extensions', { 'Sec-WebSocket-Extensions': 'permessage-deflate; =' }],
    ['non-token subprotocol', { 'Sec-WebSocket-Protocol': 'chat, a/b' }],
  ];
  for (const [name, patch, extra] of cases) {
    refused(checkClientRequest(request('GET / HTTP/1.1', patch, extra ?? [])), 400, name);
  }
});

test('a request that announces a body is 400: any Transfer-Encoding, a Content-Length other than 0', () => {
  // Bytes after the head of an upgrade request are frames (RFC 6455 §4.1); a body would be run as frames.
  const cases: Array<[string, Record<string, string | null>, string[]?]> = [
    ['Content-Length: 5', { 'Content-Length': '5' }],
    ['Content-Length: 1', { 'Content-Length': '1' }],
    ['Content-Length with junk', { 'Content-Length': '0x10' }],
    ['empty Content-Length', { 'Content-Length': '' }],
    ['two Content-Length fields', { 'Content-Length': '0' }, ['Content-Length: 7']],
    ['Transfer-Encoding: chunked', { 'Transfer-Encoding': 'chunked' }],
    ['Transfer-Encoding: identity', { 'Transfer-Encoding': 'identity' }],
    ['Transfer-Encoding with Content-Length: 0', { 'Transfer-Encoding': 'gzip, chunked', 'Content-Length': '0' }],
  ];
  for (const [name, patch, extra] of cases) {
    const { message } = refused(checkClientRequest(request('GET / HTTP/1.1', patch, extra ?? [])), 400, name);
    assert.match(message, /body/, name);
  }
  for (const zero of ['0', '00', ' 0 ']) {
    assert.equal(
      checkClientRequest(request('GET / HTTP/1.1', { 'Content-Length': zero })).ok,
      true,
      `Content-Length: ${zero}`,
    );
  }
});

test('an unsupported version is 426 with Sec-WebSocket-Version (RFC 6455 §4.4)', () => {
  for (const v of ['8', '7', '0', '14', '255']) {
    const f = refused(checkClientRequest(request('GET / HTTP/1.1', { 'Sec-WebSocket-Version': v })), 426, v);
    assert.deepEqual(f.headers, [['Sec-WebSocket-Version', '13']]);
  }
  const policy: ServerHandshakePolicy = { version: 8 };
  assert.equal(checkClientRequest(request('GET / HTTP/1.1', { 'Sec-WebSocket-Version': '8' }), policy).ok, true);
  const f = refused(checkClientRequest(request('GET / HTTP/1.1'), policy), 426);
  assert.deepEqual(f.headers, [['Sec-WebSocket-Version', '8']]);
  assert.throws(() => checkClientRequest(request('GET / HTTP/1.1'), { version: 300 }), TypeError);
});

test('Origin is optional unless the policy requires it (403)', () => {
  assert.equal(checkClientRequest(request('GET / HTTP/1.1')).ok, true);
  refused(checkClientRequest(request('GET / HTTP/1.1'), { requireOrigin: true }), 403);
  assert.equal(checkClientRequest(request('GET / HTTP/1.1', { Origin: 'http://a' }), { requireOrigin: true }).ok, true);
});

test('token lists in Upgrade and Connection are case-insensitive', () => {
  const r = checkClientRequest(request('GET / HTTP/1.1', { Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' }));
  assert.equal(r.ok, true);
});

test('repeated Sec-WebSocket-Protocol headers are merged, order and case kept, duplicates dropped', () => {
  const r = checkClientRequest(
    request('GET / HTTP/1.1', { 'Sec-WebSocket-Protocol': 'chat, SuperChat' }, [
      'Sec-WebSocket-Protocol: v2.json',
      'sec-websocket-protocol: chat ,, mqtt',
    ]),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.request.protocols, ['chat', 'SuperChat', 'v2.json', 'mqtt']);
});

test('extension offers are parsed, several fields joined', () => {
  const r = checkClientRequest(
    request('GET / HTTP/1.1', { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }, [
      'Sec-WebSocket-Extensions: x-foo',
    ]),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.request.extensions, [
    { name: 'permessage-deflate', params: { client_max_window_bits: true } },
    { name: 'x-foo', params: {} },
  ]);
});

test('repeated Cookie fields are joined with "; ", other repeated fields with ", "', () => {
  const r = checkClientRequest(
    request('GET / HTTP/1.1', { Cookie: 'a=1' }, [
      'Cookie: b=2',
      'X-Real-IP: 1.1.1.1',
      'X-Real-IP: 2.2.2.2',
      'Origin: http://a',
      'Origin: http://b',
    ]),
  );
  assert.ok(r.ok);
  assert.equal(r.request.cookie, 'a=1; b=2');
  assert.equal(r.request.xRealIp, '1.1.1.1, 2.2.2.2');
  assert.equal(r.request.origin, 'http://a, http://b');
});

test('selectProtocol follows the client order', () => {
  assert.equal(selectProtocol(['chat', 'superchat'], ['superchat', 'chat']), 'chat');
  assert.equal(selectProtocol(['superchat', 'chat'], ['chat', 'superchat']), 'superchat');
  assert.equal(selectProtocol(['a', 'b'], ['b']), 'b');
  assert.equal(selectProtocol(['a'], ['b']), null);
  assert.equal(selectProtocol([], ['b']), null);
  assert.equal(selectProtocol(['Chat'], ['chat']), null);
});

test('buildAcceptResponse writes the RFC 6455 §1.3 sample answer', () => {
  assert.equal(
    buildAcceptResponse(KEY, { protocol: 'chat' }).toString('latin1'),
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n',
  );
  const full = buildAcceptResponse(KEY, {
    protocol: null,
    extensions: 'permessage-deflate; server_no_context_takeover',
    headers: [['X-Server', 'nopoll']],
  }).toString('latin1');
  assert.match(
    full,
    /\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\nX-Server: nopoll\r\n\r\n$/,
  );
  assert.doesNotMatch(full, /Sec-WebSocket-Protocol/);
  assert.doesNotMatch(buildAcceptResponse(KEY, { extensions: '' }).toString(), /Extensions/);
});

test('buildAcceptResponse throws TypeError on caller mistakes', () => {
  assert.throws(() => buildAcceptResponse('!!!!'), TypeError);
  assert.throws(() => buildAcceptResponse(KEY, { protocol: 'a b' }), TypeError);
  assert.throws(() => buildAcceptResponse(KEY, { protocol: 'a,b' }), TypeError);
  assert.throws(() => buildAcceptResponse(KEY, { extensions: 'x\r\nEvil: 1' }), TypeError);
  assert.throws(() => buildAcceptResponse(KEY, { extensions: 'x;' }), TypeError);
  assert.throws(() => buildAcceptResponse(KEY, { headers: { 'X-A': 'a\r\nb' } }), TypeError);
  assert.throws(() => buildAcceptResponse(KEY, { headers: { 'X-A': 'a\nb' } }), TypeError);
  assert.throws(() => buildAcceptResponse(KEY, { headers: { 'Bad Name': 'a' } }), TypeError);
  assert.throws(() => buildAcceptResponse(KEY, { headers: { 'Sec-WebSocket-Accept': 'x' } }), TypeError);
});

test('buildRejectResponse writes a complete small HTTP answer', () => {
  const reasons: Record<number, string> = {
    400: 'Bad Request',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    408: 'Request Timeout',
    426: 'Upgrade Required',
    431: 'Request Header Fields Too Large',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
    418: 'Client Error',
    599: 'Server Error',
  };
  for (const [status, reason] of Object.entries(reasons)) {
    const bytes = buildRejectResponse(Number(status), 'nope');
    const { head, rest } = parseResponse(bytes);
    assert.equal(head.status, Number(status));
    assert.equal(head.reason, reason);
    assert.equal(head.headers.get('connection'), 'close');
    assert.equal(head.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(rest.toString('utf8'), 'nope\n');
    assert.equal(Number(head.headers.get('content-length')), rest.length);
  }
});

test('buildRejectResponse counts UTF-8 bytes and adds extra headers', () => {
  const { head, rest } = parseResponse(
    buildRejectResponse(426, 'version ∞ unsupported', [['Sec-WebSocket-Version', '13']]),
  );
  assert.equal(head.headers.get('sec-websocket-version'), '13');
  assert.equal(rest.toString('utf8'), 'version ∞ unsupported\n');
  assert.equal(Number(head.headers.get('content-length')), Buffer.byteLength('version ∞ unsupported\n'));
  assert.throws(() => buildRejectResponse(101, 'x'), TypeError);
  assert.throws(() => buildRejectResponse(600, 'x'), TypeError);
  assert.throws(() => buildRejectResponse(400, 'x', [['X-A', 'a\r\nb']]), TypeError);
  assert.throws(() => buildRejectResponse(400, 'x', [['Content-Length', '0']]), TypeError);
});

test('a rejection from checkClientRequest can be written as is', () => {
  const r = checkClientRequest(request('GET / HTTP/1.1', { 'Sec-WebSocket-Version': '8' }));
  assert.ok(!r.ok);
  const { head } = parseResponse(buildRejectResponse(r.status, r.message, r.headers));
  assert.equal(head.status, 426);
  assert.equal(head.headers.get('sec-websocket-version'), '13');
});
