/**
 * Issue 6 item 5, errors (user handlers that throw, and logging): every failure reaches the user as a typed error with a stable `code` (and, for a peer's
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
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { MessageStream } from '../../src/api/message-stream.js';
import { OP, RawServer, closeBody, rawHttp } from '../helpers/raw-peer.js';
import { delay, withTimeout } from '../helpers/ws-async.js';
import {
  LogLine,
  assertLogged,
  assertNothingEscaped,
  captureConsole,
  closedPort,
  nextCloseCode,
  rawPeer,
  rawServer,
  recordedContext,
  rejection,
  startServer,
  trackEscapes,
} from '../helpers/errors.js';

trackEscapes();

// ---------------------------------------------------------------------------------------------------------------
// User handlers that throw

describe('user handlers that throw: only that connection ends, the process never does', () => {
  it('onMessage throws on one connection → it is closed with 1011; another on the same listener keeps echoing', async (t) => {
    const srv = await startServer(t);
    srv.ctx.onMessage = (conn, msg) => {
      if (msg.text === 'boom') throw new Error('handler failed');
      conn.sendText(msg.payload);
    };
    const bad = await rawPeer(t, srv.port);
    const good = await rawPeer(t, srv.port);
    const badConn = await srv.ready.next(3000, 'bad conn');
    bad.send({ opcode: OP.TEXT, payload: 'boom' });
    assert.equal(await nextCloseCode(bad), 1011);
    bad.send({ opcode: OP.CLOSE, payload: closeBody(1011) });
    bad.end();
    const info = await withTimeout(badConn.closed, 5000, 'bad conn closed');
    assert.equal(info.code, 1011);
    for (const text of ['one', 'two', 'three']) {
      good.send({ opcode: OP.TEXT, payload: text });
      assert.equal((await good.nextFrame()).payload.toString(), text);
    }
    assert.equal(srv.handlerErrors.length, 1);
    assert.equal((srv.handlerErrors[0] as Error).message, 'handler failed');
    assertLogged(srv.logs, 'critical', 'handler failed');
    assert.ok(srv.listener.isOk);
    await assertNothingEscaped();
  });

  // Each handler of a listener's context, made to throw (sync) or reject (async): what the raw client sees.
  const SERVER_HANDLERS: Array<{
    name: string;
    install: (ctx: Context, fail: () => never) => void;
    expect: 'close 1011' | 'http 500' | 'dropped' | 'open';
  }> = [
    { name: 'onMessage', install: (ctx, fail) => (ctx.onMessage = () => fail()), expect: 'close 1011' },
    { name: 'onReady', install: (ctx, fail) => (ctx.onReady = () => fail()), expect: 'close 1011' },
    { name: 'onOpen', install: (ctx, fail) => (ctx.onOpen = () => fail()), expect: 'http 500' },
    { name: 'onAccept', install: (ctx, fail) => (ctx.onAccept = () => fail()), expect: 'dropped' },
    { name: 'onClose', install: (ctx, fail) => (ctx.onClose = () => fail()), expect: 'open' },
  ];
  for (const handler of SERVER_HANDLERS) {
    for (const mode of ['throws', 'rejects'] as const) {
      it(`${handler.name} ${mode} → ${handler.expect}; onError gets it; nothing escapes`, async (t) => {
        const srv = await startServer(t);
        const boom = new Error(`${handler.name} ${mode}`);
        const fail =
          mode === 'throws'
            ? (): never => {
                throw boom;
              }
            : (): never => Promise.reject(boom) as never;
        handler.install(srv.ctx, fail);
        if (handler.expect === 'http 500' || handler.expect === 'dropped') {
          const answer = await rawHttp(
            srv.port,
            'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          );
          if (handler.expect === 'http 500') assert.equal(answer.response?.status, 500);
          else assert.equal(answer.raw, '', 'dropped without an answer');
        } else {
          const peer = await rawPeer(t, srv.port);
          peer.send({ opcode: OP.TEXT, payload: 'hello' });
          if (handler.expect === 'close 1011') {
            assert.equal(await nextCloseCode(peer), 1011);
          } else {
            assert.equal((await peer.nextFrame()).payload.toString(), 'hello');
            peer.send({ opcode: OP.CLOSE, payload: closeBody(1000) });
            assert.equal(await nextCloseCode(peer), 1000);
          }
          peer.end();
        }
        await withTimeout(
          (async () => {
            while (srv.handlerErrors.length === 0) await delay(5);
          })(),
          3000,
          'onError',
        );
        assert.equal(srv.handlerErrors[0], boom);
        assertLogged(srv.logs, 'critical', boom.message);
        // The listener still serves.
        if (handler.name !== 'onOpen' && handler.name !== 'onAccept' && handler.name !== 'onReady') {
          const again = await rawPeer(t, srv.port);
          again.send({ opcode: OP.PING, payload: 'p' });
          assert.equal((await again.nextFrame()).opcode, OP.PONG);
        }
        await assertNothingEscaped();
      });
    }
  }

  it('onPing and onPong throw → reported; the connection stays open', async (t) => {
    const srv = await startServer(t);
    srv.ctx.onReady = (conn) => {
      conn.onPing = () => {
        throw new Error('ping handler');
      };
      conn.onPong = (() => Promise.reject(new Error('pong handler'))) as never;
    };
    const peer = await rawPeer(t, srv.port);
    peer.send({ opcode: OP.PING, payload: 'a' });
    peer.send({ opcode: OP.PONG, payload: 'b' });
    peer.send({ opcode: OP.TEXT, payload: 'still open' });
    assert.equal((await peer.nextFrame()).opcode, OP.PONG);
    assert.equal((await peer.nextFrame()).payload.toString(), 'still open');
    await delay(20);
    assert.deepEqual(
      srv.handlerErrors.map((e) => (e as Error).message),
      ['ping handler', 'pong handler'],
    );
    await assertNothingEscaped();
  });

  describe('onMessageStream consumers', () => {
    const CONSUMERS: Array<{ name: string; consume: (stream: MessageStream) => unknown }> = [
      {
        name: 'the handler throws',
        consume: () => {
          throw new Error('stream handler');
        },
      },
      {
        name: 'an async handler rejects while iterating',
        consume: async (stream) => {
          for await (const _chunk of stream) throw new Error('stream handler');
        },
      },
      {
        name: "a 'data' listener throws",
        consume: (stream) =>
          stream.on('data', () => {
            throw new Error('stream handler');
          }),
      },
      {
        name: "an 'end' listener throws",
        consume: (stream) => {
          stream.resume();
          stream.on('end', () => {
            throw new Error('stream handler');
          });
        },
      },
    ];
    for (const consumer of CONSUMERS) {
      it(`${consumer.name} → that connection is closed with 1011`, async (t) => {
        const srv = await startServer(t);
        srv.ctx.onReady = (conn) => {
          srv.ready.push(conn);
          conn.onMessageStream = (_conn, stream) => consumer.consume(stream) as void;
        };
        const peer = await rawPeer(t, srv.port);
        peer.send({ opcode: OP.TEXT, payload: 'streamed' });
        assert.equal(await nextCloseCode(peer), 1011);
        assert.equal((srv.handlerErrors[0] as Error).message, 'stream handler');
        await assertNothingEscaped();
      });
    }

    it('a consumer without an error listener, and the peer drops mid-message → no crash; closeInfo says why', async (t) => {
      const srv = await startServer(t);
      const streams: MessageStream[] = [];
      srv.ctx.onReady = (conn) => {
        srv.ready.push(conn);
        conn.onMessageStream = (_conn, stream) => {
          streams.push(stream);
          stream.on('data', () => undefined);
        };
      };
      const peer = await rawPeer(t, srv.port);
      const conn = await srv.ready.next(3000, 'server conn');
      peer.send({ opcode: OP.BINARY, fin: false, payload: 'part' });
      await withTimeout(
        (async () => {
          while (streams.length === 0) await delay(5);
        })(),
        3000,
        'stream',
      );
      peer.destroy();
      const info = await withTimeout(conn.closed, 5000, 'closed');
      assert.equal(info.code, 1006);
      assert.ok(streams[0]!.destroyed);
      assert.deepEqual(srv.handlerErrors, [], 'the peer leaving is not a handler error');
      await assertNothingEscaped();
    });
  });

  it('our client: onMessage throws → the client closes with 1011', async (t) => {
    const raw = await rawServer(t);
    const { ctx, handlerErrors } = recordedContext(t);
    ctx.onMessage = () => {
      throw new Error('client handler');
    };
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`);
    const peer = RawServer.accept(await raw.next());
    await conn.waitUntilReady({ timeoutMs: 3000 });
    peer.send({ opcode: OP.TEXT, payload: 'hi' });
    assert.equal(await nextCloseCode(peer), 1011);
    assert.equal((handlerErrors[0] as Error).message, 'client handler');
    await assertNothingEscaped();
  });

  it('onError itself throws or rejects → printed with console.error; the log handler throwing → onError', async (t) => {
    const printed = captureConsole(t);
    const srv = await startServer(t);
    let calls = 0;
    srv.ctx.onMessage = () => {
      throw new Error('first');
    };
    srv.ctx.onError = () => {
      calls++;
      if (calls === 1) throw new Error('onError threw');
      return Promise.reject(new Error('onError rejected')) as never;
    };
    for (let i = 0; i < 2; i++) {
      const peer = await rawPeer(t, srv.port);
      peer.send({ opcode: OP.TEXT, payload: 'x' });
      assert.equal(await nextCloseCode(peer), 1011);
      peer.destroy();
    }
    await delay(20);
    assert.ok(
      printed.some((line) => line.startsWith('error:') && line.includes('onError threw')),
      printed.join('\n'),
    );
    assert.ok(
      printed.some((line) => line.startsWith('error:') && line.includes('onError rejected')),
      printed.join('\n'),
    );

    const errors: unknown[] = [];
    srv.ctx.onError = (error) => void errors.push(error);
    srv.ctx.setLogHandler(() => {
      throw new Error('log handler');
    });
    const peer = await rawPeer(t, srv.port);
    peer.send({ opcode: OP.TEXT, payload: 'x' });
    assert.equal(await nextCloseCode(peer), 1011);
    await delay(20);
    assert.ok(errors.some((e) => (e as Error).message === 'log handler'));
    await assertNothingEscaped();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Logging

describe('logging: off by default, levels to a handler, notable failures logged', () => {
  it('off by default: failing connections print nothing', async (t) => {
    const printed = captureConsole(t);
    const ctx = new Context({ closeTimeoutMs: 300 }); // no log option: the default
    t.after(() => withTimeout(ctx.close(), 5000, 'close'));
    assert.equal(ctx.logEnabled, false);
    ctx.onMessage = (conn, msg) => void conn.sendText(msg.payload);
    const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
    const clientCtx = new Context();
    t.after(() => withTimeout(clientCtx.close(), 5000, 'close'));
    // A protocol violation, a refused handshake (also seen by our client), and a refused connection.
    const peer = await rawPeer(t, listener.port);
    peer.send({ opcode: OP.TEXT, payload: 'x', mask: false });
    assert.equal(await nextCloseCode(peer), 1002);
    await rawHttp(listener.port, 'POST / HTTP/1.1\r\nHost: x\r\n\r\n');
    ctx.onOpen = () => false;
    await rejection(Conn.open(clientCtx, `ws://127.0.0.1:${listener.port}/`, { timeoutMs: 3000 }));
    await rejection(Conn.open(clientCtx, `ws://127.0.0.1:${await closedPort()}/`, { timeoutMs: 3000 }));
    await delay(50);
    assert.deepEqual(printed, []);
  });

  it('a handler error with no onError is printed once with console.error (not lost); with onError, nothing is printed', async (t) => {
    const printed = captureConsole(t);
    const srv = await startServer(t);
    srv.ctx.setLogHandler(null);
    srv.ctx.onError = null;
    srv.ctx.onMessage = () => {
      throw new Error('unobserved');
    };
    const peer = await rawPeer(t, srv.port);
    peer.send({ opcode: OP.TEXT, payload: 'x' });
    assert.equal(await nextCloseCode(peer), 1011);
    assert.equal(printed.length, 1);
    assert.match(printed[0]!, /^error: nopoll: a handler threw:.*unobserved/);
    printed.length = 0;
    srv.ctx.onError = () => undefined;
    const other = await rawPeer(t, srv.port);
    other.send({ opcode: OP.TEXT, payload: 'x' });
    assert.equal(await nextCloseCode(other), 1011);
    assert.deepEqual(printed, []);
  });

  it('the log option, setLogHandler and setLogEnabled deliver levels; null turns it off', async (t) => {
    const srv = await startServer(t);
    const { ctx } = recordedContext(t);
    // debug: a normal close, on both sides.
    const conn = await Conn.open(ctx, srv.url, { timeoutMs: 3000 });
    await withTimeout(conn.close(), 5000, 'close');
    const { conn: serverConn } = await srv.ended.next(3000, 'server side ended');
    assertLogged(srv.logs, 'debug', `conn ${serverConn.id} (listener 127.0.0.1:`);
    assertLogged(srv.logs, 'debug', 'closed: code 1000');
    // setLogHandler replaces the handler; null turns logging off.
    const lines: LogLine[] = [];
    srv.ctx.setLogHandler((level, text) => void lines.push({ level, text }));
    assert.equal(srv.ctx.logEnabled, true);
    const refused = await rawHttp(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(refused.response?.status, 400);
    await srv.ended.next(3000, 'refused');
    assertLogged(lines, 'warning', 'NOPOLL_ERR_HANDSHAKE, HTTP 400');
    srv.ctx.setLogHandler(null);
    assert.equal(srv.ctx.logEnabled, false);
    const before = lines.length;
    await rawHttp(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await srv.ended.next(3000, 'refused again');
    assert.equal(lines.length, before);
    // setLogEnabled(true) (and the option `log: true`) print to the console as "nopoll [level] text".
    const printed = captureConsole(t);
    srv.ctx.setLogEnabled(true);
    await rawHttp(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await srv.ended.next(3000, 'refused, logged to the console');
    srv.ctx.setLogEnabled(false);
    assert.ok(
      printed.some((line) => line.startsWith('log: nopoll [warning] ') && line.includes('HTTP 400')),
      printed.join('\n'),
    );
    assert.equal(new Context({ log: true }).logEnabled, true);
  });

  it('levels: protocol error and handshake refusal → warning, handler error → critical, socket error → debug', async (t) => {
    const srv = await startServer(t);
    srv.ctx.onMessage = (conn, msg) => {
      if (msg.text === 'boom') throw new Error('boom');
      conn.sendText(msg.payload);
    };
    const violator = await rawPeer(t, srv.port);
    violator.send({ opcode: 3 });
    assert.equal(await nextCloseCode(violator), 1002);
    violator.end();
    await srv.ended.next(3000, 'violator');
    await rawHttp(srv.port, 'GET / HTTP/1.0\r\n\r\n');
    await srv.ended.next(3000, 'refused');
    const thrower = await rawPeer(t, srv.port);
    thrower.send({ opcode: OP.TEXT, payload: 'boom' });
    assert.equal(await nextCloseCode(thrower), 1011);
    const resetter = await rawPeer(t, srv.port);
    await delay(20);
    resetter.socket.resetAndDestroy();
    thrower.destroy();
    await srv.ended.next(3000, 'thrower');
    await srv.ended.next(3000, 'resetter');
    assertLogged(srv.logs, 'warning', 'NOPOLL_ERR_INVALID_OPCODE, close code 1002');
    assertLogged(srv.logs, 'warning', 'NOPOLL_ERR_HANDSHAKE, HTTP 400');
    assertLogged(srv.logs, 'critical', 'handler error: Error: boom');
    assertLogged(srv.logs, 'debug', 'NOPOLL_ERR_CLOSED');
    for (const line of srv.logs) assert.ok(['debug', 'warning', 'critical'].includes(line.level));
  });
});
