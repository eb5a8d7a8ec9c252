/**
 * The server seen from Node's own `http2` client doing extended CONNECT by hand, frames built and read by the test:
 * an echo, each refusal with its status on the stream (version 426, Origin 403, onOpen 403, a subprotocol the
 * client did not offer 400, another protocol 501, a classic CONNECT 405, an ordinary request 404 or the
 * application's handler), and, through a relay that decodes the HTTP/2 frames, how a WebSocket ends: END_STREAM
 * both ways, never RST_STREAM, the other streams untouched.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Conn, Context } from '../../src/index.js';
import { H2, h2FrameRelay, nodeH2Session, rawConnect, readBody, startH2Echo } from '../helpers/h2.js';
import { FrameReader, clientFrame, closeBody } from '../helpers/net.js';
import { withTimeout } from '../helpers/ws-async.js';

const OP = { TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

for (const tls of [false, true]) {
  describe(`Node's http2 client doing extended CONNECT by hand ${tls ? 'over TLS' : 'in cleartext'}`, () => {
    it('gets 200, exchanges masked frames with the echo, and closes cleanly', async (t) => {
      const srv = await startH2Echo(t, { tls, opts: { protocols: ['chat'] } });
      const session = await nodeH2Session(t, srv.origin);
      assert.equal(session.remoteSettings.enableConnectProtocol, true, 'SETTINGS_ENABLE_CONNECT_PROTOCOL advertised');
      assert.ok((session.remoteSettings.initialWindowSize ?? 0) >= 1024 * 1024, 'a stream window past 64 KiB');
      const { stream, status, headers } = await rawConnect(session, '/chat?x=1', {
        'sec-websocket-protocol': 'chat, other',
        origin: 'https://example.com',
      });
      assert.equal(status, 200);
      assert.equal(headers['sec-websocket-protocol'], 'chat');
      assert.equal(headers['sec-websocket-accept'], undefined, 'no Sec-WebSocket-Accept over HTTP/2');
      const server = await srv.ready.next(3000, 'the server side');
      assert.equal(server.httpVersion, '2');
      assert.equal(server.requestedUrl, '/chat?x=1');
      assert.equal(server.origin, 'https://example.com');
      assert.equal(server.acceptedProtocol, 'chat');

      const reader = new FrameReader(stream as unknown as Socket);
      stream.write(clientFrame(OP.TEXT, 'over h2'));
      const echoed = await reader.next();
      assert.deepEqual([echoed.opcode, echoed.payload.toString(), echoed.masked], [OP.TEXT, 'over h2', false]);
      stream.write(clientFrame(OP.PING, 'p'));
      const pong = await reader.next();
      assert.deepEqual([pong.opcode, pong.payload.toString()], [OP.PONG, 'p']);
      stream.write(clientFrame(OP.CLOSE, closeBody(1000, 'done')));
      const close = await reader.next();
      assert.equal(close.opcode, OP.CLOSE);
      assert.equal(close.payload.readUInt16BE(0), 1000);
      // The server ends its side with END_STREAM (§7.1.1: it closes first), so our side sees the end of the stream.
      await withTimeout(
        new Promise<void>((resolve) => (reader.ended ? resolve() : stream.once('end', () => resolve()))),
        3000,
        'END_STREAM from the server',
      );
      stream.end();
      await withTimeout(
        new Promise<void>((resolve) => stream.once('close', () => resolve())),
        3000,
        'the stream closing',
      );
      assert.equal(stream.rstCode, 0);
      const info = await withTimeout(server.closed, 3000, 'the server side closing');
      assert.deepEqual([info.code, info.reason, info.wasClean], [1000, 'done', true]);
    });

    it('refuses bad handshakes on the stream with the HTTP/1.1 statuses, and serves other requests through onRequest', async (t) => {
      const ctx = new Context();
      ctx.onOpen = (conn) => conn.requestedUrl !== '/forbidden';
      const srv = await startH2Echo(t, {
        tls,
        ctx,
        opts: { requireOrigin: true },
        listen: {
          http2: {
            onRequest: (stream, headers) => {
              if (headers[':path'] === '/page') {
                stream.respond({ ':status': 200, 'content-type': 'text/plain' });
                stream.end('a page');
              } else {
                throw new Error('the handler failed');
              }
            },
          },
        },
      });
      const session = await nodeH2Session(t, srv.origin);
      const origin = { origin: 'https://example.com' };
      const cases: Array<[string, Record<string, string | undefined>, number, RegExp]> = [
        ['old version', { ...origin, 'sec-websocket-version': '8' }, 426, /version 8 not supported/],
        ['no Origin', {}, 403, /Origin header required/],
        ['refused by onOpen', { ...origin }, 403, /refused/],
        ['another protocol', { ...origin, ':protocol': 'connect-udp' }, 501, /connect-udp/],
        ['bad subprotocol', { ...origin, 'sec-websocket-protocol': 'a b' }, 400, /subprotocol/],
      ];
      for (const [what, extra, expected, body] of cases) {
        const { stream, status, headers } = await rawConnect(
          session,
          what === 'refused by onOpen' ? '/forbidden' : '/',
          extra,
        );
        assert.equal(status, expected, what);
        if (expected === 426) assert.equal(headers['sec-websocket-version'], '13');
        assert.match(await readBody(stream), body, what);
      }
      // A classic CONNECT (no :protocol) is not for us.
      const plain = session.request({ ':method': 'CONNECT', ':authority': 'example.com:443' }, { endStream: false });
      plain.on('error', () => undefined);
      const plainStatus = await withTimeout(
        new Promise<number>((resolve) => plain.once('response', (h) => resolve(Number(h[':status'])))),
        3000,
        'CONNECT',
      );
      assert.equal(plainStatus, 405);
      // Ordinary requests go to onRequest; a handler that throws answers 500 and the session goes on.
      for (const [path, expected] of [
        ['/page', 200],
        ['/boom', 500],
      ] as const) {
        const req = session.request({ ':path': path });
        req.on('error', () => undefined);
        const st = await withTimeout(
          new Promise<number>((resolve) => req.once('response', (h) => resolve(Number(h[':status'])))),
          3000,
          path,
        );
        assert.equal(st, expected, path);
        if (expected === 200) assert.equal(await readBody(req), 'a page');
      }
      // The connection is still good for a WebSocket.
      const ok = await rawConnect(session, '/', origin);
      assert.equal(ok.status, 200);
    });
  });
}

describe('how a WebSocket over HTTP/2 ends, frame by frame', () => {
  it('a close handshake ends the stream with END_STREAM both ways and no RST_STREAM; other streams go on', async (t) => {
    const srv = await startH2Echo(t);
    const relay = await h2FrameRelay(t, srv.port);
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 5000, 'closing the client context'));
    const url = `ws://127.0.0.1:${relay.port}/`;
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => Conn.open(ctx, url, { http2: true, timeoutMs: 5000 })));
    const idOf = (conn: Conn): number => (conn.stream as unknown as { id: number }).id;
    const [ida, idb, idc] = [idOf(a!), idOf(b!), idOf(c!)];
    assert.equal(new Set([ida, idb, idc]).size, 3, 'three streams');
    const serverA = await srv.ready.next(3000, 'server side a');
    await srv.ready.next(3000, 'server side b');
    await srv.ready.next(3000, 'server side c');

    await a!.close(1000, 'client closes');
    b!.sendText('after a');
    assert.equal((await b!.nextMsg({ timeoutMs: 3000 })).text, 'after a');
    await serverA.closed;
    // A close started by the server ends the same way.
    const serverSideOfC = [...srv.ctx.conns].find(
      (conn) =>
        conn !== serverA &&
        conn.isOk &&
        conn.requestedUrl === '/' &&
        conn.stream !== null &&
        (conn.stream as unknown as { id: number }).id === idc,
    );
    assert.ok(serverSideOfC, 'the server side of c');
    await serverSideOfC.close(1001, 'server closes');
    await withTimeout(c!.closed, 3000, 'c closing');
    b!.sendText('after c');
    assert.equal((await b!.nextMsg({ timeoutMs: 3000 })).text, 'after c');
    await delay(50); // let the last frames cross the relay

    for (const id of [ida, idc]) {
      const frames = relay.frames.filter((f) => f.stream === id);
      const ends = (dir: 'c2s' | 's2c'): boolean =>
        frames.some(
          (f) => f.dir === dir && (f.type === H2.DATA || f.type === H2.HEADERS) && (f.flags & H2.END_STREAM) !== 0,
        );
      assert.ok(ends('c2s'), `stream ${id}: the client sent END_STREAM`);
      assert.ok(ends('s2c'), `stream ${id}: the server sent END_STREAM`);
      assert.deepEqual(
        frames.filter((f) => f.type === H2.RST_STREAM),
        [],
        `stream ${id}: no RST_STREAM`,
      );
    }
    assert.deepEqual(
      relay.frames.filter(
        (f) =>
          f.stream === idb && (f.type === H2.RST_STREAM || ((f.flags & H2.END_STREAM) !== 0 && f.type !== H2.SETTINGS)),
      ),
      [],
      'b untouched',
    );
    assert.deepEqual(
      relay.frames.filter((f) => f.type === H2.GOAWAY),
      [],
      'the connection stays up',
    );
    await b!.close();
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
