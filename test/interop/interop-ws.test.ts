/**
 * Interoperability with the `ws` package, both ways: a `ws` client against our Listener, and our client against a
 * `ws` WebSocketServer (no compression). Valid traffic only: text, binary, empty messages, fragmented messages,
 * 16 MiB messages, pings with payloads, close codes and reasons, subprotocol negotiation.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import type { Msg } from '../../src/api/msg.js';
import { AsyncQueue, delay, withTimeout } from '../helpers/ws-async.js';
import { openWs, startEchoListener, startWsServer } from '../helpers/ws-peers.js';

const MiB = 1024 * 1024;
const BIG = 16 * MiB;
const BIG_TIMEOUT = 30_000;

/** 16 MiB of UTF-8 (ASCII, 2-, 3- and 4-byte sequences) where every 16-byte unit is numbered, so any misplaced chunk shows. */
function bigText(bytes: number): string {
  const units: string[] = [];
  for (let i = 0; i < bytes / 16; i++) units.push(`${i.toString(36).padStart(6, '0')}é€😀\n`);
  const text = units.join('');
  assert.equal(Buffer.byteLength(text), bytes);
  return text;
}

/** Bytes 0..n-1 mod 256. */
function counting(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i & 0xff;
  return b;
}

/** A nopoll client context; every connection in it is closed after the test. */
function clientContext(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return ctx;
}

/** The next message on a nopoll connection that has no onMessage handler. */
function nextMsg(conn: Conn, timeoutMs = 5000): Promise<Msg> {
  return conn.nextMsg({ timeoutMs });
}

describe('ws client -> nopoll Listener', () => {
  it('echoes a text message, typed as text on both sides', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    peer.ws.send('héllo wörld ✓');
    const got = await srv.received.next();
    assert.equal(got.msg.isText, true);
    assert.equal(got.msg.text, 'héllo wörld ✓');
    const echo = await peer.messages.next();
    assert.equal(echo.isBinary, false);
    assert.equal(echo.data.toString('utf8'), 'héllo wörld ✓');
  });

  it('echoes a binary message, typed as binary on both sides', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    const data = counting(256);
    peer.ws.send(data);
    const got = await srv.received.next();
    assert.equal(got.msg.isBinary, true);
    assert.deepEqual(got.msg.payload, data);
    const echo = await peer.messages.next();
    assert.equal(echo.isBinary, true);
    assert.deepEqual(echo.data, data);
  });

  it('echoes an empty text and an empty binary message', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    peer.ws.send('');
    peer.ws.send(Buffer.alloc(0));
    const first = await srv.received.next();
    assert.equal(first.msg.isText, true);
    assert.equal(first.msg.size, 0);
    const second = await srv.received.next();
    assert.equal(second.msg.isBinary, true);
    assert.equal(second.msg.size, 0);
    const e1 = await peer.messages.next();
    assert.equal(e1.isBinary, false);
    assert.equal(e1.data.length, 0);
    const e2 = await peer.messages.next();
    assert.equal(e2.isBinary, true);
    assert.equal(e2.data.length, 0);
  });

  it('reassembles a text message ws sends in fragments (fin: false) into one message', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    peer.ws.send('frag-1 ', { fin: false });
    peer.ws.send('frägment-2 ', { fin: false });
    peer.ws.send('frag-3', { fin: true });
    const got = await srv.received.next();
    assert.equal(got.msg.isText, true);
    assert.equal(got.msg.isFragment, false);
    assert.equal(got.msg.text, 'frag-1 frägment-2 frag-3');
    const echo = await peer.messages.next();
    assert.equal(echo.isBinary, false);
    assert.equal(echo.data.toString('utf8'), 'frag-1 frägment-2 frag-3');
    await delay(50);
    assert.equal(srv.received.size, 0, 'the fragments were delivered as one message');
  });

  it('reassembles a binary message ws sends in fragments into one message', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    const parts = [randomBytes(10), randomBytes(70_000), Buffer.alloc(0), randomBytes(3)];
    parts.forEach((part, i) => peer.ws.send(part, { binary: true, fin: i === parts.length - 1 }));
    const got = await srv.received.next();
    assert.equal(got.msg.isBinary, true);
    assert.deepEqual(got.msg.payload, Buffer.concat(parts));
    const echo = await peer.messages.next();
    assert.equal(echo.isBinary, true);
    assert.deepEqual(echo.data, Buffer.concat(parts));
  });

  it('sends a fragmented text and binary message (sendTextFragment / sendFragment) that ws receives whole', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    const conn = await srv.ready.next();
    assert.ok(conn.sendTextFragment('alpha ') >= 0);
    assert.ok(conn.sendFragment('béta ', { fin: false }) >= 0);
    assert.ok(conn.sendFragment('gamma', { fin: true }) >= 0);
    const text = await peer.messages.next();
    assert.equal(text.isBinary, false);
    assert.equal(text.data.toString('utf8'), 'alpha béta gamma');

    const a = randomBytes(5000);
    const b = randomBytes(17);
    assert.ok(conn.sendBinaryFragment(a) >= 0);
    assert.ok(conn.sendFragment(b, { binary: true, fin: true }) >= 0);
    const bin = await peer.messages.next();
    assert.equal(bin.isBinary, true);
    assert.deepEqual(bin.data, Buffer.concat([a, b]));

    // sendText ends an open fragmented text message.
    conn.sendTextFragment('one ');
    conn.sendText('two');
    const ended = await peer.messages.next();
    assert.equal(ended.data.toString('utf8'), 'one two');
  });

  it('echoes a 16 MiB binary message intact', { timeout: 60_000 }, async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    const data = randomBytes(BIG);
    peer.ws.send(data);
    const got = await srv.received.next(BIG_TIMEOUT);
    assert.equal(got.msg.isBinary, true);
    assert.ok(got.msg.payload.equals(data), 'server received the same bytes');
    const echo = await peer.messages.next(BIG_TIMEOUT);
    assert.equal(echo.isBinary, true);
    assert.equal(echo.data.length, BIG);
    assert.ok(echo.data.equals(data), 'echo holds the same bytes');
  });

  it('echoes a 16 MiB text message intact', { timeout: 60_000 }, async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    const text = bigText(BIG);
    peer.ws.send(text);
    const got = await srv.received.next(BIG_TIMEOUT);
    assert.equal(got.msg.isText, true);
    assert.ok(got.msg.text === text, 'server received the same text');
    const echo = await peer.messages.next(BIG_TIMEOUT);
    assert.equal(echo.isBinary, false);
    assert.ok(echo.data.toString('utf8') === text, 'echo holds the same text');
  });

  it('answers a ws ping with a pong carrying the same payload', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    const conn = await srv.ready.next();
    const pings = new AsyncQueue<Buffer>();
    conn.onPing = (_c, payload) => pings.push(Buffer.from(payload));
    peer.ws.ping('ws-ping-✓');
    assert.equal((await peer.pongs.next()).toString('utf8'), 'ws-ping-✓');
    assert.equal((await pings.next()).toString('utf8'), 'ws-ping-✓');
    const max = randomBytes(125);
    peer.ws.ping(max);
    assert.deepEqual(await peer.pongs.next(), max);
  });

  it("gets ws's pong with the same payload for its own ping", async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url);
    t.after(() => peer.ws.terminate());
    const conn = await srv.ready.next();
    const pongs = new AsyncQueue<Buffer>();
    conn.onPong = (_c, payload) => pongs.push(Buffer.from(payload));
    assert.equal(conn.ping('np-ping'), true);
    assert.equal((await peer.pings.next()).toString('utf8'), 'np-ping');
    assert.equal((await pongs.next()).toString('utf8'), 'np-ping');
  });

  for (const code of [1000, 1001, 3000, 4999]) {
    it(`ws closes with ${code} and a reason: both sides see it and a clean close`, async (t) => {
      const srv = await startEchoListener();
      t.after(() => srv.close());
      const peer = await openWs(srv.url);
      t.after(() => peer.ws.terminate());
      const conn = await srv.ready.next();
      peer.ws.close(code, `reason ${code} ✓`);
      const info = await withTimeout(conn.closed, 5000, 'server close');
      assert.equal(info.code, code);
      assert.equal(info.reason, `reason ${code} ✓`);
      assert.equal(info.wasClean, true);
      assert.equal(info.error, undefined);
      const seen = await withTimeout(peer.closed, 5000, 'ws close');
      assert.equal(seen.code, code, 'the echoed close frame carries the same code');
      assert.equal(seen.wasClean, true);
    });

    it(`nopoll closes with ${code} and a reason: both sides see it and a clean close`, async (t) => {
      const srv = await startEchoListener();
      t.after(() => srv.close());
      const peer = await openWs(srv.url);
      t.after(() => peer.ws.terminate());
      const conn = await srv.ready.next();
      const info = await withTimeout(conn.close(code, `bye ${code}`), 5000, 'server close');
      const seen = await withTimeout(peer.closed, 5000, 'ws close');
      assert.equal(seen.code, code);
      assert.equal(seen.reason, `bye ${code}`);
      assert.equal(seen.wasClean, true);
      assert.equal(info.code, code, 'ws echoed the code');
      assert.equal(info.wasClean, true);
    });
  }

  it('negotiates the subprotocol: ws offers [a, b], the listener supports [b]', async (t) => {
    const srv = await startEchoListener({ protocols: ['b'] });
    t.after(() => srv.close());
    const peer = await openWs(srv.url, ['a', 'b']);
    t.after(() => peer.ws.terminate());
    assert.equal(peer.ws.protocol, 'b');
    const conn = await srv.ready.next();
    assert.equal(conn.acceptedProtocol, 'b');
    assert.deepEqual([...conn.requestedProtocols], ['a', 'b']);
  });

  it('declines the permessage-deflate offer of a default ws client and still talks', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const peer = await openWs(srv.url, undefined, { perMessageDeflate: true });
    t.after(() => peer.ws.terminate());
    assert.equal(peer.ws.extensions, '');
    peer.ws.send('plain');
    assert.equal((await peer.messages.next()).data.toString(), 'plain');
  });
});

describe('nopoll client -> ws WebSocketServer', () => {
  it('echoes text, binary, empty text and empty binary with their types', async (t) => {
    const wss = await startWsServer({}, true);
    t.after(() => wss.close());
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, wss.url, { timeoutMs: 5000 });
    const server = await wss.connections.next();

    conn.sendText('héllo ✓');
    const s1 = await server.messages.next();
    assert.equal(s1.isBinary, false);
    assert.equal(s1.data.toString('utf8'), 'héllo ✓');
    const m1 = await nextMsg(conn);
    assert.equal(m1.isText, true);
    assert.equal(m1.text, 'héllo ✓');

    const bin = counting(300);
    conn.sendBinary(bin);
    const s2 = await server.messages.next();
    assert.equal(s2.isBinary, true);
    assert.deepEqual(s2.data, bin);
    const m2 = await nextMsg(conn);
    assert.equal(m2.isBinary, true);
    assert.deepEqual(m2.payload, bin);

    conn.sendText('');
    conn.sendBinary(Buffer.alloc(0));
    const s3 = await server.messages.next();
    const s4 = await server.messages.next();
    assert.deepEqual([s3.isBinary, s3.data.length, s4.isBinary, s4.data.length], [false, 0, true, 0]);
    const m3 = await nextMsg(conn);
    const m4 = await nextMsg(conn);
    assert.deepEqual([m3.isText, m3.size, m4.isBinary, m4.size], [true, 0, true, 0]);
  });

  it('sends a fragmented message (sendTextFragment / sendFragment) that ws receives whole', async (t) => {
    const wss = await startWsServer();
    t.after(() => wss.close());
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, wss.url, { timeoutMs: 5000 });
    const server = await wss.connections.next();
    conn.sendTextFragment('first ');
    conn.sendFragment('sécond ', { fin: false });
    conn.sendFragment('third', { fin: true });
    const text = await server.messages.next();
    assert.equal(text.isBinary, false);
    assert.equal(text.data.toString('utf8'), 'first sécond third');
    const a = randomBytes(70_000);
    const b = randomBytes(1);
    conn.sendBinaryFragment(a);
    conn.sendFragment(b, { binary: true, fin: true });
    const bin = await server.messages.next();
    assert.equal(bin.isBinary, true);
    assert.deepEqual(bin.data, Buffer.concat([a, b]));
    await delay(50);
    assert.equal(server.messages.size, 0, 'one message each');
  });

  it('receives a message ws sends in fragments (fin: false) as one whole message', async (t) => {
    const wss = await startWsServer();
    t.after(() => wss.close());
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, wss.url, { timeoutMs: 5000 });
    const server = await wss.connections.next();
    server.ws.send('part-a ', { fin: false });
    server.ws.send('pärt-b ', { fin: false });
    server.ws.send('part-c', { fin: true });
    const text = await nextMsg(conn);
    assert.equal(text.isText, true);
    assert.equal(text.isFragment, false);
    assert.equal(text.text, 'part-a pärt-b part-c');
    const parts = [randomBytes(1000), randomBytes(66_000)];
    server.ws.send(parts[0]!, { binary: true, fin: false });
    server.ws.send(parts[1]!, { binary: true, fin: true });
    const bin = await nextMsg(conn);
    assert.equal(bin.isBinary, true);
    assert.deepEqual(bin.payload, Buffer.concat(parts));
    assert.equal(conn.getMsg(), null, 'nothing else arrived');
  });

  it('round-trips a 16 MiB binary message intact', { timeout: 60_000 }, async (t) => {
    const wss = await startWsServer({}, true);
    t.after(() => wss.close());
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, wss.url, { timeoutMs: 5000 });
    const server = await wss.connections.next();
    const data = randomBytes(BIG);
    conn.sendBinary(data);
    const got = await server.messages.next(BIG_TIMEOUT);
    assert.equal(got.isBinary, true);
    assert.ok(got.data.equals(data), 'ws received the same bytes');
    const echo = await nextMsg(conn, BIG_TIMEOUT);
    assert.equal(echo.isBinary, true);
    assert.ok(echo.payload.equals(data), 'echo holds the same bytes');
  });

  it('round-trips a 16 MiB text message intact', { timeout: 60_000 }, async (t) => {
    const wss = await startWsServer({}, true);
    t.after(() => wss.close());
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, wss.url, { timeoutMs: 5000 });
    const server = await wss.connections.next();
    const text = bigText(BIG);
    conn.sendText(text);
    const got = await server.messages.next(BIG_TIMEOUT);
    assert.equal(got.isBinary, false);
    assert.ok(got.data.toString('utf8') === text, 'ws received the same text');
    const echo = await nextMsg(conn, BIG_TIMEOUT);
    assert.equal(echo.isText, true);
    assert.ok(echo.text === text, 'echo holds the same text');
  });

  it('exchanges pings with payloads both ways, each answered by a pong with the same payload', async (t) => {
    const wss = await startWsServer();
    t.after(() => wss.close());
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, wss.url, { timeoutMs: 5000 });
    const server = await wss.connections.next();
    const pings = new AsyncQueue<Buffer>();
    const pongs = new AsyncQueue<Buffer>();
    conn.onPing = (_c, payload) => pings.push(Buffer.from(payload));
    conn.onPong = (_c, payload) => pongs.push(Buffer.from(payload));

    assert.equal(conn.ping('from-nopoll'), true);
    assert.equal((await server.pings.next()).toString(), 'from-nopoll');
    assert.equal((await pongs.next()).toString(), 'from-nopoll');

    const payload = randomBytes(125);
    server.ws.ping(payload);
    assert.deepEqual(await pings.next(), payload);
    assert.deepEqual(await server.pongs.next(), payload);
  });

  for (const code of [1000, 1001, 3000, 4999]) {
    it(`nopoll client closes with ${code} and a reason: clean on both sides`, async (t) => {
      const wss = await startWsServer();
      t.after(() => wss.close());
      const ctx = clientContext(t);
      const conn = await Conn.open(ctx, wss.url, { timeoutMs: 5000 });
      const server = await wss.connections.next();
      const info = await withTimeout(conn.close(code, `client bye ${code} ✓`), 5000, 'client close');
      assert.equal(info.code, code, 'ws echoed the code');
      assert.equal(info.wasClean, true);
      assert.equal(info.error, undefined);
      const seen = await withTimeout(server.closed, 5000, 'ws server close');
      assert.equal(seen.code, code);
      assert.equal(seen.reason, `client bye ${code} ✓`);
      assert.equal(seen.wasClean, true);
    });

    it(`ws server closes with ${code} and a reason: clean on both sides`, async (t) => {
      const wss = await startWsServer();
      t.after(() => wss.close());
      const ctx = clientContext(t);
      const conn = await Conn.open(ctx, wss.url, { timeoutMs: 5000 });
      const server = await wss.connections.next();
      server.ws.close(code, `server bye ${code}`);
      const info = await withTimeout(conn.closed, 5000, 'client sees the close');
      assert.equal(info.code, code);
      assert.equal(info.reason, `server bye ${code}`);
      assert.equal(info.wasClean, true);
      assert.equal(conn.closeStatus, code);
      assert.equal(conn.closeReason, `server bye ${code}`);
      const seen = await withTimeout(server.closed, 5000, 'ws server close');
      assert.equal(seen.code, code, 'nopoll echoed the code');
      assert.equal(seen.wasClean, true);
    });
  }

  it('negotiates the subprotocol: nopoll offers [x, y], ws handleProtocols picks y', async (t) => {
    const offered: string[][] = [];
    const wss = await startWsServer({
      handleProtocols: (protocols) => {
        offered.push([...protocols]);
        return protocols.has('y') ? 'y' : false;
      },
    });
    t.after(() => wss.close());
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, wss.url, { protocols: ['x', 'y'], timeoutMs: 5000 });
    const server = await wss.connections.next();
    assert.deepEqual(offered, [['x', 'y']]);
    assert.equal(conn.acceptedProtocol, 'y');
    assert.equal(server.ws.protocol, 'y');
  });
});
