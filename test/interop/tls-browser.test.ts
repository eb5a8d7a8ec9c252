/**
 * Chromium against our TLS listener: Debian's Chromium (/usr/bin/chromium, as in browser.test.ts) loads a page from
 * a local HTTP server whose script opens `wss://127.0.0.1:PORT/` with a subprotocol, exchanges text, an
 * ArrayBuffer and 256 KiB, and closes with 4000. The browser does not know the test CA, so its context ignores
 * certificate errors (`ignoreHTTPSErrors`); the TLS handshake, and everything after it, is real.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { hasChromium, runPageInChromium, servePage, testPage } from '../helpers/browser.js';
import { startTlsEchoListener } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';

function page(wsUrl: string): string {
  return testPage(
    'nopoll TLS browser test',
    `
    const { ws, next, closed } = await openSocket(${JSON.stringify(wsUrl)}, ['chat-v1']);
    result.protocol = ws.protocol;
    await echoBasics(ws, next, result, 'héllo from chromium over TLS ✓');
    ws.close(4000, 'bye');
    result.close = await closed;`,
  );
}

test(
  'Chromium talks wss:// to our TLS listener: text, ArrayBuffer, 256 KiB, subprotocol, close 4000',
  { timeout: 60_000 },
  async (t) => {
    if (!hasChromium()) {
      t.skip('chromium not installed');
      return;
    }
    const srv = await startTlsEchoListener({ opts: { protocols: ['chat-v1'] } });
    t.after(() => srv.close());
    const handshakes: Array<{ protocol: string | null; cipher: string }> = [];
    srv.ctx.postTlsCheck = (_conn, socket) => {
      handshakes.push({ protocol: socket.getProtocol(), cipher: socket.getCipher().name });
    };

    let html = '';
    const pageUrl = await servePage(t, () => html);
    html = page(srv.url);

    const result = (await runPageInChromium(t, pageUrl, '__result', { ignoreHTTPSErrors: true })) as Record<
      string,
      unknown
    >;

    assert.equal(result['error'], undefined, String(result['error']));
    assert.equal(result['protocol'], 'chat-v1');
    assert.equal(result['text'], 'héllo from chromium over TLS ✓');
    assert.equal(result['binaryOk'], true);
    assert.equal(result['bigOk'], true);
    assert.deepEqual(result['close'], { code: 4000, reason: '', wasClean: true });

    // Our side: a TLS connection from a real browser.
    const conn = await srv.ready.next(1000, 'the browser connection');
    assert.equal(conn.isTlsOn, true);
    assert.equal((conn.socket as TLSSocket).encrypted, true);
    assert.equal(handshakes.length, 1, 'the post-handshake check saw the browser once');
    assert.match(String(handshakes[0]!.protocol), /^TLSv1\.[23]$/);
    assert.match(String(conn.origin), /^http:\/\/127\.0\.0\.1:\d+$/);
    const info = await withTimeout(conn.closed, 5000, 'the browser connection closing');
    assert.deepEqual([info.code, info.reason, info.wasClean], [4000, 'bye', true]);
  },
);
