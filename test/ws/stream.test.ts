/**
 * `createWebSocketStream` of `nopoll/ws`, side by side with `ws`'s: data both ways, ending (closing handshake),
 * destroying (terminate), errors, backpressure (the socket pauses), object mode, writes before the socket opened.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex, DuplexOptions } from 'node:stream';
import WebSocket, { createWebSocketStream as wsStream } from 'ws';
import { createWebSocketStream as nopollStream, WebSocket as NopollWebSocket } from '../../src/ws/index.js';
import { delay, withTimeout } from '../helpers/ws-async.js';
import { startWsServer, type WsServerHandle } from '../helpers/ws-peers.js';
import { RawServer } from '../helpers/raw-peer.js';
import { LIBS, type Lib } from '../helpers/ws-programs.js';

interface SocketLike {
  readonly isPaused: boolean;
  terminate(): void;
}

function open(lib: Lib, url: string, options?: DuplexOptions): { ws: SocketLike; duplex: Duplex } {
  if (lib === 'ws') {
    const ws = new WebSocket(url);
    return { ws, duplex: wsStream(ws, options) };
  }
  const ws = new NopollWebSocket(url);
  return { ws, duplex: nopollStream(ws, options) };
}

async function same<T>(t: TestContext, check: (t: TestContext, lib: Lib) => Promise<T>): Promise<T> {
  const results: T[] = [];
  for (const lib of LIBS) results.push(await check(t, lib));
  assert.deepEqual(results[1], results[0], 'nopoll/ws observes what ws observes');
  return results[0]!;
}

async function server(t: TestContext, echo = true): Promise<WsServerHandle> {
  const s = await startWsServer({}, echo);
  t.after(() => s.close());
  return s;
}

function closed(duplex: Duplex): Promise<void> {
  return withTimeout(new Promise((resolve) => duplex.once('close', () => resolve())), 5000, "the stream's close");
}

describe('createWebSocketStream', () => {
  it('writes before the socket opened wait for it; chunks come back; end() closes with a handshake', async (t) => {
    const result = await same(t, async (t, lib) => {
      const s = await server(t);
      const { ws, duplex } = open(lib, s.url, { encoding: 'utf8' });
      t.after(() => ws.terminate());
      duplex.write('hello ');
      duplex.write(Buffer.from('world'));
      let text = '';
      duplex.on('data', (chunk: string) => (text += chunk));
      const peer = await s.connections.next();
      await withTimeout(
        (async () => {
          while (text.length < 11) await delay(5);
        })(),
        5000,
        'the echo',
      );
      const done = closed(duplex);
      duplex.end();
      const code = (await peer.closed).code;
      await done;
      return [text, code, duplex.destroyed, duplex.readableEnded, duplex.writableFinished];
    });
    assert.deepEqual(result, ['hello world', 1005, true, true, true]);
  });

  it('destroy() terminates the socket', async (t) => {
    const result = await same(t, async (t, lib) => {
      const s = await server(t);
      const { ws, duplex } = open(lib, s.url);
      t.after(() => ws.terminate());
      await withTimeout(new Promise((resolve) => (ws as unknown as WebSocket).once('open', resolve)), 5000, 'open');
      const peer = await s.connections.next();
      const done = closed(duplex);
      duplex.destroy();
      await done;
      return (await peer.closed).code;
    });
    assert.equal(result, 1006);
  });

  it('a full readable side pauses the socket until it is read; object mode gives text as strings', async (t) => {
    const result = await same(t, async (t, lib) => {
      const s = await server(t, false);
      const { ws, duplex } = open(lib, s.url, { readableObjectMode: true, readableHighWaterMark: 2 });
      t.after(() => ws.terminate());
      const peer = await s.connections.next();
      for (let i = 0; i < 5; i++) peer.ws.send(i % 2 === 0 ? `text ${i}` : Buffer.from(`bin ${i}`));
      await withTimeout(
        (async () => {
          while (!ws.isPaused) await delay(5);
        })(),
        5000,
        'the socket pausing',
      );
      const got: string[] = [];
      for (let chunk = duplex.read() as unknown; got.length < 5; chunk = duplex.read() as unknown) {
        if (chunk === null) {
          await delay(5);
          continue;
        }
        got.push(`${typeof chunk === 'string' ? 'string' : 'Buffer'} ${String(chunk)}`);
      }
      return [...got, `paused after reading: ${ws.isPaused}`];
    });
    assert.deepEqual(result.slice(0, 2), ['string text 0', 'Buffer bin 1']);
  });

  it("a protocol error destroys the stream with ws's error (and, on nopoll/ws, never ends the process)", async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const result = await same(t, async (t, lib) => {
      const { ws, duplex } = open(lib, `ws://127.0.0.1:${raw.port}/`);
      t.after(() => ws.terminate());
      const error = withTimeout(
        new Promise<Error & { code?: string }>((resolve) => duplex.once('error', resolve)),
        5000,
        'the error',
      );
      const done = closed(duplex);
      const peer = RawServer.accept(await raw.next());
      peer.send({ opcode: 0x1, payload: Buffer.from([0xc3, 0x28]) });
      const answer = await peer.nextFrame();
      peer.send({ opcode: 0x8, payload: answer.payload });
      peer.end();
      const e = await error;
      await done;
      return [e.code, duplex.destroyed];
    });
    assert.deepEqual(result, ['WS_ERR_INVALID_UTF8', true]);
    const { ws, duplex } = open('nopoll/ws', `ws://127.0.0.1:${raw.port}/`);
    t.after(() => ws.terminate());
    const done = closed(duplex);
    const peer = RawServer.accept(await raw.next());
    peer.send({ opcode: 0x1, payload: Buffer.from([0xff]) });
    peer.send({ opcode: 0x8, payload: (await peer.nextFrame()).payload });
    peer.end();
    await done;
    assert.equal(duplex.destroyed, true);
  });
});
