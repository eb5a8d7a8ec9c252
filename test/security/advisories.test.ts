/**
 * One test per security advisory of peers.md §4 that applies to nopoll, named after it. Each comment says which code
 * protects; without it the test fails (a hang is caught by the bounded waits and the runner timeout: no clock
 * assertions).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { parseExtensions } from '../../src/protocol/handshake/extension-header.js';
import { splitList } from '../../src/protocol/handshake/headers.js';
import { callWithDeadline } from '../helpers/deadline.js';
import { makeSession, OP as COP } from '../helpers/frames.js';
import { OP, RawServer, encodeFrame, parseClose, rawClient, rawHttp } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
// The compiled tokenizers, for callWithDeadline (this file runs from build/test/security/).
const HEADERS = new URL('../../src/protocol/handshake/headers.js', import.meta.url);
const EXTENSIONS = new URL('../../src/protocol/handshake/extension-header.js', import.meta.url);
function request(extra: string[]): string {
  return (
    [
      'GET / HTTP/1.1',
      'Host: x',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${KEY}`,
      'Sec-WebSocket-Version: 13',
      ...extra,
    ].join('\r\n') + '\r\n\r\n'
  );
}

describe('ws advisories', () => {
  // Protection: headers.ts splitList splits on ',' and trims with a loop (linear); a regex like / *, */ is quadratic.
  it('CVE-2021-32640 (ReDoS in Sec-WebSocket-Protocol): pathological values are answered', async (t) => {
    // Spaces with no comma after them are what made ws's / *, */ quadratic: 1 MiB of them takes milliseconds here,
    // hours there. In a worker, so that a slow tokenizer fails the test at the deadline instead of hanging it.
    const spaces = 'a' + ' '.repeat(1 << 20) + 'b';
    assert.deepEqual(await callWithDeadline(HEADERS, 'splitList', [spaces], 20_000), [spaces]);
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const value = 'a' + ' '.repeat(15_000) + 'b';
    const answer = await rawHttp(srv.port, request([`Sec-WebSocket-Protocol: ${value}`]), 10_000);
    assert.ok(answer.response !== null, 'answered');
    // 1 MiB straight into the tokenizer: quadratic code would not return within the runner's timeout.
    assert.equal(splitList('a' + ' '.repeat(1 << 20) + ',b').length, 2);
  });

  // Protection: extension-header.ts parseExtensions checks own properties (hasOwnProperty) and defines params
  // with defineProperty, so `constructor` / `__proto__` are ordinary names.
  it('NSP-550 (extension names equal to Object.prototype keys crash the server): answered, connection works', async (t) => {
    const srv = await startEchoListener({ perMessageDeflate: true });
    t.after(() => srv.close());
    const { peer, response } = await rawClient(srv.port, {
      extraHeaders: [
        'Sec-WebSocket-Extensions: constructor; __proto__=1, toString, permessage-deflate; hasOwnProperty; constructor=2',
      ],
      protocols: ['constructor', '__proto__'],
    });
    t.after(() => peer.destroy());
    assert.equal(response.status, 101);
    assert.equal(parseExtensions('constructor; __proto__=1')?.[0]?.params['__proto__'], '1');
    peer.send({ opcode: OP.TEXT, payload: Buffer.from('ok') });
    assert.equal((await peer.nextFrame(3000)).payload.toString(), 'ok');
  });

  // Protection: http-head-parser.ts refuses more than maxHeaderCount fields with 431 (line `this.#headers.size >=
  // this.#limits.maxHeaderCount`), and checkClientRequest reads Upgrade from what was parsed, never undefined.
  it('CVE-2024-37890 (more headers than the limit → crash): 431, and the listener still serves', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    // 150 short lines (1.5 KiB) are refused by the count alone; 2000 lines (21 KiB) are over the 16 KiB head limit too.
    const some = Array.from({ length: 150 }, (_, i) => `X-${i}: y`);
    assert.equal((await rawHttp(srv.port, request(some), 10_000)).response?.status, 431);
    const many = Array.from({ length: 2000 }, (_, i) => `X-${i}: y`);
    const answer = await rawHttp(srv.port, request(many), 10_000);
    assert.equal(answer.response?.status, 431);
    const { peer } = await rawClient(srv.port);
    peer.destroy();
  });

  // Protection: frame-parser.ts checks the announced length against maxFrameBytes from the header, before buffering.
  it('CVE-2016-10542 (no payload limit): a frame announcing 2^40 bytes is refused with 1009 from its header', () => {
    const h = makeSession('server', { maxFrameBytes: 1024, maxMessageBytes: 1024 });
    h.feed(h.peer.frame({ opcode: COP.BINARY, announced: 2n ** 40n, payload: Buffer.alloc(0) }));
    const error = h.handler.events.find((e) => e.type === 'error');
    assert.ok(error, 'failed');
    assert.equal(h.session.bufferedBytes, 0, 'nothing buffered');
    assert.equal(h.handler.frames.at(-1)?.opcode, COP.CLOSE);
  });

  // Protection: session.ts #closeFrame → close.ts parseCloseBody returns a ProtocolError instead of throwing.
  it('invalid close frames (1-byte body, code 999/1005/5000, bad UTF-8 reason) fail with 1002/1007, never throw', () => {
    for (const [body, expected] of [
      [Buffer.from([3]), 1002],
      [Buffer.from([0x03, 0xe7]), 1002],
      [Buffer.from([0x03, 0xed]), 1002],
      [Buffer.from([0x13, 0x88]), 1002],
      [Buffer.from([0x03, 0xe8, 0xc3, 0x28]), 1007],
    ] as const) {
      const h = makeSession('server');
      h.feed(h.peer.frame({ opcode: COP.CLOSE, payload: body }));
      const sent = h.handler.frames.at(-1)!;
      assert.equal(sent.opcode, COP.CLOSE);
      assert.equal(sent.payload.readUInt16BE(0), expected);
    }
  });

  // Protection: conn.ts ping()/pong() pass non-string payloads through toBuffer (TypeError for anything that is not
  // a Uint8Array). A non-string close reason fails in close.ts encodeCloseBody too, but through Node: Buffer#write
  // throws TypeError before the frame exists (no nopoll line of its own to remove).
  it('CVE-2016-10518 / CVE-2026-45736 (ping(number), close(code, TypedArray) leaked memory): TypeError, nothing sent', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const { peer } = await rawClient(srv.port);
    t.after(() => peer.destroy());
    const conn = await srv.ready.next(3000, 'conn');
    assert.throws(() => conn.ping(100 as unknown as Uint8Array), TypeError);
    assert.throws(() => conn.pong(new Float32Array(8) as unknown as Uint8Array), TypeError);
    assert.throws(() => conn.close(1000, new Float32Array(8) as unknown as string), TypeError);
    await assert.rejects(peer.nextFrame(200), /timed out/);
  });

  // Protection: session.ts #dataFrame stores non-empty payloads only and the parser counts their bytes against
  // maxMessageBytes (1009); what a fragment pins is its bytes, so counting fragments is not needed.
  it('CVE-2026-48779 (1-byte fragments pin memory far beyond maxPayload): 1009 once the bytes pass the limit', () => {
    const h = makeSession('server', { maxMessageBytes: 1000 });
    const frames = [h.peer.frame({ opcode: COP.BINARY, fin: false, payload: Buffer.alloc(1) })];
    for (let i = 0; i < 5000; i++)
      frames.push(h.peer.frame({ opcode: COP.CONT, fin: false, payload: Buffer.alloc(1) }));
    h.feed(Buffer.concat(frames));
    const close = h.handler.frames.at(-1)!;
    assert.equal(close.opcode, COP.CLOSE);
    assert.equal(close.payload.readUInt16BE(0), 1009);
    assert.equal(h.session.bufferedBytes, 0, 'fragments released');
  });
});

describe('undici advisories', () => {
  // Protection: frame-parser.ts `if (high >= 0x80000000)` (§5.2 top bit of a 64-bit length).
  it('CVE-2026-1528 (64-bit length overflow → fatal TypeError): 1002, no throw', () => {
    for (const role of ['server', 'client'] as const) {
      const h = makeSession(role);
      h.feed(h.peer.frame({ opcode: COP.BINARY, announced: 0x8000000000000001n, payload: Buffer.alloc(0) }));
      assert.equal(h.handler.frames.at(-1)?.payload.readUInt16BE(0), 1002);
    }
  });

  // Protection: transport/deflate.ts inflate stops with MessageTooBigError once the output passes the limit
  // (`if (total > limit)`), so a small compressed frame never becomes a huge buffer.
  it('CVE-2026-1526 (decompression bomb): a 64 MiB bomb against a 64 KiB limit is refused with 1009', async (t) => {
    const srv = await startEchoListener({ perMessageDeflate: true, maxMessageSize: 64 * 1024 });
    t.after(() => srv.close());
    const { peer, response } = await rawClient(srv.port, {
      extraHeaders: ['Sec-WebSocket-Extensions: permessage-deflate'],
    });
    t.after(() => peer.destroy());
    assert.match(response.headers.get('sec-websocket-extensions') ?? '', /permessage-deflate/);
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { finishFlush: 2 /* Z_SYNC_FLUSH */ });
    peer.send({ opcode: OP.BINARY, rsv: 0x40, payload: bomb.subarray(0, bomb.length - 4) });
    const close = await peer.nextFrame(10_000);
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(parseClose(close.payload).code, 1009);
  });

  // Protection: deflate-options.ts clientDeflateSession validates server_max_window_bits to 8..15 before zlib sees it.
  it('CVE-2026-2229 (server_max_window_bits out of range → uncaught RangeError): handshake fails cleanly', async (t) => {
    const raw = await RawServer.start();
    const ctx = new Context();
    t.after(async () => {
      await raw.close();
      await withTimeout(ctx.close(), 5000, 'ctx close');
    });
    for (const bits of ['7', '16', '1000']) {
      const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`, { perMessageDeflate: true });
      RawServer.accept(await raw.next(), [
        `Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=${bits}`,
      ]);
      await assert.rejects(conn.waitUntilReady({ timeoutMs: 3000 }), { code: 'NOPOLL_ERR_HANDSHAKE' });
    }
  });

  // Protection: headers.ts checkExtraHeaders / assertHeaderValue refuse CR, LF and NUL in header values.
  it('CVE-2026-1527 (CRLF injection through request options): TypeError before anything is sent', () => {
    const ctx = new Context();
    assert.throws(
      () => Conn.connect(ctx, 'ws://127.0.0.1:1/', { extraHeaders: { 'X-A': 'b\r\nInjected: 1' } }),
      TypeError,
    );
    assert.throws(() => Conn.connect(ctx, 'ws://127.0.0.1:1/', { protocols: ['a\r\nInjected: 1'] }));
    assert.equal(ctx.conns.size, 0);
  });
});

describe('faye / websocket-extensions advisories', () => {
  // Protection: extension-header.ts parseExtensions is a single-pass cursor parser (no backtracking regex).
  it('CVE-2020-7662 (ReDoS in Sec-WebSocket-Extensions): pathological values are answered', async (t) => {
    // The advisory's own proof of concept, an unterminated quoted string of backslash pairs, backtracked
    // exponentially in websocket-extensions' regex (30 pairs took seconds). In a worker, so that a backtracking
    // parser fails the test at the deadline instead of hanging it.
    assert.equal(
      await callWithDeadline(EXTENSIONS, 'parseExtensions', ['a;b="' + '\\c'.repeat(1 << 16)], 20_000),
      null,
    );
    const srv = await startEchoListener({ perMessageDeflate: true });
    t.after(() => srv.close());
    for (const value of [
      'a;b="' + '\\c'.repeat(7000),
      'a;b="' + '\\"'.repeat(7000),
      'a' + ';b'.repeat(7000) + '=',
      'x,'.repeat(7000) + '"',
    ]) {
      const answer = await rawHttp(srv.port, request([`Sec-WebSocket-Extensions: ${value}`]), 10_000);
      assert.ok(answer.response !== null, 'answered');
    }
    for (const value of ['a;b="' + '\\"'.repeat(1 << 18), 'a' + ';b'.repeat(1 << 18)]) parseExtensions(value);
  });
});

describe('Python websockets / uWS advisories', () => {
  // Protection: frame-parser.ts refuses RSV1 on continuation frames (RFC 7692 §6.1) even with permessage-deflate.
  it('python-websockets#1720 (RSV1 accepted on continuation frames): 1002', async (t) => {
    const srv = await startEchoListener({ perMessageDeflate: true });
    t.after(() => srv.close());
    const { peer } = await rawClient(srv.port, { extraHeaders: ['Sec-WebSocket-Extensions: permessage-deflate'] });
    t.after(() => peer.destroy());
    peer.send({ opcode: OP.TEXT, fin: false, payload: Buffer.from('a') });
    peer.send({ opcode: OP.CONT, rsv: 0x40, payload: Buffer.from('b') });
    const close = await peer.nextFrame(3000);
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(parseClose(close.payload).code, 1002);
  });

  // uWS OSS-Fuzz class of bugs: test/fuzz/ feeds mutated streams to both roles and a live listener.
  it('a ping flood with every frame split byte by byte does not throw', () => {
    const h = makeSession('server');
    const bytes = Buffer.concat(Array.from({ length: 200 }, () => h.peer.ping('x'.repeat(125))));
    for (let i = 0; i < bytes.length; i++) h.session.receive(bytes.subarray(i, i + 1));
    assert.equal(h.handler.frames.filter((f) => f.opcode === COP.PONG).length, 200);
  });
});

void encodeFrame;
