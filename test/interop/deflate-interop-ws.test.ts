/**
 * permessage-deflate interop with the `ws` package in both directions: a ws server against our client and a ws
 * client against our listener, across the negotiation parameters each side can set. Each exchange checks the
 * agreed header on both ends, every size class, fragmented messages and many messages with the context kept, and
 * that the bytes on the wire really were compressed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PerMessageDeflateOptions as WsDeflateOptions } from 'ws';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import type { Msg } from '../../src/api/msg.js';
import type { PerMessageDeflateOptions } from '../../src/api/deflate-options.js';
import { compressibleText } from '../helpers/deflate.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { openWs, startEchoListener, startWsServer, type WsPeer } from '../helpers/ws-peers.js';

const SIZES = [0, 1, 1024, 64 * 1024, 1024 * 1024];

describe('ws server, our client', () => {
  const cases: Array<[string, boolean | WsDeflateOptions, boolean | PerMessageDeflateOptions | undefined, string]> = [
    // Our client announces client_no_context_takeover by default (its compressor keeps no memory between messages).
    ['defaults on both sides', true, undefined, 'permessage-deflate; client_no_context_takeover'],
    ['our client keeping its context (contextTakeover)', true, { contextTakeover: true }, 'permessage-deflate'],
    [
      'ws without context takeover',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
      { threshold: 0 },
      'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
    ],
    [
      'ws asking for small windows',
      { serverMaxWindowBits: 10, clientMaxWindowBits: 9, threshold: 0 },
      { threshold: 0 },
      'permessage-deflate; client_no_context_takeover; client_max_window_bits=9; server_max_window_bits=10',
    ],
    [
      'our client asking for an 8-bit server window and no server context',
      { threshold: 0 },
      { serverMaxWindowBits: 8, serverNoContextTakeover: true, clientMaxWindowBits: 11, threshold: 0 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=11',
    ],
    [
      'our client announcing no client context',
      { threshold: 0 },
      { clientNoContextTakeover: true, clientMaxWindowBits: false, threshold: 0 },
      'permessage-deflate; client_no_context_takeover',
    ],
  ];
  for (const [name, wsOption, ourOption, expected] of cases) {
    it(`${name}: ${expected}`, { timeout: 60_000 }, async (t) => {
      const server = await startWsServer({ perMessageDeflate: wsOption }, true);
      t.after(() => server.close());
      const ctx = new Context();
      t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
      const received = new AsyncQueue<Msg>();
      ctx.onMessage = (_conn, msg) => received.push(msg);
      const conn = await Conn.open(ctx, server.url, {
        timeoutMs: 5000,
        ...(ourOption !== undefined ? { perMessageDeflate: ourOption } : {}),
      });
      const peer = await server.connections.next(2000);
      assert.equal(conn.extensions, expected);
      assert.equal(peer.ws.extensions, 'permessage-deflate', "ws's view");
      let total = 0;
      for (const size of SIZES) {
        const text = compressibleText(size, size).toString();
        conn.sendText(text, { compress: true });
        assert.equal((await received.next(10_000)).text, text, `text of ${size}`);
        const bin = compressibleText(size, size + 1);
        conn.sendBinary(bin, { compress: true });
        const echo = await received.next(10_000);
        assert.equal(echo.isBinary, true);
        assert.ok(echo.payload.equals(bin), `binary of ${size}`);
        total += 2 * size;
      }
      // Fragmented, compressed, from our side; ws gets one message.
      const parts = [compressibleText(3000, 1), compressibleText(1, 2), compressibleText(20_000, 3)];
      conn.sendFragment(parts[0]!, { binary: true, compress: true });
      conn.sendBinaryFragment(parts[1]!);
      conn.sendBinary(parts[2]!);
      assert.ok((await received.next(10_000)).payload.equals(Buffer.concat(parts)));
      // Many messages, context kept where negotiated.
      const many = Array.from({ length: 100 }, (_, i) => compressibleText(1500 + i, i).toString());
      for (const m of many) conn.sendText(m, { compress: true });
      for (const m of many) assert.equal((await received.next(10_000)).text, m);
      assert.ok(
        conn.socket!.bytesRead < total / 3,
        `${conn.socket!.bytesRead} bytes read for ${total} bytes of echoes: compressed`,
      );
      await conn.close();
    });
  }

  it('a ws server without compression: our offer is declined and messages flow uncompressed', async (t) => {
    const server = await startWsServer({ perMessageDeflate: false }, true);
    t.after(() => server.close());
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing'));
    const received = new AsyncQueue<Msg>();
    ctx.onMessage = (_conn, msg) => received.push(msg);
    const conn = await Conn.open(ctx, server.url, { timeoutMs: 5000 });
    assert.equal(conn.extensions, '');
    assert.equal(conn.perMessageDeflate, null);
    conn.sendText('x'.repeat(5000));
    assert.equal((await received.next(5000)).size, 5000);
  });
});

describe('ws client, our listener', () => {
  const cases: Array<[string, boolean | WsDeflateOptions, boolean | PerMessageDeflateOptions, string]> = [
    // Our listener compresses without context both ways by default (RFC 7692 §7.1.1 lets the server ask for both).
    [
      'defaults (ws offers client_max_window_bits)',
      true,
      true,
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    ],
    ['our listener keeping context (contextTakeover)', true, { contextTakeover: true }, 'permessage-deflate'],
    [
      'ws asking for no context takeover',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
      { threshold: 0 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    ],
    [
      'windows from both sides',
      { serverMaxWindowBits: 9, clientMaxWindowBits: 10, threshold: 0 },
      { serverMaxWindowBits: 12, clientMaxWindowBits: 8, threshold: 0 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8',
    ],
    [
      'our listener without context takeover',
      { threshold: 0 },
      { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    ],
  ];
  for (const [name, wsOption, ourOption, expected] of cases) {
    it(`${name}: ${expected}`, { timeout: 60_000 }, async (t) => {
      const srv = await startEchoListener({ perMessageDeflate: ourOption });
      t.after(() => srv.close());
      let peer: WsPeer | null = null;
      t.after(() => peer?.ws.terminate());
      peer = await openWs(srv.url, undefined, { perMessageDeflate: wsOption });
      const conn = await srv.ready.next(2000);
      assert.equal(conn.extensions, expected);
      assert.equal(peer.ws.extensions, 'permessage-deflate');
      let total = 0;
      for (const size of SIZES) {
        const text = compressibleText(size, size).toString();
        peer.ws.send(text, { compress: true });
        const echo = await peer.messages.next(10_000);
        assert.deepEqual([echo.isBinary, echo.data.toString()], [false, text], `text of ${size}`);
        const bin = compressibleText(size, size + 5);
        peer.ws.send(bin, { compress: true, binary: true });
        const binEcho = await peer.messages.next(10_000);
        assert.equal(binEcho.isBinary, true);
        assert.ok(binEcho.data.equals(bin), `binary of ${size}`);
        total += 2 * size;
      }
      // Fragmented, compressed, from ws.
      const parts = [compressibleText(2000, 7), compressibleText(30_000, 8)];
      peer.ws.send(parts[0]!, { fin: false, compress: true });
      peer.ws.send(parts[1]!, { fin: true });
      assert.equal((await peer.messages.next(10_000)).data.toString(), Buffer.concat(parts).toString());
      const many = Array.from({ length: 100 }, (_, i) => compressibleText(1500 + i, i).toString());
      for (const m of many) peer.ws.send(m, { compress: true });
      for (const m of many) assert.equal((await peer.messages.next(10_000)).data.toString(), m);
      assert.ok(
        conn.socket!.bytesRead < total / 3,
        `${conn.socket!.bytesRead} bytes read for ${total} bytes sent: compressed`,
      );
      peer.ws.close(1000);
      const info = await withTimeout(conn.closed, 5000, 'closing');
      assert.equal(info.wasClean, true);
    });
  }

  it('compression off on our listener (the default): ws falls back to plain frames', async (t) => {
    const srv = await startEchoListener({});
    t.after(() => srv.close());
    const peer = await openWs(srv.url, undefined, { perMessageDeflate: true });
    t.after(() => peer.ws.terminate());
    assert.equal(peer.ws.extensions, '');
    peer.ws.send('y'.repeat(4000));
    assert.equal((await peer.messages.next(5000)).data.length, 4000);
    const conn = await srv.ready.next(1000);
    assert.equal(conn.extensions, '');
  });

  it('a ws decompression bomb is stopped at our limit with 1009', async (t) => {
    const srv = await startEchoListener({ perMessageDeflate: true, maxMessageSize: 512 * 1024 });
    t.after(() => srv.close());
    const peer = await openWs(srv.url, undefined, { perMessageDeflate: { threshold: 0 } });
    t.after(() => peer.ws.terminate());
    peer.ws.send(Buffer.alloc(32 * 1024 * 1024));
    const closed = await withTimeout(peer.closed, 10_000, 'ws seeing the close');
    assert.equal(closed.code, 1009);
  });
});
