/**
 * Frames a client sends right behind its request head, in the same write or in later writes before the server has
 * answered, are all delivered in order: with no onOpen handler, a synchronous one, and an asynchronous one that
 * decides only after those frames arrived (the listener holds the socket paused only for an asynchronous decision).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { encodeFrame, OP, RawPeer, readHead, tcpConnect } from '../helpers/raw-peer.js';

type OnOpenMode = 'none' | 'sync' | 'async';

async function startEcho(t: TestContext, mode: OnOpenMode, decided: Promise<void>): Promise<number> {
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => {
    conn.sendText(msg.payload);
  };
  if (mode === 'sync') ctx.onOpen = () => true;
  if (mode === 'async')
    ctx.onOpen = async () => {
      await decided;
      return true;
    };
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  t.after(() => ctx.close());
  return listener.port;
}

function requestHead(port: number): Buffer {
  const key = randomBytes(16).toString('base64');
  return Buffer.from(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    'latin1',
  );
}

const text = (s: string): Buffer => encodeFrame({ opcode: OP.TEXT, payload: Buffer.from(s) }, true);

describe('frames pipelined behind the request head', () => {
  for (const mode of ['none', 'sync', 'async'] as const) {
    it(`all arrive, in order, with ${mode === 'none' ? 'no onOpen handler' : `a ${mode} onOpen handler`}`, async (t) => {
      let decide!: () => void;
      const decided = new Promise<void>((resolve) => (decide = resolve));
      const port = await startEcho(t, mode, decided);
      const socket = await tcpConnect(port);
      t.after(() => socket.destroy());
      // One frame in the same write as the head, two more in later writes before any answer.
      socket.write(Buffer.concat([requestHead(port), text('one')]));
      await new Promise((resolve) => setTimeout(resolve, 30));
      socket.write(text('two'));
      await new Promise((resolve) => setTimeout(resolve, 30));
      socket.write(text('three'));
      await new Promise((resolve) => setTimeout(resolve, 30));
      decide();
      const { head, rest } = await readHead(socket);
      assert.match(head, /^HTTP\/1\.1 101 /);
      const peer = new RawPeer(socket, true, rest);
      socket.resume();
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push((await peer.nextFrame()).payload.toString());
      assert.deepEqual(got, ['one', 'two', 'three']);
    });
  }
});
