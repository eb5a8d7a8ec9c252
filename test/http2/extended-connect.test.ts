/**
 * The pure RFC 8441 handshake code, fed header lists: the server's checks of an extended CONNECT (each refusal
 * with its status, and the same WebSocket-field checks as over HTTP/1.1), the client's request fields and its
 * check of the answer, the answer and refusal fields, the stream classification and the connection preface.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HandshakeError } from '../../src/errors.js';
import { classifyPreface, H2_PREFACE } from '../../src/protocol/h2-preface.js';
import {
  buildExtendedConnect,
  buildExtendedConnectAnswer,
  buildExtendedConnectRefusal,
  checkExtendedConnect,
  checkExtendedConnectResponse,
  streamKind,
} from '../../src/protocol/handshake/extended-connect.js';
import { HeaderList } from '../../src/protocol/handshake/headers.js';

// What Chromium 156 sent (order and fields as seen on the wire in h2-browser.test.ts), minus the noise.
const GOOD: Array<[string, string]> = [
  [':method', 'CONNECT'],
  [':authority', '127.0.0.1:8443'],
  [':scheme', 'https'],
  [':path', '/chat?room=1'],
  [':protocol', 'websocket'],
  ['origin', 'https://127.0.0.1:8443'],
  ['sec-websocket-version', '13'],
  ['sec-websocket-extensions', 'permessage-deflate; client_max_window_bits'],
];

function request(change: Record<string, string | string[] | null> = {}): HeaderList {
  const out = new HeaderList();
  const seen = new Set<string>();
  for (const [name, value] of GOOD) {
    if (name in change) {
      if (seen.has(name)) continue;
      seen.add(name);
      const v = change[name];
      if (v === null || v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) out.append(name, one);
    } else {
      out.append(name, value);
    }
  }
  for (const [name, v] of Object.entries(change)) {
    if (seen.has(name) || v === null) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.append(name, one);
  }
  return out;
}

function refusal(h: HeaderList, policy = {}): { status: number; message: string; headers: Array<[string, string]> } {
  const checked = checkExtendedConnect(h, policy);
  assert.equal(checked.ok, false, 'the request must be refused');
  return checked as { ok: false; status: number; message: string; headers: Array<[string, string]> };
}

describe('checkExtendedConnect (server, RFC 8441 §4, §5)', () => {
  it('accepts what a browser sends and reports it like an HTTP/1.1 request, with no key', () => {
    const checked = checkExtendedConnect(request());
    assert.ok(checked.ok);
    assert.equal(checked.request.path, '/chat?room=1');
    assert.equal(checked.request.host, '127.0.0.1:8443');
    assert.equal(checked.request.origin, 'https://127.0.0.1:8443');
    assert.equal(checked.request.key, null);
    assert.equal(checked.request.version, 13);
    assert.deepEqual(
      checked.request.extensions.map((e) => e.name),
      ['permessage-deflate'],
    );
  });

  it('needs no Sec-WebSocket-Key and ignores one (RFC 8441 §5)', () => {
    assert.ok(checkExtendedConnect(request({ 'sec-websocket-key': 'not even base64' })).ok);
  });

  it('compares :protocol like the Upgrade token, case-insensitively', () => {
    assert.ok(checkExtendedConnect(request({ ':protocol': 'WebSocket' })).ok);
  });

  it('refuses another method with 405, another protocol with 501 (RFC 9220 §3), a classic CONNECT with 400', () => {
    assert.equal(refusal(request({ ':method': 'GET' })).status, 405);
    assert.equal(refusal(request({ ':protocol': 'webtransport' })).status, 501);
    assert.equal(refusal(request({ ':protocol': null })).status, 400);
    assert.equal(refusal(request({ ':protocol': ['websocket', 'websocket'] })).status, 400);
  });

  it('requires :scheme http or https and one :path in origin form without a fragment', () => {
    const changes: Array<Record<string, string | string[] | null>> = [
      { ':scheme': null },
      { ':scheme': 'ws' },
      { ':scheme': ['https', 'https'] },
      { ':path': null },
      { ':path': '*' },
      { ':path': 'chat' },
      { ':path': '/a#b' },
      { ':path': ['/a', '/b'] },
    ];
    for (const change of changes) {
      assert.equal(refusal(request(change)).status, 400, JSON.stringify(change));
    }
    assert.ok(checkExtendedConnect(request({ ':scheme': 'http' })).ok);
  });

  it('takes Host when :authority is absent, and refuses two or an empty one', () => {
    const viaHost = checkExtendedConnect(request({ ':authority': null, host: 'example.com' }));
    assert.ok(viaHost.ok);
    assert.equal(viaHost.request.host, 'example.com');
    const none = checkExtendedConnect(request({ ':authority': null }));
    assert.ok(none.ok);
    assert.equal(none.request.host, null);
    assert.equal(refusal(request({ ':authority': ['a', 'b'] })).status, 400);
    assert.equal(refusal(request({ ':authority': '' })).status, 400);
    assert.equal(refusal(request({ ':authority': null, host: ['a', 'b'] })).status, 400);
  });

  it('refuses connection-specific fields (RFC 9113 §8.2.2) and a body', () => {
    for (const name of ['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding']) {
      assert.equal(refusal(request({ [name]: 'x' })).status, 400, name);
    }
    assert.equal(refusal(request({ 'content-length': '5' })).status, 400);
    assert.ok(checkExtendedConnect(request({ 'content-length': '0' })).ok);
  });

  it('checks the WebSocket fields exactly as over HTTP/1.1: version, Origin, subprotocols, extensions', () => {
    const old = refusal(request({ 'sec-websocket-version': '8' }));
    assert.equal(old.status, 426);
    assert.deepEqual(old.headers, [['Sec-WebSocket-Version', '13']]);
    assert.equal(refusal(request({ 'sec-websocket-version': null })).status, 400);
    assert.equal(refusal(request({ origin: null }), { requireOrigin: true }).status, 403);
    assert.equal(refusal(request({ 'sec-websocket-protocol': 'a b' })).status, 400);
    assert.equal(refusal(request({ 'sec-websocket-extensions': 'permessage-deflate;;' })).status, 400);
    const protocols = checkExtendedConnect(request({ 'sec-websocket-protocol': ['chat, superchat', 'chat'] }));
    assert.ok(protocols.ok);
    assert.deepEqual(protocols.request.protocols, ['chat', 'superchat']);
    // HTTP/2 may split Cookie into crumbs (RFC 9113 §8.2.3): they are joined back.
    const cookies = checkExtendedConnect(request({ cookie: ['a=1', 'b=2'] }));
    assert.ok(cookies.ok);
    assert.equal(cookies.request.cookie, 'a=1; b=2');
  });

  it('throws TypeError for an impossible policy only', () => {
    assert.throws(() => checkExtendedConnect(request(), { version: 300 }), TypeError);
  });
});

describe('streamKind', () => {
  it('tells WebSockets, other protocols, classic CONNECT and requests apart', () => {
    assert.equal(streamKind(request()), 'websocket');
    assert.equal(streamKind(request({ ':protocol': 'connect-udp' })), 'other-protocol');
    assert.equal(streamKind(request({ ':protocol': null })), 'connect');
    assert.equal(streamKind(request({ ':method': 'GET', ':protocol': null })), 'request');
    assert.equal(streamKind(request({ ':method': 'POST' })), 'request');
  });
});

describe('the client side', () => {
  it('builds the extended CONNECT with pseudo-header fields first and names in lower case', () => {
    const fields = buildExtendedConnect({
      scheme: 'https',
      host: 'example.com:8443',
      path: '/chat',
      origin: 'https://example.com',
      protocols: ['chat', 'superchat'],
      cookie: 'a=1',
      extensions: 'permessage-deflate; client_max_window_bits',
      extraHeaders: { 'X-Trace': '42' },
    });
    assert.deepEqual(fields, [
      [':method', 'CONNECT'],
      [':protocol', 'websocket'],
      [':scheme', 'https'],
      [':path', '/chat'],
      [':authority', 'example.com:8443'],
      ['sec-websocket-version', '13'],
      ['origin', 'https://example.com'],
      ['cookie', 'a=1'],
      ['sec-websocket-protocol', 'chat, superchat'],
      ['sec-websocket-extensions', 'permessage-deflate; client_max_window_bits'],
      ['x-trace', '42'],
    ]);
    assert.ok(checkExtendedConnect(new HeaderList(fields)).ok, 'our own request passes our own checks');
  });

  it('refuses what HTTP/2 cannot carry or the builder writes itself', () => {
    const base = { scheme: 'https' as const, host: 'h', path: '/' };
    for (const name of [
      'Connection',
      'Upgrade',
      'Keep-Alive',
      'Transfer-Encoding',
      'TE',
      'Sec-WebSocket-Key',
      'Host',
      'Sec-WebSocket-Version',
    ]) {
      assert.throws(() => buildExtendedConnect({ ...base, extraHeaders: { [name]: 'x' } }), TypeError, name);
    }
    assert.throws(() => buildExtendedConnect({ ...base, path: 'x' }), TypeError);
    assert.throws(() => buildExtendedConnect({ ...base, protocols: ['a', 'a'] }), TypeError);
    assert.throws(() => buildExtendedConnect({ ...base, extraHeaders: { 'x-a': 'b\r\nc: d' } }), TypeError);
  });

  it('opens on any 2xx and checks the agreement as over HTTP/1.1; a Sec-WebSocket-Accept is ignored', () => {
    const ok = checkExtendedConnectResponse(
      200,
      new HeaderList([
        ['sec-websocket-protocol', 'chat'],
        ['sec-websocket-accept', 'nonsense'],
      ]),
      { protocols: ['chat'] },
    );
    assert.ok(ok.ok);
    assert.equal(ok.result.protocol, 'chat');
    for (const status of [101, 301, 400, 404, 501]) {
      const failed = checkExtendedConnectResponse(status, new HeaderList(), {});
      assert.ok(!failed.ok);
      assert.ok(failed.error instanceof HandshakeError);
      assert.equal(failed.error.status, status);
    }
    const notOffered = checkExtendedConnectResponse(200, new HeaderList([['sec-websocket-protocol', 'other']]), {
      protocols: ['chat'],
    });
    assert.ok(!notOffered.ok);
    const ext = checkExtendedConnectResponse(200, new HeaderList([['sec-websocket-extensions', 'x-unknown']]), {
      extensionsOffered: ['permessage-deflate'],
    });
    assert.ok(!ext.ok);
  });
});

describe('the server answer', () => {
  it('answers 200 with the agreement, lower-case names', () => {
    assert.deepEqual(buildExtendedConnectAnswer({ protocol: 'chat', extensions: 'permessage-deflate' }), [
      [':status', '200'],
      ['sec-websocket-protocol', 'chat'],
      ['sec-websocket-extensions', 'permessage-deflate'],
    ]);
    assert.deepEqual(buildExtendedConnectAnswer(), [[':status', '200']]);
    assert.throws(() => buildExtendedConnectAnswer({ protocol: 'a b' }), TypeError);
    assert.throws(() => buildExtendedConnectAnswer({ extensions: ';;' }), TypeError);
  });

  it('refuses with a 3xx-5xx status only', () => {
    assert.deepEqual(buildExtendedConnectRefusal(426, [['Sec-WebSocket-Version', '13']]), [
      [':status', '426'],
      ['content-type', 'text/plain; charset=utf-8'],
      ['sec-websocket-version', '13'],
    ]);
    assert.throws(() => buildExtendedConnectRefusal(200), TypeError);
    assert.throws(() => buildExtendedConnectRefusal(404, [['Connection', 'close']]), TypeError);
  });
});

describe('classifyPreface (RFC 9113 §3.4)', () => {
  it('tells the HTTP/2 preface from HTTP/1.1 as early as a byte differs', () => {
    assert.equal(classifyPreface(H2_PREFACE), 'h2');
    assert.equal(classifyPreface(Buffer.concat([Buffer.from(H2_PREFACE), Buffer.from([0, 0, 0, 4])])), 'h2');
    assert.equal(classifyPreface(Buffer.from('PRI * HTTP/2.0\r\n')), 'more');
    assert.equal(classifyPreface(Buffer.alloc(0)), 'more');
    assert.equal(classifyPreface(Buffer.from('GET / HTTP/1.1\r\n')), 'other');
    assert.equal(classifyPreface(Buffer.from('PRX')), 'other');
    assert.equal(classifyPreface(Buffer.from('PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n')), 'other');
  });
});
