import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { generateKey } from '../../src/protocol/handshake/accept-key.js';
import { buildClientRequest, checkServerResponse } from '../../src/protocol/handshake/client-handshake.js';
import {
  formatExtensions,
  parseExtensions,
  type ExtensionOffer,
} from '../../src/protocol/handshake/extension-header.js';
import {
  HttpHeadParser,
  type HeadParseResult,
  type RequestHead,
  type ResponseHead,
} from '../../src/protocol/handshake/http-head-parser.js';
import {
  buildAcceptResponse,
  checkClientRequest,
  selectProtocol,
} from '../../src/protocol/handshake/server-handshake.js';

const LIMITS = { maxHeadBytes: 16 * 1024, maxHeaderCount: 100 };

function parseOnce(kind: 'request' | 'response', bytes: Buffer, limits = LIMITS): HeadParseResult {
  return new HttpHeadParser(kind, limits).push(bytes);
}

/** Feeds `bytes` cut at `cuts`; returns the result and the bytes after the head, wherever they were. */
function parseCut(
  kind: 'request' | 'response',
  bytes: Buffer,
  cuts: number[],
  limits = LIMITS,
): { result: unknown; after: number[] | null } {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const p = new HttpHeadParser(kind, limits);
  let prev = 0;
  let r: HeadParseResult = { kind: 'incomplete' };
  let after: number[] | null = null;
  for (const end of [...points, bytes.length]) {
    const chunk = bytes.subarray(prev, end);
    prev = end;
    if (after !== null) {
      after.push(...chunk);
      continue;
    }
    r = p.push(chunk);
    if (r.kind === 'complete') after = [...r.rest];
    else if (r.kind === 'error') break;
  }
  return { result: summarize(r), after };
}

function summarize(r: HeadParseResult): unknown {
  if (r.kind !== 'complete') return r;
  const { headers, ...start } = r.head;
  return { kind: 'complete', start, headers: headers.entries().map((e) => [...e]) };
}

test('round trip: buildClientRequest → parser → checkClientRequest → buildAcceptResponse → parser → checkServerResponse', () => {
  const key = generateKey();
  const request = buildClientRequest({
    host: 'localhost:1234',
    path: '/echo?x=1',
    key,
    origin: 'http://localhost',
    protocols: ['chat', 'superchat'],
    cookie: 'session=abc',
    extensions: 'permessage-deflate; client_max_window_bits',
    extraHeaders: [['X-Client', 'nopoll']],
  });
  const frame = Buffer.from([0x81, 0x80, 1, 2, 3, 4]);
  const parsedRequest = parseOnce('request', Buffer.concat([request, frame]));
  assert.equal(parsedRequest.kind, 'complete');
  assert.deepEqual([...(parsedRequest as { rest: Buffer }).rest], [...frame]);
  const checked = checkClientRequest((parsedRequest as { head: RequestHead }).head);
  assert.ok(checked.ok);
  const info = checked.request;
  assert.equal(info.path, '/echo?x=1');
  assert.equal(info.host, 'localhost:1234');
  assert.equal(info.origin, 'http://localhost');
  assert.equal(info.key, key);
  assert.equal(info.cookie, 'session=abc');
  assert.deepEqual(info.protocols, ['chat', 'superchat']);
  assert.deepEqual(info.extensions, [{ name: 'permessage-deflate', params: { client_max_window_bits: true } }]);
  assert.equal(info.headers.get('x-client'), 'nopoll');

  const protocol = selectProtocol(info.protocols, ['superchat', 'chat']);
  assert.equal(protocol, 'chat');
  const answer = buildAcceptResponse(info.key, {
    protocol,
    extensions: 'permessage-deflate; client_max_window_bits=15',
  });
  const parsedAnswer = parseOnce('response', answer);
  assert.equal(parsedAnswer.kind, 'complete');
  const done = checkServerResponse((parsedAnswer as { head: ResponseHead }).head, key, {
    protocols: ['chat', 'superchat'],
    extensionsOffered: ['permessage-deflate'],
  });
  assert.ok(done.ok);
  assert.equal(done.result.protocol, 'chat');
  assert.deepEqual(done.result.extensions, [{ name: 'permessage-deflate', params: { client_max_window_bits: '15' } }]);
});

test('round trip without optional parts', () => {
  const key = generateKey();
  const parsed = parseOnce('request', buildClientRequest({ host: 'h', path: '/', key }));
  const checked = checkClientRequest((parsed as { head: RequestHead }).head, { requireOrigin: false });
  assert.ok(checked.ok);
  const answer = parseOnce('response', buildAcceptResponse(checked.request.key!));
  const done = checkServerResponse((answer as { head: ResponseHead }).head, key, {});
  assert.ok(done.ok);
  assert.equal(done.result.protocol, null);
});

const tokenArb = fc.string({ unit: fc.constantFrom(...'abcXYZ09-_.!~'), minLength: 1, maxLength: 8 });
const valueArb = fc.string({ unit: fc.constantFrom(...'ab Z9:;,=/"\t\u00e9'), maxLength: 20 });

test('property: random chunkings never change the parse, and the bytes after the head are kept', () => {
  const heads = fc
    .record({
      path: fc.stringMatching(/^\/[a-z0-9?=&/]{0,20}$/),
      protocols: fc.uniqueArray(tokenArb, { maxLength: 3 }),
      extra: fc.array(fc.tuple(tokenArb, valueArb), { maxLength: 6 }),
      tail: fc.uint8Array({ maxLength: 40 }),
      lf: fc.boolean(),
    })
    .map(({ path, protocols, extra, tail, lf }) => {
      let text = buildClientRequest({
        host: 'h',
        path,
        key: generateKey(),
        protocols,
        extraHeaders: extra.map(([n, v]) => [`X-${n}`, v] as const),
      }).toString('latin1');
      if (lf) text = text.replaceAll('\r\n', '\n');
      return { bytes: Buffer.concat([Buffer.from(text, 'latin1'), tail]), tail };
    });
  fc.assert(
    fc.property(heads, fc.array(fc.nat(), { maxLength: 12 }), ({ bytes, tail }, cuts) => {
      const whole = parseCut('request', bytes, []);
      assert.equal((whole.result as { kind: string }).kind, 'complete');
      assert.deepEqual(whole.after, [...tail]);
      assert.deepEqual(parseCut('request', bytes, cuts), whole);
    }),
    { numRuns: 300 },
  );
});

test('property: the same holds for responses', () => {
  fc.assert(
    fc.property(
      fc.option(tokenArb, { nil: null }),
      fc.uint8Array({ maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (protocol, tail, cuts) => {
        const bytes = Buffer.concat([buildAcceptResponse(generateKey(), { protocol }), tail]);
        const whole = parseCut('response', bytes, []);
        assert.deepEqual(whole.after, [...tail]);
        assert.deepEqual(parseCut('response', bytes, cuts), whole);
      },
    ),
    { numRuns: 200 },
  );
});

test('property: random bytes never make the parser throw, and chunking never changes the verdict', () => {
  const alphabet = fc.constantFrom(
    ...[0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x47, 0x45, 0x54, 0x2f, 0x48, 0x54, 0x50, 0x31, 0x2e, 0x41, 0xff],
  );
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.array(alphabet, { maxLength: 300 }).map((a) => Uint8Array.from(a)),
    fc.array(alphabet, { maxLength: 200 }).map((a) => Uint8Array.from([...Buffer.from('GET / HTTP/1.1\r\n'), ...a])),
  );
  const limitsArb = fc.record({
    maxHeadBytes: fc.integer({ min: 1, max: 400 }),
    maxHeaderCount: fc.integer({ min: 0, max: 8 }),
  });
  fc.assert(
    fc.property(
      bytesArb,
      fc.array(fc.nat(), { maxLength: 10 }),
      limitsArb,
      fc.constantFrom('request', 'response') as fc.Arbitrary<'request' | 'response'>,
      (raw, cuts, limits, kind) => {
        const bytes = Buffer.from(raw);
        const whole = parseCut(kind, bytes, [], limits);
        const cut = parseCut(kind, bytes, cuts, limits);
        const status = (whole.result as { status?: number }).status;
        if ((whole.result as { kind: string }).kind === 'error') {
          assert.ok(kind === 'request' ? status === 400 || status === 431 : status === 0);
        }
        assert.deepEqual(cut, whole);
      },
    ),
    { numRuns: 1000 },
  );
});

test('property: checkClientRequest and checkServerResponse never throw on parsed heads', () => {
  const lineArb = fc.tuple(
    fc.constantFrom(
      'Host',
      'Upgrade',
      'Connection',
      'Sec-WebSocket-Key',
      'Sec-WebSocket-Version',
      'Sec-WebSocket-Protocol',
      'Sec-WebSocket-Extensions',
      'Sec-WebSocket-Accept',
      'Origin',
      'Cookie',
    ),
    valueArb,
  );
  fc.assert(
    fc.property(
      fc.array(lineArb, { maxLength: 10 }),
      fc.constantFrom('GET / HTTP/1.1', 'GET http://h/x HTTP/1.1', 'POST / HTTP/1.0', 'GET * HTTP/1.1'),
      (lines, start) => {
        const text = `${start}\r\n${lines.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
        const req = parseOnce('request', Buffer.from(text, 'latin1'));
        if (req.kind === 'complete') checkClientRequest(req.head as RequestHead);
        const res = parseOnce(
          'response',
          Buffer.from(`HTTP/1.1 101 x\r\n${lines.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1'),
        );
        if (res.kind === 'complete')
          checkServerResponse(res.head as ResponseHead, 'dGhlIHNhbXBsZSBub25jZQ==', {
            protocols: ['a'],
            extensionsOffered: ['b'],
          });
      },
    ),
    { numRuns: 500 },
  );
});

test('property: parseExtensions never throws; formatted offers parse back', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => void parseExtensions(s)),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'a;=,"\\ \t1'), maxLength: 40 }), (s) => void parseExtensions(s)),
    { numRuns: 1000 },
  );
  const offerArb: fc.Arbitrary<ExtensionOffer> = fc.record({
    name: tokenArb,
    params: fc.dictionary(tokenArb, fc.oneof(fc.constant(true as const), tokenArb), { maxKeys: 4 }),
  });
  fc.assert(
    fc.property(fc.array(offerArb, { maxLength: 4 }), (list) => {
      const normalized = list.map((o) => ({ name: o.name, params: { ...o.params } }));
      assert.deepEqual(parseExtensions(formatExtensions(normalized)), normalized);
    }),
    { numRuns: 300 },
  );
});
