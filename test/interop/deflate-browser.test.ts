/**
 * Chromium (Debian's /usr/bin/chromium through playwright-core) talking permessage-deflate to our Listener: the
 * browser always offers it; the listener accepts with default parameters on one port and with window and
 * context-takeover parameters on another. Checks the header each side saw, echoes of text, binary and 1 MiB
 * messages, and that the bytes on the wire were compressed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasChromium, PAGE_SOCKET, runPageInChromium, servePage } from '../helpers/browser.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener, type EchoListener } from '../helpers/ws-peers.js';

const MiB = 1024 * 1024;

/** The page runs one exchange per URL and leaves what it saw in `window.__results`. */
function page(urls: string[]): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>nopoll deflate browser test</title></head>
<body>
<script>
${PAGE_SOCKET}
(async () => {
  const results = [];
  window.__results = results;
  for (const url of ${JSON.stringify(urls)}) {
    const result = {};
    results.push(result);
    try {
      const { ws, next, closed } = await openSocket(url);
      result.extensions = ws.extensions;
      let text = '';
      for (let i = 0; text.length < 20000; i++) text += '{"id":' + i + ',"name":"ünïcode ✓","ok":true},';
      const texts = [];
      for (let i = 0; i < 30; i++) {
        const t = text.slice(i * 10) + i;
        texts.push(t);
        ws.send(t);
      }
      result.textsOk = true;
      for (const t of texts) if ((await next()) !== t) result.textsOk = false;
      const big = new Uint8Array(${MiB});
      for (let i = 0; i < big.length; i++) big[i] = (i % 251) < 200 ? 97 + (i % 7) : (i * 31) & 255;
      ws.send(big);
      const echo = await next();
      result.bigOk = echo instanceof ArrayBuffer && same(new Uint8Array(echo), big);
      ws.send('');
      result.emptyOk = (await next()) === '';
      ws.close(1000);
      result.close = await closed;
    } catch (error) {
      result.error = String((error && error.stack) || error);
    }
  }
  window.__done = true;
})();
</script>
</body></html>`;
}

test(
  'Chromium talks compressed to our Listener, with default and with negotiated parameters',
  { timeout: 90_000 },
  async (t) => {
    if (!hasChromium()) {
      t.skip('chromium not installed');
      return;
    }
    const listeners: EchoListener[] = [
      await startEchoListener({ perMessageDeflate: true, keepHeaders: true }),
      await startEchoListener({
        perMessageDeflate: {
          serverMaxWindowBits: 10,
          clientMaxWindowBits: 11,
          serverNoContextTakeover: true,
          clientNoContextTakeover: true,
          threshold: 0,
        },
        keepHeaders: true,
      }),
    ];
    t.after(() => Promise.all(listeners.map((l) => l.close())));

    let html = '';
    const pageUrl = await servePage(t, () => html);
    html = page(listeners.map((l) => l.url));

    const results = (await runPageInChromium(t, pageUrl, '__results', { timeoutMs: 60_000 })) as Array<
      Record<string, unknown>
    >;

    const expected = [
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11',
    ];
    for (let i = 0; i < listeners.length; i++) {
      const result = results[i]!;
      assert.equal(result['error'], undefined, String(result['error']));
      assert.equal(result['extensions'], expected[i], 'the extension Chromium accepted');
      assert.equal(result['textsOk'], true, '30 compressible texts echoed in order');
      assert.equal(result['bigOk'], true, '1 MiB binary echoed');
      assert.equal(result['emptyOk'], true, 'empty text echoed');
      assert.deepEqual(result['close'], { code: 1000, reason: '', wasClean: true });

      const conn = await listeners[i]!.ready.next(1000, 'the browser connection');
      const offer = conn.handshake.headers?.get('sec-websocket-extensions') ?? '';
      assert.match(offer, /^permessage-deflate(; client_max_window_bits)?$/, `Chromium's offer: ${offer}`);
      assert.equal(conn.extensions, expected[i]);
      const received = conn.socket!.bytesRead;
      const sentByBrowser = 30 * 20_000 + MiB;
      assert.ok(
        received < sentByBrowser / 3,
        `${received} bytes on the wire for about ${sentByBrowser} bytes of messages`,
      );
      const info = await withTimeout(conn.closed, 5000, 'the browser connection closing');
      assert.equal(info.wasClean, true);
    }
  },
);
