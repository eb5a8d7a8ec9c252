/**
 * Debian's Chromium through playwright-core (never a downloaded browser), and a page server, for the browser tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { missing } from './installed.js';
import { withTimeout } from './ws-async.js';

/** Where Debian installs Chromium (`.ci/run` installs it when missing). */
export const CHROMIUM = '/usr/bin/chromium';

// Headless as root, and no background traffic: this machine has no network beyond loopback.
const ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** True when Chromium is installed (under CI, its absence throws: installed.ts). */
export function hasChromium(): boolean {
  return missing(CHROMIUM, 'chromium') === null;
}

/** Serves `html()` at `/` on 127.0.0.1 until the test ends (404 elsewhere); returns the page's URL. */
export async function servePage(t: TestContext, html: () => string): Promise<string> {
  const http: Server = createServer((req, res) => {
    res.writeHead(req.url === '/' ? 200 : 404, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(req.url === '/' ? html() : 'not found');
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
}

/** Launches Chromium headless; it is closed when the test ends. Playwright gives it a fresh temporary profile. */
export async function launchChromium(t: TestContext): Promise<Browser> {
  let browser: Browser | null = null;
  t.after(async () => {
    if (browser !== null) await withTimeout(browser.close(), 15_000, 'closing Chromium').catch(() => undefined);
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
  return browser;
}

/**
 * Opens `pageUrl` in a fresh tab of a Chromium launched for this test, waits until the page sets `window.__done`
 * (at most `timeoutMs`), and returns `window[resultName]`, where the page left its findings.
 */
export async function runPageInChromium(
  t: TestContext,
  pageUrl: string,
  resultName: string,
  options: { ignoreHTTPSErrors?: boolean; timeoutMs?: number } = {},
): Promise<unknown> {
  const browser = await launchChromium(t);
  const context = await browser.newContext({ ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false });
  const tab = await context.newPage();
  await tab.goto(pageUrl, { timeout: 15_000 });
  await tab.waitForFunction('window.__done === true', undefined, { timeout: options.timeoutMs ?? 40_000 });
  return tab.evaluate(`window.${resultName}`);
}

/**
 * Browser-side helpers for a test page's script (interpolate it at the top of the script): `openSocket(url,
 * protocols)` opens a WebSocket that receives binary messages as ArrayBuffers and resolves once it is open with
 * `{ ws, next, closed }` (`next()`: the data of the next message; `closed`: the close event's code, reason and
 * wasClean); `same(a, b)` compares two byte arrays.
 */
export const PAGE_SOCKET = `
  const openSocket = async (url, protocols) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    const queue = [];
    const waiters = [];
    ws.onmessage = (event) => (waiters.length > 0 ? waiters.shift()(event.data) : queue.push(event.data));
    const next = () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve)));
    const closed = new Promise((resolve) => {
      ws.onclose = (event) => resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
    });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('WebSocket error before open'));
    });
    return { ws, next, closed };
  };
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  // Text, a 256-byte ArrayBuffer and 256 KiB echoed: result.text, result.binaryOk, result.bigOk.
  const echoBasics = async (ws, next, result, text) => {
    ws.send(text);
    result.text = await next();
    const bin = new Uint8Array(256);
    for (let i = 0; i < bin.length; i++) bin[i] = i;
    ws.send(bin.buffer);
    const binEcho = new Uint8Array(await next());
    result.binaryOk = binEcho.length === 256 && binEcho.every((v, i) => v === i);
    const big = new Uint8Array(256 * 1024).fill(0x42);
    ws.send(big);
    const bigEcho = new Uint8Array(await next());
    result.bigOk = bigEcho.length === big.length && bigEcho.every((v) => v === 0x42);
  };
`;

/**
 * A test page whose script runs `body` (with {@link PAGE_SOCKET}'s helpers, and `result`, the object
 * `runPageInChromium(t, url, '__result')` returns); an exception lands in `result.error`.
 */
export function testPage(title: string, body: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body>
<script>
${PAGE_SOCKET}
(async () => {
  const result = {};
  window.__result = result;
  try {
${body}
  } catch (error) {
    result.error = String((error && error.stack) || error);
  }
  window.__done = true;
})();
</script>
</body></html>`;
}
