/**
 * The WHATWG-compatible `WebSocket` class against our Listener and against a `ws` server. The expectations mirror
 * facts of the WHATWG WebSockets Standard and of the web-platform-tests `websockets/` directory (constructor
 * errors, `close()` argument checks, `binaryType`, `send` before open, close codes and `wasClean`).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloseEvent, WebSocket } from '../../src/api/websocket.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { Conn } from '../../src/api/conn.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { startWsServer } from '../helpers/ws-peers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** A nopoll echo listener choosing among `protocols`; the server-side connections are queued. */
async function echoServer(
  t: TestContext,
  protocols: string[] = [],
): Promise<{ url: string; port: number; ctx: Context; conns: AsyncQueue<Conn> }> {
  const ctx = new Context();
  const conns = new AsyncQueue<Conn>();
  ctx.onReady = (conn) => void conns.push(conn);
  ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0, opts: { protocols } });
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the echo listener'));
  return { url: `ws://127.0.0.1:${listener.port}/echo`, port: listener.port, ctx, conns };
}

/** A WebSocket whose events are recorded; closed (abandoned) after the test. */
function open(
  t: TestContext,
  url: string,
  protocols?: string | string[],
): { ws: WebSocket; events: AsyncQueue<Event>; log: string[] } {
  const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
  const events = new AsyncQueue<Event>();
  const log: string[] = [];
  for (const type of ['open', 'message', 'error', 'close']) {
    ws.addEventListener(type, (event) => {
      log.push(`${type}:${ws.readyState}`);
      events.push(event);
    });
  }
  t.after(() => ws.close());
  return { ws, events, log };
}

async function nextOf(events: AsyncQueue<Event>, type: string): Promise<Event> {
  const event = await events.next(5000, `waiting for ${type}`);
  assert.equal(event.type, type, `expected a ${type} event`);
  return event;
}

/** Waits (at most 5 s) until `list` holds `n` entries. */
async function untilLength(list: readonly unknown[], n: number, what: string): Promise<void> {
  await withTimeout(
    (async () => {
      while (list.length < n) await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
    5000,
    what,
  );
}

function assertDomException(fn: () => unknown, name: string): void {
  assert.throws(fn, (error: unknown) => error instanceof DOMException && error.name === name, `expected ${name}`);
}

describe('WebSocket: constructor', () => {
  it('has the readyState constants on the class and on instances', () => {
    assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
    assert.deepEqual([WebSocket.prototype.CONNECTING, WebSocket.prototype.CLOSED], [0, 3]);
    assert.ok(WebSocket.prototype instanceof EventTarget);
  });

  it('throws SyntaxError for URLs that are not absolute ws/wss/http/https URLs without fragment', () => {
    for (const url of [
      '/echo',
      'test',
      '?',
      'ftp://127.0.0.1/',
      'mailto:example@example.org',
      'about:blank',
      'ws://foo bar.com/',
      'wss://foo bar.com/',
      'ws://127.0.0.1/#',
      'ws://127.0.0.1/#test',
      '#test',
    ]) {
      assertDomException(() => new WebSocket(url), 'SyntaxError');
    }
  });

  it('throws SyntaxError for empty, non-token or repeated subprotocols (compared case-insensitively)', () => {
    const url = 'ws://127.0.0.1:1/';
    for (const protocols of [
      '',
      'a b',
      'a\u0001b',
      'a\u007fb',
      'a\u00e9b',
      ['echo', 'echo'],
      ['echo', 'eCho'],
      ['ok', ''],
    ]) {
      assertDomException(() => new WebSocket(url, protocols), 'SyntaxError');
    }
  });

  it('turns http(s) into ws(s), ignores stray arguments, and starts CONNECTING with empty protocol and extensions', (t) => {
    const ws = new WebSocket('http://127.0.0.1:9/a?b=c', 'echo', 'Stray argument' as never);
    ws.addEventListener('error', () => undefined);
    t.after(() => ws.close());
    assert.equal(ws.url, 'ws://127.0.0.1:9/a?b=c');
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.deepEqual([ws.protocol, ws.extensions, ws.bufferedAmount, ws.binaryType], ['', '', 0, 'blob']);
    const secure = new WebSocket('https://127.0.0.1:9/');
    secure.addEventListener('error', () => undefined);
    t.after(() => secure.close());
    assert.equal(secure.url, 'wss://127.0.0.1:9/');
  });

  it('send() before open throws InvalidStateError', async (t) => {
    const { url } = await echoServer(t);
    const { ws } = open(t, url);
    assertDomException(() => ws.send('too early'), 'InvalidStateError');
  });
});

describe('WebSocket: against a nopoll Listener', () => {
  it('opens, echoes every kind of data, and closes cleanly with the code and reason it sent', async (t) => {
    const { url, port, conns } = await echoServer(t);
    const { ws, events, log } = open(t, url);
    await nextOf(events, 'open');
    assert.equal(ws.readyState, WebSocket.OPEN);
    const server = await conns.next();

    ws.send('text ✓');
    const text = (await nextOf(events, 'message')) as MessageEvent;
    assert.equal(text.data, 'text ✓');
    assert.equal(text.origin, `ws://127.0.0.1:${port}`);

    // Default binaryType 'blob'.
    ws.send(new Uint8Array([1, 2, 3]));
    const blob = ((await nextOf(events, 'message')) as MessageEvent).data as Blob;
    assert.ok(blob instanceof Blob);
    assert.deepEqual([...new Uint8Array(await blob.arrayBuffer())], [1, 2, 3]);

    ws.binaryType = 'arraybuffer';
    const backing = new Uint16Array([0xffff, 0x0102, 0x0304, 0xffff]);
    ws.send(new Uint16Array(backing.buffer, 2, 2)); // a view with an offset: only its bytes go
    const ab = ((await nextOf(events, 'message')) as MessageEvent).data as ArrayBuffer;
    assert.ok(ab instanceof ArrayBuffer);
    assert.deepEqual([...new Uint16Array(ab)], [0x0102, 0x0304]);

    ws.send(new Uint8Array([9, 8]).buffer);
    assert.deepEqual(
      [...new Uint8Array(((await nextOf(events, 'message')) as MessageEvent).data as ArrayBuffer)],
      [9, 8],
    );
    ws.send(new DataView(new Uint8Array([5, 6, 7]).buffer, 1));
    assert.deepEqual(
      [...new Uint8Array(((await nextOf(events, 'message')) as MessageEvent).data as ArrayBuffer)],
      [6, 7],
    );

    ws.binaryType = 'nodebuffer';
    ws.send(new Blob(['blob ', 'bytes']));
    ws.send('after the blob'); // must not overtake the Blob, whose bytes are read asynchronously
    const fromBlob = ((await nextOf(events, 'message')) as MessageEvent).data as Buffer;
    assert.ok(Buffer.isBuffer(fromBlob));
    assert.equal(fromBlob.toString(), 'blob bytes');
    assert.equal(((await nextOf(events, 'message')) as MessageEvent).data, 'after the blob');

    ws.send(null as never); // converted to the string "null"
    assert.equal(((await nextOf(events, 'message')) as MessageEvent).data, 'null');
    ws.send('');
    assert.equal(((await nextOf(events, 'message')) as MessageEvent).data, '');

    ws.binaryType = 'notBlobOrArrayBuffer' as never;
    assert.equal(ws.binaryType, 'nodebuffer', 'an invalid value is ignored');

    ws.close(3000, 'done here');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const close = (await nextOf(events, 'close')) as CloseEvent;
    assert.ok(close instanceof CloseEvent);
    // The event reports the server's close frame: nopoll echoes the code, without the reason.
    assert.deepEqual([close.code, close.reason, close.wasClean], [3000, '', true]);
    const serverSaw = await withTimeout(server.closed, 5000, 'the server side closing');
    assert.deepEqual([serverSaw.code, serverSaw.reason], [3000, 'done here']);
    assert.equal(ws.readyState, WebSocket.CLOSED);
    assert.deepEqual(
      log.filter((l) => !l.startsWith('message')),
      ['open:1', 'close:3'],
    );
  });

  it('close() checks its arguments (InvalidAccessError, SyntaxError) and then does nothing', async (t) => {
    const { url, conns } = await echoServer(t);
    const { ws, events } = open(t, url);
    await nextOf(events, 'open');
    const server = await conns.next();
    for (const code of [0, 500, NaN, 'string', null, 0x10000 + 1000, 999, 1001, 1005, 2999, 5000]) {
      assertDomException(() => ws.close(code as number), 'InvalidAccessError');
    }
    assertDomException(() => ws.close('Close with only reason' as unknown as number), 'InvalidAccessError');
    assertDomException(() => ws.close(1000, 'x'.repeat(124)), 'SyntaxError');
    assertDomException(() => ws.close(1000, 'é'.repeat(62)), 'SyntaxError'); // 124 bytes of UTF-8
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.send('still open');
    assert.equal(((await nextOf(events, 'message')) as MessageEvent).data, 'still open');
    ws.close(undefined, 'é'.repeat(61));
    const close = (await nextOf(events, 'close')) as CloseEvent;
    assert.deepEqual([close.code, close.wasClean], [1000, true]);
    const serverSaw = await withTimeout(server.closed, 5000, 'the server side closing');
    assert.deepEqual(
      [serverSaw.code, serverSaw.reason],
      [1000, 'é'.repeat(61)],
      'a reason without a code is sent with 1000',
    );
    ws.close(); // once closed: nothing
    ws.close(4999);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  it('a server-initiated close gives its code and reason; sends after closing only grow bufferedAmount', async (t) => {
    const { url, conns } = await echoServer(t);
    const { ws, events } = open(t, url);
    await nextOf(events, 'open');
    const server = await conns.next();
    const seen: string[] = [];
    server.onMessage = (_c, msg) => void seen.push(msg.text);
    void server.close(4001, 'server says bye');
    const close = (await nextOf(events, 'close')) as CloseEvent;
    assert.deepEqual([close.code, close.reason, close.wasClean], [4001, 'server says bye', true]);
    ws.send('into the void');
    ws.send(new Uint8Array(10));
    assert.equal(ws.bufferedAmount, Buffer.byteLength('into the void') + 10);
    assert.deepEqual(seen, []);
  });

  it('chooses the subprotocol and reports it once open', async (t) => {
    const { url } = await echoServer(t, ['chat', 'superchat']);
    const { ws, events } = open(t, url, ['superchat', 'chat']);
    assert.equal(ws.protocol, '');
    await nextOf(events, 'open');
    assert.equal(ws.protocol, 'superchat');
    assert.equal(ws.extensions, '');
  });

  it('a refused handshake fires error then close (1006, not clean), never open', async (t) => {
    const { url, ctx } = await echoServer(t);
    ctx.onOpen = () => false;
    const { ws, events, log } = open(t, url);
    await nextOf(events, 'error');
    const close = (await nextOf(events, 'close')) as CloseEvent;
    assert.deepEqual([close.code, close.wasClean], [1006, false]);
    assert.equal(ws.readyState, WebSocket.CLOSED);
    assert.deepEqual(log, ['error:3', 'close:3']);
  });

  it('close() while CONNECTING abandons the connection: CLOSING at once, then error and close', async (t) => {
    const { url } = await echoServer(t);
    const { ws, events, log } = open(t, url);
    ws.close();
    assert.equal(ws.readyState, WebSocket.CLOSING);
    await nextOf(events, 'error');
    const close = (await nextOf(events, 'close')) as CloseEvent;
    assert.deepEqual([close.code, close.wasClean], [1006, false]);
    assert.deepEqual(log, ['error:3', 'close:3']);
  });

  it('on... properties: one listener each, kept in place when replaced, removed by null', async (t) => {
    const { url } = await echoServer(t);
    const ws = new WebSocket(url);
    t.after(() => ws.close());
    const calls: string[] = [];
    const opened = new Promise<void>((resolve) => {
      ws.onopen = () => resolve();
    });
    ws.onmessage = () => void calls.push('first handler');
    ws.addEventListener('message', () => calls.push('listener'));
    ws.onmessage = function (this: WebSocket, event: Event) {
      assert.equal(this, ws);
      calls.push(`handler ${(event as MessageEvent).data as string}`);
    };
    assert.equal(typeof ws.onmessage, 'function');
    assert.equal(ws.onerror, null);
    await withTimeout(opened, 5000, 'open');
    ws.send('x');
    await untilLength(calls, 2, 'the message');
    assert.deepEqual(calls, ['handler x', 'listener'], 'the replaced handler kept its place before the listener');
    ws.onmessage = null;
    ws.send('y');
    await untilLength(calls, 3, 'the second message');
    assert.deepEqual(calls, ['handler x', 'listener', 'listener']);
    const closed = new Promise<CloseEvent>((resolve) => {
      ws.onclose = (event) => resolve(event as CloseEvent);
    });
    ws.close(1000);
    assert.equal((await withTimeout(closed, 5000, 'close')).wasClean, true);
  });

  it('a listener or on... handler that throws is reported to onError, the others still run, the process lives', async (t) => {
    const { url } = await echoServer(t);
    const context = new Context();
    t.after(() => context.close());
    const reported: string[] = [];
    context.onError = (error) => void reported.push((error as Error).message);
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    t.after(() => process.off('uncaughtException', onUncaught));
    const ws = new WebSocket(url, [], { context });
    t.after(() => ws.close());
    const seen: string[] = [];
    const thrower = (): void => {
      throw new Error('listener boom');
    };
    const handlerObject = {
      handleEvent(): void {
        throw new Error('handleEvent boom');
      },
    };
    ws.addEventListener('message', thrower);
    ws.addEventListener('message', thrower); // the same listener twice is one listener
    ws.addEventListener('message', handlerObject);
    ws.onmessage = () => {
      throw new Error('onmessage boom');
    };
    ws.addEventListener('message', (event) => void seen.push((event as MessageEvent).data as string));
    await withTimeout(new Promise((resolve) => ws.addEventListener('open', resolve, { once: true })), 5000, 'open');
    ws.send('a');
    await untilLength(seen, 1, 'the message');
    assert.deepEqual(reported, ['listener boom', 'handleEvent boom', 'onmessage boom']);
    // Removing works with the listener the caller holds.
    ws.removeEventListener('message', thrower);
    ws.removeEventListener('message', handlerObject);
    ws.onmessage = null;
    ws.send('b');
    await untilLength(seen, 2, 'the second message');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, ['a', 'b']);
    assert.equal(reported.length, 3, 'nothing more was reported once the throwing listeners were removed');
    assert.deepEqual(uncaught, [], 'no exception reached the process');
    assert.equal(ws.readyState, WebSocket.OPEN, 'a throwing listener does not close the connection');
  });

  it('bufferedAmount counts what the socket has not handed over yet, and falls back to 0', async (t) => {
    const { url, conns } = await echoServer(t);
    const { ws, events } = open(t, url);
    await nextOf(events, 'open');
    const server = await conns.next();
    server.onMessage = () => undefined;
    server.socket!.pause(); // the server stops reading
    const chunk = new Uint8Array(4 * 1024 * 1024);
    let sent = 0;
    while (ws.bufferedAmount === 0 && sent < 16) {
      ws.send(chunk);
      sent++;
    }
    assert.ok(ws.bufferedAmount > 0, 'something is buffered');
    assert.ok(ws.bufferedAmount <= sent * chunk.length, 'never more than what was sent');
    server.socket!.resume();
    await withTimeout(
      (async () => {
        while (ws.bufferedAmount > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      20_000,
      'bufferedAmount falling to 0',
    );
  });
});

describe('WebSocket: wss://', () => {
  it('connects to a TLS listener with the options of its third argument', async (t) => {
    const fixture = (name: string): { file: string } => ({ file: join(ROOT, 'test', 'fixtures', 'tls', name) });
    const ctx = new Context();
    ctx.onMessage = (conn, msg) => void conn.sendText(`${conn.isTlsOn ? 'tls' : 'plain'} ${msg.text}`);
    const listener = await Listener.listen(ctx, {
      host: '127.0.0.1',
      port: 0,
      tls: true,
      opts: { tls: { cert: fixture('server.crt'), key: fixture('server.key') } },
    });
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing the TLS listener'));
    const clientCtx = new Context();
    t.after(() => withTimeout(clientCtx.close(), 10_000, 'closing the client context'));
    const ws = new WebSocket(`wss://localhost:${listener.port}/`, [], {
      context: clientCtx,
      opts: { tls: { ca: fixture('ca.crt') } },
    });
    const events = new AsyncQueue<Event>();
    for (const type of ['open', 'message', 'error', 'close']) ws.addEventListener(type, (event) => events.push(event));
    await nextOf(events, 'open');
    ws.send('hi');
    assert.equal(((await nextOf(events, 'message')) as MessageEvent).data, 'tls hi');
    ws.close();
    assert.equal(((await nextOf(events, 'close')) as CloseEvent).wasClean, true);

    // Without the CA the certificate is not trusted: error, then close 1006.
    const untrusting = new WebSocket(`wss://localhost:${listener.port}/`, [], { context: clientCtx });
    const failed = new AsyncQueue<Event>();
    for (const type of ['open', 'error', 'close']) untrusting.addEventListener(type, (event) => failed.push(event));
    await nextOf(failed, 'error');
    assert.equal(((await nextOf(failed, 'close')) as CloseEvent).code, 1006);
  });
});

describe('WebSocket: against a ws server', () => {
  it('exchanges text and binary and closes with the code and reason given', async (t) => {
    const wss = await startWsServer({ handleProtocols: (protocols) => (protocols.has('v2') ? 'v2' : false) }, true);
    t.after(() => wss.close());
    const { ws, events } = open(t, wss.url, ['v1', 'v2']);
    await nextOf(events, 'open');
    assert.equal(ws.protocol, 'v2');
    const server = await wss.connections.next();
    ws.binaryType = 'arraybuffer';
    ws.send('hello ws');
    assert.equal(((await nextOf(events, 'message')) as MessageEvent).data, 'hello ws');
    ws.send(new Float64Array([1.5]));
    assert.deepEqual(
      [...new Float64Array(((await nextOf(events, 'message')) as MessageEvent).data as ArrayBuffer)],
      [1.5],
    );
    ws.close(4000, 'client done');
    const close = (await nextOf(events, 'close')) as CloseEvent;
    assert.deepEqual([close.code, close.reason, close.wasClean], [4000, 'client done', true]);
    const serverSaw = await withTimeout(server.closed, 5000, 'the ws server seeing the close');
    assert.deepEqual([serverSaw.code, serverSaw.reason], [4000, 'client done']);
  });

  it('a ws server that drops the TCP connection gives close 1006, not clean', async (t) => {
    const wss = await startWsServer();
    t.after(() => wss.close());
    const { events } = open(t, wss.url);
    await nextOf(events, 'open');
    const server = await wss.connections.next();
    server.ws.terminate();
    const close = (await nextOf(events, 'close')) as CloseEvent;
    assert.deepEqual([close.code, close.wasClean], [1006, false]);
  });

  it('runs code written for browsers unchanged', async (t) => {
    const wss = await startWsServer({}, true);
    t.after(() => wss.close());
    // Browser-style code: only the standard interface, handler properties, no Node API.
    function chat(WebSocketClass: typeof WebSocket, url: string): Promise<string[]> {
      return new Promise((resolve, reject) => {
        const socket = new WebSocketClass(url);
        const got: string[] = [];
        socket.onopen = () => {
          socket.send('one');
          socket.send('two');
        };
        socket.onmessage = (event) => {
          got.push(String((event as MessageEvent).data));
          if (got.length === 2) socket.close(1000, 'bye');
        };
        socket.onerror = () => reject(new Error('error event'));
        socket.onclose = (event) =>
          (event as CloseEvent).wasClean ? resolve(got) : reject(new Error('unclean close'));
      });
    }
    assert.deepEqual(await withTimeout(chat(WebSocket, wss.url), 5000, 'the browser-style chat'), ['one', 'two']);
  });
});
