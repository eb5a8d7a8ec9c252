/**
 * Bad input from a peer, sent by a raw client to a `ws` server and to a `nopoll/ws` server: the `'error'` the
 * server-side socket emits (`code` and message) and the close code sent back must be `ws`'s, except where `ws` is
 * wrong by RFC 6455 and nopoll's behaviour wins (docs/ws-migration.md): nopoll fails a text message at its first
 * invalid UTF-8 byte instead of after the last fragment, and has no limit on the number of fragments (its memory
 * follows bytes). Also: nobody listening for `'error'` never ends the process.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer as WsServer } from 'ws';
import { WebSocketServer as NopollServer, type WsError } from '../../src/ws/index.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { closeBody, OP, parseClose, rawClient, type FrameSpec } from '../helpers/raw-peer.js';
import type { Lib } from '../helpers/ws-programs.js';

interface Started {
  port: number;
  errors: AsyncQueue<WsError>;
  messages: AsyncQueue<number>;
}

async function startServer(t: TestContext, lib: Lib, maxPayload?: number, listenErrors = true): Promise<Started> {
  const options = { host: '127.0.0.1', port: 0, ...(maxPayload !== undefined ? { maxPayload } : {}) };
  const wss = lib === 'ws' ? new WsServer(options) : new NopollServer(options);
  await withTimeout(new Promise((resolve) => wss.once('listening', resolve)), 5000, 'listening');
  const errors = new AsyncQueue<WsError>();
  const messages = new AsyncQueue<number>();
  wss.on('connection', (ws: { on(event: string, listener: (...args: never[]) => void): unknown }) => {
    if (listenErrors) ws.on('error', (error: WsError) => errors.push(error));
    ws.on('message', (data: Buffer) => messages.push(data.length));
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients as Set<{ terminate(): void }>) client.terminate();
        wss.close(() => resolve());
      }),
  );
  return { port: (wss.address() as AddressInfo).port, errors, messages };
}

/** Sends `frames` from a raw client; reports the server's error and the close code it sent (or none). */
async function send(t: TestContext, lib: Lib, frames: FrameSpec[], maxPayload?: number): Promise<string> {
  const server = await startServer(t, lib, maxPayload);
  const { peer } = await rawClient(server.port);
  t.after(() => peer.destroy());
  peer.sendAll(frames);
  const frame = await peer.nextFrame(1000).catch(() => null);
  const close =
    frame === null
      ? 'no close frame'
      : frame.opcode === OP.CLOSE
        ? `close ${parseClose(frame.payload).code}`
        : `frame ${frame.opcode}`;
  // As a client does: answer the close frame and end TCP. (nopoll/ws reports the error once the connection has
  // ended; ws as soon as it sees the bad frame.)
  if (frame?.opcode === OP.CLOSE) {
    peer.send({ opcode: OP.CLOSE, payload: frame.payload });
    peer.end();
  }
  const error = await server.errors.next(frame === null ? 50 : 2000).catch(() => null);
  return `${error === null ? 'no error' : `${error.code}: ${error.message}`}; ${close}`;
}

const text = (payload: Buffer | string, fin = true): FrameSpec => ({ opcode: OP.TEXT, payload, fin });
const BAD_UTF8 = Buffer.from([0x68, 0xc3, 0x28]); // "h", then a 2-byte lead followed by a non-continuation byte

const SAME: Array<[string, FrameSpec[], string, number?]> = [
  [
    'an unmasked frame',
    [{ opcode: OP.TEXT, payload: 'x', mask: false }],
    'WS_ERR_EXPECTED_MASK: Invalid WebSocket frame: MASK must be set; close 1002',
  ],
  [
    'RSV1 without an extension',
    [{ opcode: OP.TEXT, payload: 'x', rsv: 0x40 }],
    'WS_ERR_UNEXPECTED_RSV_1: Invalid WebSocket frame: RSV1 must be clear; close 1002',
  ],
  [
    'a reserved opcode',
    [{ opcode: 3, payload: 'x' }],
    'WS_ERR_INVALID_OPCODE: Invalid WebSocket frame: invalid opcode 3; close 1002',
  ],
  [
    'a continuation with no message open',
    [{ opcode: OP.CONT, payload: 'x' }],
    'WS_ERR_INVALID_OPCODE: Invalid WebSocket frame: invalid opcode 0; close 1002',
  ],
  [
    'a fragmented ping',
    [{ opcode: OP.PING, payload: 'x', fin: false }],
    'WS_ERR_EXPECTED_FIN: Invalid WebSocket frame: FIN must be set; close 1002',
  ],
  [
    'a ping of 126 bytes',
    [{ opcode: OP.PING, payload: Buffer.alloc(126) }],
    'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: Invalid WebSocket frame: invalid payload length 126; close 1002',
  ],
  [
    'a close body of 1 byte',
    [{ opcode: OP.CLOSE, payload: Buffer.from([3]) }],
    'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: Invalid WebSocket frame: invalid payload length 1; close 1002',
  ],
  [
    'close code 1005 on the wire',
    [{ opcode: OP.CLOSE, payload: closeBody(1005) }],
    'WS_ERR_INVALID_CLOSE_CODE: Invalid WebSocket frame: invalid status code 1005; close 1002',
  ],
  [
    'invalid UTF-8 in a text message',
    [text(BAD_UTF8)],
    'WS_ERR_INVALID_UTF8: Invalid WebSocket frame: invalid UTF-8 sequence; close 1007',
  ],
  [
    'invalid UTF-8 in a close reason',
    [{ opcode: OP.CLOSE, payload: closeBody(1000, BAD_UTF8) }],
    'WS_ERR_INVALID_UTF8: Invalid WebSocket frame: invalid UTF-8 sequence; close 1007',
  ],
  [
    'a message over maxPayload',
    [{ opcode: OP.BINARY, payload: Buffer.alloc(2000) }],
    'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: Max payload size exceeded; close 1009',
    1000,
  ],
  [
    'fragments over maxPayload together',
    [
      { opcode: OP.BINARY, payload: Buffer.alloc(600), fin: false },
      { opcode: OP.CONT, payload: Buffer.alloc(600) },
    ],
    'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: Max payload size exceeded; close 1009',
    1000,
  ],
];

describe('bad input: nopoll/ws reports what ws reports', () => {
  for (const [what, frames, expected, maxPayload] of SAME) {
    it(what, async (t) => {
      assert.equal(await send(t, 'ws', frames, maxPayload), expected, 'ws');
      assert.equal(await send(t, 'nopoll/ws', frames, maxPayload), expected, 'nopoll/ws');
    });
  }
});

describe('bad input: where nopoll/ws differs from ws, and why', () => {
  it('RSV2: the same close code; nopoll cannot tell which RSV bit was set, so the error names RSV1', async (t) => {
    const frames = [{ opcode: OP.TEXT, payload: 'x', rsv: 0x20 }];
    assert.equal(
      await send(t, 'ws', frames),
      'WS_ERR_UNEXPECTED_RSV_2_3: Invalid WebSocket frame: RSV2 and RSV3 must be clear; close 1002',
    );
    assert.equal(
      await send(t, 'nopoll/ws', frames),
      'WS_ERR_UNEXPECTED_RSV_1: Invalid WebSocket frame: RSV1 must be clear; close 1002',
    );
  });

  it('invalid UTF-8 in the first fragment fails the connection at once (RFC 6455 §8.1); ws waits for the last fragment', async (t) => {
    const frames = [text(BAD_UTF8, false)];
    assert.equal(await send(t, 'ws', frames), 'no error; no close frame');
    assert.equal(
      await send(t, 'nopoll/ws', frames),
      'WS_ERR_INVALID_UTF8: Invalid WebSocket frame: invalid UTF-8 sequence; close 1007',
    );
  });

  it('20,000 small fragments make one message: no fragment-count limit (ws closes with 1008)', async (t) => {
    const count = 20_000;
    const frames: FrameSpec[] = [{ opcode: OP.BINARY, payload: 'a', fin: false }];
    for (let i = 1; i < count - 1; i++) frames.push({ opcode: OP.CONT, payload: 'a', fin: false });
    frames.push({ opcode: OP.CONT, payload: 'a' });
    assert.equal(await send(t, 'ws', frames), 'WS_ERR_TOO_MANY_BUFFERED_PARTS: Too many message fragments; close 1008');
    const server = await startServer(t, 'nopoll/ws');
    const { peer } = await rawClient(server.port);
    t.after(() => peer.destroy());
    peer.sendAll(frames);
    assert.equal(await server.messages.next(5000, 'the assembled message'), count);
  });

  it('an error nobody listens for does not end the process (ws would throw it)', async (t) => {
    const server = await startServer(t, 'nopoll/ws', undefined, false);
    const { peer } = await rawClient(server.port);
    t.after(() => peer.destroy());
    peer.send(text(BAD_UTF8));
    const frame = await peer.nextFrame(2000);
    assert.equal(parseClose(frame.payload).code, 1007);
    // Still alive and serving.
    const again = await rawClient(server.port);
    again.peer.send(text('fine'));
    assert.equal(await server.messages.next(2000, 'a message after the failure'), 4);
    again.peer.destroy();
  });
});
