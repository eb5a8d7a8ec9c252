/**
 * Browser code type-checks against nopoll's WHATWG `WebSocket` under `tsc --strict`, with no casts, and runs.
 * The `browserClient` function below is written as it would be for a browser (lib.dom's types): `onmessage` gets a
 * `MessageEvent` whose `data` is used as browsers allow, `onclose` a `CloseEvent`, and `addEventListener` gives each
 * event name its own event type. Before these types, `ev.data`, `ev.code` and friends did not compile (the handlers
 * received a plain `Event`). The `@ts-expect-error` lines check that the types are precise, not `any`: each would
 * compile, and so fail the build, if the event type were too loose.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, type WebSocketEventMap, type WebSocketMessageData } from '../../src/api/websocket.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

interface Seen {
  opened: boolean;
  json: unknown;
  bytes: number[];
  code: number;
  reason: string;
  wasClean: boolean;
  types: string[];
}

// Browser code, unchanged.
function browserClient(url: string, done: (seen: Seen) => void): WebSocket {
  const seen: Seen = { opened: false, json: null, bytes: [], code: 0, reason: '', wasClean: false, types: [] };
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = (event) => {
    seen.opened = event.type === 'open' && ws.readyState === WebSocket.OPEN;
    ws.send(JSON.stringify({ hello: 'world' }));
  };
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') {
      seen.json = JSON.parse(event.data);
      ws.send(new Uint8Array([1, 2, 3]));
    } else {
      seen.bytes = Array.from(new Uint8Array(event.data));
      ws.close(4000, 'done');
    }
  };
  ws.addEventListener('message', (event) => {
    seen.types.push(`${event.type}:${event.origin}`);
  });
  ws.addEventListener('open', function (event) {
    seen.types.push(`${event.type}:${this.url}`);
  });
  ws.addEventListener('close', (event) => {
    seen.code = event.code;
    seen.reason = event.reason;
    seen.wasClean = event.wasClean;
    done(seen);
  });
  ws.onerror = (event) => {
    seen.types.push(event.type);
  };
  return ws;
}

// The types are precise where browsers' are: none of these compile.
function misuses(ws: WebSocket): void {
  // @ts-expect-error: a close event's code is a number
  ws.onclose = (event) => event.code.toUpperCase();
  // @ts-expect-error: an open event has no data
  ws.addEventListener('open', (event) => event.data);
  // @ts-expect-error: a close event has no data either
  ws.addEventListener('close', (event) => event.data);
  // @ts-expect-error: wasClean is a boolean
  ws.addEventListener('close', (event: WebSocketEventMap['close']) => event.wasClean.length);
  // What a message holds at run time, for code that wants it narrowed.
  ws.onmessage = (event) => {
    const data: WebSocketMessageData = event.data;
    // @ts-expect-error: binary data is not a string
    const text: string = data;
    return text;
  };
}

describe('WHATWG WebSocket types (browser code under tsc --strict)', () => {
  it('browser-style handlers receive typed MessageEvent and CloseEvent objects', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const seen = await withTimeout(
      new Promise<Seen>((resolve) => {
        const ws = browserClient(srv.url, resolve);
        t.after(() => ws.close());
      }),
      5000,
      'the browser-style client',
    );
    assert.equal(seen.opened, true);
    assert.deepEqual(seen.json, { hello: 'world' });
    assert.deepEqual(seen.bytes, [1, 2, 3]);
    assert.equal(seen.code, 4000); // the listener echoes the code (RFC 6455 §5.5.1)
    assert.equal(seen.wasClean, true);
    assert.deepEqual(seen.types, [
      `open:${srv.url}`,
      `message:ws://127.0.0.1:${srv.port}`,
      `message:ws://127.0.0.1:${srv.port}`,
    ]);
    assert.equal(typeof misuses, 'function');
  });
});
