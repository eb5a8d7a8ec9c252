/**
 * Issue 6, timeouts: idle timeout, heartbeat on both sides (src/transport/keepalive.ts), and slowloris against the
 * handshake timeout (src/transport/server-accept.ts). Short configured timeouts; the hang guard is the runner's
 * timeout and bounded waits, never a clock assertion.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { TimeoutError } from '../../src/errors.js';
import { OP, RawServer, parseClose, rawClient, tcpConnect } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

describe('idle timeout (keepalive.ts: Keepalive.#fire → SocketDriver.keepaliveIdle)', () => {
  it('server: a silent client gets a 1001 close frame and the connection ends with TimeoutError(idle)', async (t) => {
    const srv = await startEchoListener({ idleTimeoutMs: 150 });
    t.after(() => srv.close());
    const { peer } = await rawClient(srv.port);
    t.after(() => peer.destroy());
    const conn = await srv.ready.next(3000, 'server conn');
    const frame = await peer.nextFrame(5000);
    assert.equal(frame.opcode, OP.CLOSE);
    assert.equal(parseClose(frame.payload).code, 1001);
    peer.send({ opcode: OP.CLOSE, payload: frame.payload });
    await peer.waitEnded(5000); // §7.1.1: the server ends TCP first, then we do
    peer.end();
    const info = await withTimeout(conn.closed, 5000, 'server conn closed');
    assert.ok(info.error instanceof TimeoutError);
    assert.equal((info.error as TimeoutError).phase, 'idle');
  });

  it('server: traffic keeps the connection open past the idle timeout', async (t) => {
    const srv = await startEchoListener({ idleTimeoutMs: 200 });
    t.after(() => srv.close());
    const { peer } = await rawClient(srv.port);
    t.after(() => peer.destroy());
    const conn = await srv.ready.next(3000, 'server conn');
    // Ten echoes spaced by 60 ms: 600 ms in all, three idle periods, never 200 ms of silence.
    for (let i = 0; i < 10; i++) {
      peer.send({ opcode: OP.TEXT, payload: Buffer.from(`m${i}`) });
      const echo = await peer.nextFrame(3000);
      assert.equal(echo.opcode, OP.TEXT);
      await new Promise((r) => setTimeout(r, 60));
    }
    assert.equal(conn.isOk, true);
  });

  it('client: a silent server gets a 1001 close frame from our client', async (t) => {
    const raw = await RawServer.start();
    const ctx = new Context({ idleTimeoutMs: 150, closeTimeoutMs: 300 });
    t.after(async () => {
      await raw.close();
      await withTimeout(ctx.close(), 5000, 'ctx close');
    });
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`);
    const peer = RawServer.accept(await raw.next());
    await conn.waitUntilReady({ timeoutMs: 3000 });
    const frame = await peer.nextFrame(5000);
    assert.equal(frame.opcode, OP.CLOSE);
    assert.equal(parseClose(frame.payload).code, 1001);
    const info = await withTimeout(conn.closed, 5000, 'client closed');
    assert.equal((info.error as TimeoutError).phase, 'idle');
  });
});

describe('heartbeat (keepalive.ts: keepalivePing / keepaliveDead)', () => {
  it('server: pings a quiet client; a client that answers stays connected', async (t) => {
    const srv = await startEchoListener({ pingIntervalMs: 80, pongTimeoutMs: 300 });
    t.after(() => srv.close());
    const { peer } = await rawClient(srv.port);
    t.after(() => peer.destroy());
    const conn = await srv.ready.next(3000, 'server conn');
    for (let i = 0; i < 4; i++) {
      const ping = await peer.nextFrame(5000);
      assert.equal(ping.opcode, OP.PING);
      peer.send({ opcode: OP.PONG, payload: ping.payload });
    }
    assert.equal(conn.isOk, true);
  });

  it('server: a client that never answers is dropped (1006, TimeoutError(heartbeat), no close frame)', async (t) => {
    const srv = await startEchoListener({ pingIntervalMs: 80, pongTimeoutMs: 120 });
    t.after(() => srv.close());
    const { peer } = await rawClient(srv.port);
    t.after(() => peer.destroy());
    const conn = await srv.ready.next(3000, 'server conn');
    const ping = await peer.nextFrame(5000);
    assert.equal(ping.opcode, OP.PING);
    const info = await withTimeout(conn.closed, 5000, 'server conn dropped');
    assert.equal(info.code, 1006);
    assert.ok(info.error instanceof TimeoutError);
    assert.equal((info.error as TimeoutError).phase, 'heartbeat');
    await peer.waitEnded(5000);
    assert.equal(peer.frames.size, 0, 'no close frame: the connection was dropped');
  });

  it('client: our client pings a quiet server and drops it when it does not answer', async (t) => {
    const raw = await RawServer.start();
    const ctx = new Context();
    t.after(async () => {
      await raw.close();
      await withTimeout(ctx.close(), 5000, 'ctx close');
    });
    const conn = Conn.connect(ctx, `ws://127.0.0.1:${raw.port}/`, { pingIntervalMs: 80, pongTimeoutMs: 120 });
    const peer = RawServer.accept(await raw.next());
    await conn.waitUntilReady({ timeoutMs: 3000 });
    const ping = await peer.nextFrame(5000);
    assert.equal(ping.opcode, OP.PING);
    assert.equal(ping.masked, true);
    const info = await withTimeout(conn.closed, 5000, 'client dropped');
    assert.equal(info.code, 1006);
    assert.equal((info.error as TimeoutError).phase, 'heartbeat');
  });

  it('off by default: no ping within several would-be intervals', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const { peer } = await rawClient(srv.port);
    t.after(() => peer.destroy());
    await srv.ready.next(3000, 'server conn');
    await assert.rejects(peer.nextFrame(300), /timed out/);
  });
});

describe('slowloris (server-accept.ts: the handshake timer in readUpgradeRequest)', () => {
  it('200 connections that send a head one byte at a time, or nothing, are all cut; the listener still serves', async (t) => {
    const srv = await startEchoListener({ handshakeTimeoutMs: 300 });
    const sockets: Socket[] = [];
    const drips: NodeJS.Timeout[] = [];
    t.after(async () => {
      for (const d of drips) clearInterval(d);
      for (const s of sockets) s.destroy();
      await srv.close();
    });
    const head = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
    const closed: Array<Promise<void>> = [];
    for (let i = 0; i < 200; i++) {
      const socket = await tcpConnect(srv.port);
      socket.on('error', () => undefined);
      socket.resume();
      sockets.push(socket);
      // The raw socket allows half-open TCP: the server's FIN (or the close after its reset) is the cut.
      closed.push(
        new Promise((resolve) => (socket.once('end', () => resolve()), socket.once('close', () => resolve()))),
      );
      if (i % 2 === 0) {
        let at = 0;
        const drip = setInterval(() => {
          if (socket.destroyed || at >= head.length) return;
          socket.write(head.subarray(at, at + 1));
          at++;
        }, 20);
        drips.push(drip);
      }
    }
    await withTimeout(Promise.all(closed), 20_000, 'every slow connection cut by the server');
    for (const d of drips) clearInterval(d);
    const { peer } = await rawClient(srv.port);
    peer.send({ opcode: OP.TEXT, payload: Buffer.from('still here') });
    assert.equal((await peer.nextFrame(3000)).payload.toString(), 'still here');
    peer.destroy();
  });
});
