/**
 * Compression in the command-line tools: `nopoll echo-server --deflate` (a child process, from the built package)
 * and the regression listener with `deflate` on (in process), driven by `ws` and by our client.
 */
import { it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import type { Msg } from '../../src/api/msg.js';
import { startRegressionListener } from '../../src/cli/regression-listener.js';
import { compressibleText } from '../helpers/deflate.js';
import { certs, tlsFile } from '../helpers/tls.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { openWs } from '../helpers/ws-peers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(ROOT, 'bin', 'nopoll.js');

/** Runs `nopoll echo-server ...args` and resolves with its URL once it listens (or with its exit code). */
async function echoServer(
  t: TestContext,
  args: string[],
): Promise<{ url: string | null; code: number | null; stderr: string }> {
  assert.ok(
    existsSync(join(ROOT, 'dist', 'esm', 'cli', 'main.js')),
    'the package must be built (scripts/test.mjs builds dist/)',
  );
  const child = spawn(process.execPath, [BIN, 'echo-server', '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'stopping echo-server').catch(() => child.kill('SIGKILL'));
    }
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const listening = new Promise<string>((done) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /listening on (ws:\/\/\S+)/.exec(out);
      if (match) done(match[1]!);
    });
  });
  const first = await withTimeout(
    Promise.race([listening, exited.then((code) => ({ code }))]),
    10_000,
    'echo-server start',
  );
  return typeof first === 'string'
    ? { url: first, code: null, stderr: err }
    : { url: null, code: first.code, stderr: err };
}

it('nopoll echo-server --deflate compresses; without the flag it does not', { timeout: 30_000 }, async (t) => {
  const on = await echoServer(t, ['--deflate', '--deflate-threshold', '0']);
  const peer = await openWs(on.url!, undefined, { perMessageDeflate: { threshold: 0 } });
  t.after(() => peer.ws.terminate());
  assert.equal(peer.ws.extensions, 'permessage-deflate');
  const text = compressibleText(100_000).toString();
  peer.ws.send(text);
  assert.equal((await peer.messages.next(5000)).data.toString(), text);

  const off = await echoServer(t, []);
  const plain = await openWs(off.url!, undefined, { perMessageDeflate: true });
  t.after(() => plain.ws.terminate());
  assert.equal(plain.ws.extensions, '');

  const tuned = await echoServer(t, ['--deflate', '--deflate-context-takeover', '--deflate-level', '9']);
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 5000, 'closing'));
  const conn = await Conn.open(ctx, tuned.url!, { timeoutMs: 5000, perMessageDeflate: { contextTakeover: true } });
  assert.equal(conn.extensions, 'permessage-deflate', 'context kept both ways');
  const plainDefault = await echoServer(t, ['--deflate']);
  const byDefault = await Conn.open(ctx, plainDefault.url!, { timeoutMs: 5000 });
  assert.equal(byDefault.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
});

it('nopoll echo-server refuses unusable deflate flags', { timeout: 30_000 }, async (t) => {
  const bad = await echoServer(t, ['--deflate', '--deflate-level', '12']);
  assert.equal(bad.code, 2);
  const orphan = await echoServer(t, ['--deflate-threshold', '10']);
  assert.equal(orphan.code, 2);
  assert.match(orphan.stderr, /needs --deflate/);
});

it(
  'the regression listener with deflate: fragmented frames, joins and get-file over a compressed connection',
  { timeout: 30_000 },
  async (t) => {
    const running = await startRegressionListener({ port4: 0, port6: null, host4: '127.0.0.1', deflate: true });
    t.after(() => running.close());
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 5000, 'closing'));
    const received = new AsyncQueue<Msg>();
    ctx.onMessage = (_conn, msg) => received.push(msg);
    const conn = await Conn.open(ctx, `ws://127.0.0.1:${running.ipv4.port}/`, { timeoutMs: 5000 });
    assert.equal(conn.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    const text = compressibleText(50_000).toString();
    conn.sendText(text);
    assert.equal((await received.next(5000)).text, text);
    // The listener delivers frames (noPoll's behaviour) and joins them before echoing.
    conn.sendFragment('part one, ', { compress: true });
    conn.sendTextFragment('part two, ');
    conn.sendText('the end');
    assert.equal((await received.next(5000)).text, 'part one, part two, the end');
    conn.sendText('get-file');
    const file = await received.next(5000);
    assert.ok(file.size > 0);
    await conn.close();
  },
);

it(
  'the regression listener with deflate compresses on its TLS ports too (1235 and the TLS 1.3 port)',
  { timeout: 30_000 },
  async (t) => {
    const running = await startRegressionListener({
      port4: 0,
      port6: null,
      host4: '127.0.0.1',
      deflate: true,
      tls: {
        cert: { file: tlsFile('server.crt') },
        key: { file: tlsFile('server.key') },
        ca: { file: tlsFile('ca.crt') },
        ports: { 1235: 0, 2235: null, 1238: 0, 2238: null, 1239: 0, 1240: 0 },
      },
    });
    t.after(() => running.close());
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 5000, 'closing'));
    const received = new AsyncQueue<Msg>();
    ctx.onMessage = (_conn, msg) => received.push(msg);
    for (const port of [running.tls![1235]!.port, running.tls![1240]!.port]) {
      const conn = await Conn.open(ctx, `wss://127.0.0.1:${port}/`, { tls: { ca: certs.ca }, timeoutMs: 5000 });
      assert.equal(
        conn.extensions,
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
        `port ${port}`,
      );
      const text = compressibleText(20_000).toString();
      conn.sendText(text);
      assert.equal((await received.next(5000)).text, text);
      await conn.close();
    }
  },
);
