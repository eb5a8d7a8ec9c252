import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  HttpHeadParser,
  type HeadParseResult,
  type RequestHead,
  type ResponseHead,
} from '../../src/protocol/handshake/http-head-parser.js';

const LIMITS = { maxHeadBytes: 16 * 1024, maxHeaderCount: 100 };

const REQUEST =
  'GET /chat?x=1 HTTP/1.1\r\n' +
  'Host: server.example.com\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Origin: http://example.com\r\n' +
  'Sec-WebSocket-Protocol: chat, superchat\r\n' +
  'Sec-WebSocket-Version: 13\r\n' +
  '\r\n';

const RESPONSE =
  'HTTP/1.1 101 Switching Protocols\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
  'Sec-WebSocket-Protocol: chat\r\n' +
  '\r\n';

/** A masked text frame "Hello" (RFC 6455 §5.7), as a client would pipeline it right after its request. */
const FRAME = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);

/** A comparable snapshot of a result (HeaderList keeps its state in private fields). */
function snap(r: HeadParseResult): unknown {
  if (r.kind !== 'complete') return r;
  const { headers, ...start } = r.head;
  return { kind: r.kind, start, headers: headers.entries().map((e) => [...e]), rest: [...r.rest] };
}

function parseChunks(kind: 'request' | 'response', chunks: Buffer[], limits = LIMITS): HeadParseResult {
  const p = new HttpHeadParser(kind, limits);
  let last: HeadParseResult = { kind: 'incomplete' };
  for (const c of chunks) {
    last = p.push(c);
    if (last.kind !== 'incomplete') break;
  }
  return last;
}

function parseText(kind: 'request' | 'response', text: string, limits = LIMITS): HeadParseResult {
  return parseChunks(kind, [Buffer.from(text, 'latin1')], limits);
}

function errorOf(r: HeadParseResult): { status: number; message: string } {
  assert.equal(r.kind, 'error', `expected an error, got ${JSON.stringify(snap(r))}`);
  return r as { status: number; message: string };
}

test('parses a complete request head', () => {
  const r = parseText('request', REQUEST);
  assert.equal(r.kind, 'complete');
  const head = (r as { head: RequestHead }).head;
  assert.equal(head.method, 'GET');
  assert.equal(head.target, '/chat?x=1');
  assert.equal(head.version, 'HTTP/1.1');
  assert.equal(head.headers.get('host'), 'server.example.com');
  assert.equal(head.headers.get('sec-websocket-key'), 'dGhlIHNhbXBsZSBub25jZQ==');
  assert.equal(head.headers.size, 7);
  assert.equal((r as { rest: Buffer }).rest.length, 0);
});

test('parses a complete response head', () => {
  const r = parseText('response', RESPONSE);
  assert.equal(r.kind, 'complete');
  const head = (r as { head: ResponseHead }).head;
  assert.equal(head.version, 'HTTP/1.1');
  assert.equal(head.status, 101);
  assert.equal(head.reason, 'Switching Protocols');
  assert.equal(head.headers.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('a request split at every byte boundary parses the same, pipelined frame kept', () => {
  const whole = Buffer.concat([Buffer.from(REQUEST, 'latin1'), FRAME]);
  const headLen = Buffer.byteLength(REQUEST, 'latin1');
  const expected = snap(parseChunks('request', [whole])) as { rest: number[] };
  assert.deepEqual(expected.rest, [...FRAME]);
  for (let i = 0; i <= whole.length; i++) {
    const restOf2 = [...whole.subarray(headLen, i >= headLen ? i : whole.length)];
    assert.deepEqual(
      snap(parseChunks('request', [whole.subarray(0, i), whole.subarray(i)])),
      { ...expected, rest: restOf2 },
      `split at ${i}`,
    );
    for (let j = i; j <= whole.length; j += 5) {
      const got = snap(parseChunks('request', [whole.subarray(0, i), whole.subarray(i, j), whole.subarray(j)]));
      // rest = bytes after the head up to the end of the chunk that completed it.
      const completingEnd = i >= headLen ? i : j >= headLen ? j : whole.length;
      assert.deepEqual(got, { ...expected, rest: [...whole.subarray(headLen, completingEnd)] }, `split at ${i}, ${j}`);
    }
  }
});

test('a response split at every byte boundary parses the same, trailing frame kept', () => {
  const serverFrame = Buffer.from([0x81, 0x02, 0x68, 0x69]);
  const whole = Buffer.concat([Buffer.from(RESPONSE, 'latin1'), serverFrame]);
  const expected = snap(parseChunks('response', [whole]));
  assert.deepEqual((expected as { rest: number[] }).rest, [...serverFrame]);
  const headLen = Buffer.byteLength(RESPONSE, 'latin1');
  for (let i = 0; i <= whole.length; i++) {
    const rest = [...whole.subarray(headLen, i >= headLen ? i : whole.length)];
    assert.deepEqual(
      snap(parseChunks('response', [whole.subarray(0, i), whole.subarray(i)])),
      { ...(expected as object), rest },
      `split at ${i}`,
    );
  }
});

test('one byte at a time gives the same head; rest is what follows in the last chunk', () => {
  const bytes = Buffer.from(REQUEST, 'latin1');
  const p = new HttpHeadParser('request', LIMITS);
  for (let i = 0; i < bytes.length - 1; i++) assert.equal(p.push(bytes.subarray(i, i + 1)).kind, 'incomplete');
  const last = p.push(Buffer.concat([bytes.subarray(bytes.length - 1), FRAME]));
  assert.deepEqual(snap(last), snap(parseChunks('request', [Buffer.concat([bytes, FRAME])])));
});

test('rest is a view into the last chunk, not a copy', () => {
  const whole = Buffer.concat([Buffer.from(REQUEST, 'latin1'), FRAME]);
  const p = new HttpHeadParser('request', LIMITS);
  p.push(whole.subarray(0, 10));
  const r = p.push(whole.subarray(10));
  assert.equal(r.kind, 'complete');
  const rest = (r as { rest: Buffer }).rest;
  assert.equal(rest.buffer, whole.buffer);
  assert.equal(rest.byteOffset, whole.byteOffset + Buffer.byteLength(REQUEST));
});

test('after completion, pushes return the same head with the whole chunk as rest', () => {
  const p = new HttpHeadParser('request', LIMITS);
  const first = p.push(Buffer.from(REQUEST));
  const again = p.push(FRAME);
  assert.equal(again.kind, 'complete');
  assert.equal((again as { head: RequestHead }).head, (first as { head: RequestHead }).head);
  assert.deepEqual([...(again as { rest: Buffer }).rest], [...FRAME]);
});

test('after an error, pushes return the same error', () => {
  const p = new HttpHeadParser('request', LIMITS);
  const first = p.push(Buffer.from('GET / HTTP/1.1\r\n bad\r\n'));
  assert.equal(first.kind, 'error');
  assert.equal(p.push(Buffer.from('Host: x\r\n\r\n')), first);
});

test('bare LF line ends are accepted', () => {
  const r = parseText('request', 'GET / HTTP/1.1\nHost: a\nX: 1\r\n\n');
  assert.equal(r.kind, 'complete');
  assert.equal((r as { head: RequestHead }).head.headers.get('x'), '1');
});

test('values are trimmed of OWS, inner spaces and obs-text kept', () => {
  const r = parseText('request', 'GET / HTTP/1.1\r\nX-A: \t a  b \t\r\nX-B:\r\nX-C:caf\xe9\r\n\r\n');
  const h = (r as { head: RequestHead }).head.headers;
  assert.equal(h.get('x-a'), 'a  b');
  assert.equal(h.get('x-b'), '');
  assert.equal(h.get('x-c'), 'caf\xe9');
});

test('repeated headers are kept in order', () => {
  const r = parseText('request', 'GET / HTTP/1.1\r\nA: 1\r\nB: x\r\na: 2\r\n\r\n');
  const h = (r as { head: RequestHead }).head.headers;
  assert.deepEqual(h.getAll('a'), ['1', '2']);
  assert.equal(h.get('A'), '1, 2');
});

test('a head of exactly maxHeadBytes passes; one byte more is 431', () => {
  const head = REQUEST;
  const size = Buffer.byteLength(head);
  assert.equal(parseText('request', head, { maxHeadBytes: size, maxHeaderCount: 100 }).kind, 'complete');
  const withFrame = parseChunks('request', [Buffer.concat([Buffer.from(head), FRAME])], {
    maxHeadBytes: size,
    maxHeaderCount: 100,
  });
  assert.deepEqual([...(withFrame as { rest: Buffer }).rest], [...FRAME]);
  assert.equal(errorOf(parseText('request', head, { maxHeadBytes: size - 1, maxHeaderCount: 100 })).status, 431);
  const bytes = Buffer.from(head);
  const oneByOne = [...bytes].map((b) => Buffer.from([b]));
  assert.equal(errorOf(parseChunks('request', oneByOne, { maxHeadBytes: size - 1, maxHeaderCount: 100 })).status, 431);
  assert.equal(parseChunks('request', oneByOne, { maxHeadBytes: size, maxHeaderCount: 100 }).kind, 'complete');
});

test('an endless head is refused with 431 without buffering past the cap', () => {
  const p = new HttpHeadParser('request', { maxHeadBytes: 1024, maxHeaderCount: 100 });
  assert.equal(p.push(Buffer.from('GET / HTTP/1.1\r\nX: ')).kind, 'incomplete');
  const r = p.push(Buffer.alloc(10 * 1024 * 1024, 0x61));
  assert.equal(errorOf(r).status, 431);
});

test('too many header lines is 431 for a request, 0 for a response', () => {
  const lines = (n: number): string => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('');
  const limits = { maxHeadBytes: 1 << 20, maxHeaderCount: 5 };
  assert.equal(parseText('request', `GET / HTTP/1.1\r\n${lines(5)}\r\n`, limits).kind, 'complete');
  assert.equal(errorOf(parseText('request', `GET / HTTP/1.1\r\n${lines(6)}\r\n`, limits)).status, 431);
  assert.equal(errorOf(parseText('response', `HTTP/1.1 101 OK\r\n${lines(6)}\r\n`, limits)).status, 0);
  assert.equal(errorOf(parseText('response', RESPONSE, { maxHeadBytes: 10, maxHeaderCount: 100 })).status, 0);
});

test('malformed request heads are 400', () => {
  const cases: Record<string, string> = {
    'obs-fold': 'GET / HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n',
    'obs-fold with tab': 'GET / HTTP/1.1\r\nX-A: 1\r\n\tcontinued\r\n\r\n',
    'space before colon': 'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
    'tab before colon': 'GET / HTTP/1.1\r\nHost\t: a\r\n\r\n',
    'empty name': 'GET / HTTP/1.1\r\n: a\r\n\r\n',
    'no colon': 'GET / HTTP/1.1\r\nHost a\r\n\r\n',
    'non-token name': 'GET / HTTP/1.1\r\nHo(st: a\r\n\r\n',
    'NUL in value': 'GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n',
    'NUL in name': 'GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n',
    'bare CR in value': 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n',
    'bare CR at line end': 'GET / HTTP/1.1\r\nHost: a\r\r\n\r\n',
    'bare CR in request line': 'GET /\r HTTP/1.1\r\n\r\n',
    'control char in value': 'GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n',
    'DEL in value': 'GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n',
    'empty first line': '\r\nGET / HTTP/1.1\r\n\r\n',
    'missing version': 'GET /\r\n\r\n',
    'extra field': 'GET / HTTP/1.1 x\r\n\r\n',
    'double space': 'GET  / HTTP/1.1\r\n\r\n',
    'lower-case version': 'GET / http/1.1\r\n\r\n',
    'short version': 'GET / HTTP/1\r\n\r\n',
    'non-token method': 'G(T / HTTP/1.1\r\n\r\n',
    'control char in target': 'GET /\x01 HTTP/1.1\r\n\r\n',
    'tab separator': 'GET\t/ HTTP/1.1\r\n\r\n',
  };
  for (const [name, text] of Object.entries(cases)) {
    assert.equal(errorOf(parseText('request', text)).status, 400, name);
    const bytes = Buffer.from(text, 'latin1');
    const split = [...bytes].map((b) => Buffer.from([b]));
    assert.equal(errorOf(parseChunks('request', split)).status, 400, `${name}, one byte at a time`);
  }
});

test('a bad request line is refused at its line end, before any header', () => {
  const p = new HttpHeadParser('request', LIMITS);
  assert.equal(errorOf(p.push(Buffer.from('\x16\x03\x01 junk\r\n'))).status, 400);
});

test('status lines: reason optional, malformed ones refused with status 0', () => {
  const ok = (line: string): ResponseHead => {
    const r = parseText('response', `${line}\r\n\r\n`);
    assert.equal(r.kind, 'complete', line);
    return (r as { head: ResponseHead }).head;
  };
  assert.deepEqual([ok('HTTP/1.1 101').status, ok('HTTP/1.1 101').reason], [101, '']);
  assert.equal(ok('HTTP/1.1 101 ').reason, '');
  assert.equal(ok('HTTP/1.1 404 Not Found Here').reason, 'Not Found Here');
  assert.equal(ok('HTTP/1.0 302 Found').version, 'HTTP/1.0');
  for (const bad of [
    'HTTP/1.1 1011 x',
    'HTTP/1.1 10 x',
    'HTTP/1.1 abc',
    'HTTP/1.1  101 x',
    'HTTPS/1.1 101 x',
    'HTTP/1.1',
    'HTTP/1.1 101 a\x01b',
  ]) {
    const e = errorOf(parseText('response', `${bad}\r\n\r\n`));
    assert.equal(e.status, 0, bad);
  }
});

test('an empty chunk changes nothing', () => {
  const p = new HttpHeadParser('request', LIMITS);
  assert.equal(p.push(Buffer.alloc(0)).kind, 'incomplete');
  assert.equal(p.push(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'incomplete');
  assert.equal(p.push(Buffer.alloc(0)).kind, 'incomplete');
  assert.equal(p.push(Buffer.from('\r\n')).kind, 'complete');
});

test('invalid limits are a caller mistake', () => {
  assert.throws(() => new HttpHeadParser('request', { maxHeadBytes: 0, maxHeaderCount: 1 }), TypeError);
  assert.throws(() => new HttpHeadParser('request', { maxHeadBytes: 1.5, maxHeaderCount: 1 }), TypeError);
  assert.throws(() => new HttpHeadParser('request', { maxHeadBytes: 10, maxHeaderCount: -1 }), TypeError);
  assert.throws(() => new HttpHeadParser('bogus' as 'request', LIMITS), TypeError);
});

test('parsing stays linear: a 1 MiB header fed one byte at a time', () => {
  const size = 1024 * 1024;
  const text = Buffer.concat([
    Buffer.from('GET / HTTP/1.1\r\nX-Big: '),
    Buffer.alloc(size, 0x61),
    Buffer.from('\r\n\r\n'),
  ]);
  const p = new HttpHeadParser('request', { maxHeadBytes: size + 1024, maxHeaderCount: 10 });
  let r: HeadParseResult = { kind: 'incomplete' };
  for (let i = 0; i < text.length; i++) r = p.push(text.subarray(i, i + 1));
  assert.equal(r.kind, 'complete');
  assert.equal((r as { head: RequestHead }).head.headers.get('x-big')?.length, size);
  // A quadratic parser would copy or rescan ~5e11 bytes here and never finish within the runner's timeout.
});
