/**
 * Issue 6 item 5, errors (opening handshake failures (client) and refusals (server)): every failure reaches the user as a typed error with a stable `code` (and, for a peer's
 * fault, the close code that went on the wire); a user handler that throws ends only its own connection (1011) and
 * never the process; logging has levels and a handler, and is off by default.
 *
 * Real sockets on loopback with ephemeral ports: our client against our listener, or either against a raw peer that
 * shapes (and reads) the bytes itself. Every configured timeout is short; every wait is bounded; every context,
 * listener and socket is closed after its test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Conn } from '../../src/api/conn.js';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import { Context, type ContextOptions } from '../../src/api/context.js';
import type { CloseInfo } from '../../src/api/conn.js';
import { HandshakeError, TimeoutError } from '../../src/errors.js';
import { OP, acceptFor, rawHttp } from '../helpers/raw-peer.js';
import {
  assertError,
  assertLogged,
  rawPeer,
  rawServer,
  recordedContext,
  rejection,
  startServer,
  trackEscapes,
} from '../helpers/errors.js';

trackEscapes();

// ---------------------------------------------------------------------------------------------------------------
// Opening handshake, client side

/** A response head, written as is. */
function response(lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}

describe('client handshake failures: Conn.open rejects with HandshakeError and the status received', () => {
  const CASES: Array<{
    name: string;
    answer: (key: string, accept: string) => string;
    opts?: ConnOptsInit;
    status: number;
    message: RegExp;
  }> = [
    {
      name: 'status 404',
      answer: () => response(['HTTP/1.1 404 Not Found', 'Content-Length: 0']),
      status: 404,
      message: /404/,
    },
    {
      name: 'redirect 302',
      answer: () => response(['HTTP/1.1 302 Found', 'Location: ws://127.0.0.1:1/', 'Content-Length: 0']),
      status: 302,
      message: /302/,
    },
    {
      name: 'wrong Sec-WebSocket-Accept',
      answer: () =>
        response([
          'HTTP/1.1 101 Switching Protocols',
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        ]),
      status: 101,
      message: /Accept/,
    },
    {
      name: 'no Upgrade header',
      answer: (_k, accept) =>
        response(['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`]),
      status: 101,
      message: /Upgrade/,
    },
    {
      name: 'subprotocol not offered',
      answer: (_k, accept) =>
        response([
          'HTTP/1.1 101 Switching Protocols',
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Accept: ${accept}`,
          'Sec-WebSocket-Protocol: chat',
        ]),
      opts: { protocols: ['other'] },
      status: 101,
      message: /subprotocol/,
    },
    {
      name: 'extension not offered',
      answer: (_k, accept) =>
        response([
          'HTTP/1.1 101 Switching Protocols',
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Accept: ${accept}`,
          'Sec-WebSocket-Extensions: x-unknown',
        ]),
      status: 101,
      message: /extension/,
    },
    {
      name: 'invalid permessage-deflate parameters',
      answer: (_k, accept) =>
        response([
          'HTTP/1.1 101 Switching Protocols',
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Accept: ${accept}`,
          'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7',
        ]),
      status: 101,
      message: /window|deflate/,
    },
    {
      name: 'not HTTP at all',
      answer: () => 'SSH-2.0-OpenSSH_9.0\r\n\r\n',
      status: 0,
      message: /invalid handshake response/,
    },
  ];
  for (const c of CASES) {
    it(c.name, async (t) => {
      const raw = await rawServer(t);
      const { ctx, logs } = recordedContext(t);
      const opening = Conn.open(ctx, `ws://127.0.0.1:${raw.port}/`, { ...c.opts, timeoutMs: 3000 });
      const incoming = await raw.next();
      const key = incoming.request.headers.get('sec-websocket-key') ?? '';
      incoming.socket.write(c.answer(key, acceptFor(key)));
      const error = assertError(await rejection(opening), HandshakeError, 'NOPOLL_ERR_HANDSHAKE', { status: c.status });
      assert.match(error.message, c.message);
      assert.equal(ctx.conns.size, 0, 'the failed connection is gone');
      assertLogged(logs, 'warning', 'NOPOLL_ERR_HANDSHAKE');
    });
  }

  it('the server closes during the handshake: HandshakeError, status 0; waitUntilReady and onClose agree', async (t) => {
    const raw = await rawServer(t);
    const { ctx } = recordedContext(t);
    const closes: CloseInfo[] = [];
    ctx.onClose = (_conn, info) => void closes.push(info);
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`);
    (await raw.next()).socket.destroy();
    const error = assertError(await rejection(conn.waitUntilReady()), HandshakeError, 'NOPOLL_ERR_HANDSHAKE', {
      status: 0,
    });
    assert.equal(conn.closeInfo?.error, error);
    assert.equal(closes.length, 1);
    assert.equal(closes[0]!.error, error);
    assert.equal(closes[0]!.code, 1006);
    // Once failed, every later wait reports the same error.
    assert.equal(await rejection(conn.waitUntilReady()), error);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Opening handshake, server side

describe('server handshake refusals: the HTTP status on the wire is HandshakeError.status', () => {
  const GOOD = [
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  ];
  const request = (first: string, headers: string[]): string => `${[first, ...headers].join('\r\n')}\r\n\r\n`;
  const CASES: Array<{
    name: string;
    request: string;
    status: number;
    opts?: ConnOptsInit;
    options?: ContextOptions;
    setup?: (ctx: Context) => void;
  }> = [
    {
      name: 'no Sec-WebSocket-Key → 400',
      request: request('GET / HTTP/1.1', [...GOOD.slice(0, 3), 'Sec-WebSocket-Version: 13']),
      status: 400,
    },
    { name: 'POST → 405', request: request('POST / HTTP/1.1', [...GOOD, 'Sec-WebSocket-Version: 13']), status: 405 },
    { name: 'version 8 → 426', request: request('GET / HTTP/1.1', [...GOOD, 'Sec-WebSocket-Version: 8']), status: 426 },
    {
      name: 'too many header lines → 431',
      request: request('GET / HTTP/1.1', [...GOOD, 'Sec-WebSocket-Version: 13', 'X-A: 1', 'X-B: 2', 'X-C: 3']),
      options: { maxHeaderCount: 6 },
      status: 431,
    },
    {
      name: 'Origin required and missing → 403',
      request: request('GET / HTTP/1.1', [...GOOD, 'Sec-WebSocket-Version: 13']),
      opts: { requireOrigin: true },
      status: 403,
    },
    {
      name: 'onOpen returns false → 403',
      request: request('GET / HTTP/1.1', [...GOOD, 'Sec-WebSocket-Version: 13']),
      setup: (ctx) => (ctx.onOpen = () => false),
      status: 403,
    },
    {
      name: 'onOpen picks a subprotocol the client did not offer → 400',
      request: request('GET / HTTP/1.1', [...GOOD, 'Sec-WebSocket-Version: 13']),
      setup: (ctx) =>
        (ctx.onOpen = (conn) => {
          conn.acceptedProtocol = 'chat';
        }),
      status: 400,
    },
  ];
  for (const c of CASES) {
    it(c.name, async (t) => {
      const srv = await startServer(t, c.opts, c.options);
      c.setup?.(srv.ctx);
      const answer = await rawHttp(srv.port, c.request);
      assert.equal(answer.response?.status, c.status, answer.raw);
      const { info } = await srv.ended.next(3000, 'server conn ended');
      assertError(info.error, HandshakeError, 'NOPOLL_ERR_HANDSHAKE', { status: c.status });
      assert.equal(info.code, 1006);
      assertLogged(srv.logs, 'warning', `HTTP ${c.status}`);
    });
  }

  it('maxConnections reached → 503', async (t) => {
    const srv = await startServer(t, { maxConnections: 1 });
    const first = await rawPeer(t, srv.port);
    await srv.ready.next(3000, 'first conn');
    const answer = await rawHttp(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(answer.response?.status, 503);
    const { info } = await srv.ended.next(3000, 'refused conn ended');
    assertError(info.error, HandshakeError, 'NOPOLL_ERR_HANDSHAKE', { status: 503 });
    first.send({ opcode: OP.TEXT, payload: 'still here' });
    assert.equal((await first.nextFrame()).payload.toString(), 'still here');
  });

  it('request head not complete in time → 408 on the wire, TimeoutError(handshake)', async (t) => {
    const srv = await startServer(t, { handshakeTimeoutMs: 150 });
    const answer = await rawHttp(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n');
    assert.equal(answer.response?.status, 408);
    const { info } = await srv.ended.next(3000, 'server conn ended');
    assertError(info.error, TimeoutError, 'NOPOLL_ERR_TIMEOUT', { phase: 'handshake' });
    assertLogged(srv.logs, 'warning', 'NOPOLL_ERR_TIMEOUT');
  });

  it('our client against a refusing listener sees the same status', async (t) => {
    const srv = await startServer(t);
    srv.ctx.onOpen = () => false;
    const { ctx } = recordedContext(t);
    assertError(await rejection(Conn.open(ctx, srv.url, { timeoutMs: 3000 })), HandshakeError, 'NOPOLL_ERR_HANDSHAKE', {
      status: 403,
    });
  });
});
