/**
 * A real browser against our Listener: Debian's Chromium (/usr/bin/chromium, never a downloaded build), driven by
 * playwright-core, loads a page from a local HTTP server whose script opens a WebSocket to the Listener with two
 * subprotocols, exchanges text, binary (ArrayBuffer) and 1 MiB messages, and closes with 4000 "bye".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasChromium, runPageInChromium, servePage, testPage } from '../helpers/browser.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

const MiB = 1024 * 1024;

/** The page: its script runs the whole exchange and leaves its findings in `window.__result`. */
function page(wsUrl: string): string {
  return testPage(
    'nopoll browser test',
    `
    const { ws, next, closed } = await openSocket(${JSON.stringify(wsUrl)}, ['chat-v2', 'chat-v1']);
    result.protocol = ws.protocol;
    result.extensions = ws.extensions;

    const text = 'héllo from chromium ✓ 😀';
    ws.send(text);
    const textEcho = await next();
    result.textOk = typeof textEcho === 'string' && textEcho === text;

    const bin = new Uint8Array(256);
    for (let i = 0; i < bin.length; i++) bin[i] = i;
    ws.send(bin.buffer);
    const binEcho = await next();
    result.binaryOk = binEcho instanceof ArrayBuffer && same(new Uint8Array(binEcho), bin);

    const big = new Uint8Array(${MiB});
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 255;
    ws.send(big);
    const bigEcho = await next();
    result.bigBinaryOk = bigEcho instanceof ArrayBuffer && bigEcho.byteLength === big.length && same(new Uint8Array(bigEcho), big);

    let bigText = '';
    for (let i = 0; bigText.length < ${MiB}; i++) bigText += i.toString(36) + '€';
    ws.send(bigText);
    const bigTextEcho = await next();
    result.bigTextOk = typeof bigTextEcho === 'string' && bigTextEcho === bigText;
    result.bigTextBytes = new TextEncoder().encode(bigText).length;

    ws.close(4000, 'bye');
    result.close = await closed;`,
  );
}

test(
  'Chromium talks to our Listener: text, ArrayBuffer, 1 MiB, subprotocol, Origin, close 4000',
  { timeout: 60_000 },
  async (t) => {
    if (!hasChromium()) {
      t.skip('chromium not installed');
      return;
    }
    const srv = await startEchoListener({ protocols: ['chat-v1'] });
    t.after(() => srv.close());

    let html = '';
    const pageUrl = await servePage(t, () => html);
    const httpPort = new URL(pageUrl).port;
    html = page(srv.url);

    const result = (await runPageInChromium(t, pageUrl, '__result')) as Record<string, unknown>;

    assert.equal(result['error'], undefined, String(result['error']));
    assert.equal(result['protocol'], 'chat-v1', 'the subprotocol the page asked for and the listener supports');
    assert.equal(result['extensions'], '', 'no extension was accepted');
    assert.equal(result['textOk'], true, 'text echo');
    assert.equal(result['binaryOk'], true, 'ArrayBuffer echo');
    assert.equal(result['bigBinaryOk'], true, '1 MiB binary echo');
    assert.equal(result['bigTextOk'], true, 'large text echo');
    assert.deepEqual(result['close'], { code: 4000, reason: '', wasClean: true });

    // Our side of the same connection.
    const conn = await srv.ready.next(1000, 'the browser connection');
    assert.equal(conn.origin, `http://127.0.0.1:${httpPort}`, 'the browser sent its Origin');
    assert.deepEqual([...conn.requestedProtocols], ['chat-v2', 'chat-v1']);
    assert.equal(conn.acceptedProtocol, 'chat-v1');
    assert.equal(conn.requestedUrl, '/');

    const text = await srv.received.next(1000);
    assert.equal(text.msg.isText, true);
    assert.equal(text.msg.text, 'héllo from chromium ✓ 😀');
    const bin = await srv.received.next(1000);
    assert.equal(bin.msg.isBinary, true);
    assert.equal(bin.msg.size, 256);
    assert.equal(bin.msg.payload[255], 255);
    const big = await srv.received.next(1000);
    assert.equal(big.msg.isBinary, true);
    assert.equal(big.msg.size, MiB);
    const bigText = await srv.received.next(1000);
    assert.equal(bigText.msg.isText, true);
    assert.equal(bigText.msg.size, result['bigTextBytes']);
    assert.ok(bigText.msg.size >= MiB, 'the text message is at least 1 MiB of UTF-8');

    const info = await withTimeout(conn.closed, 5000, 'the browser connection closing');
    assert.deepEqual([info.code, info.reason, info.wasClean], [4000, 'bye', true]);
  },
);
