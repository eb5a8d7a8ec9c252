/**
 * The HTTP/1.1 conformance and interop suites, run again against a listener that serves HTTP/2 on the same port
 * (the shared echo listener of test/helpers/ws-peers.ts turns `http2` on when NOPOLL_TEST_LISTENER_HTTP2=1): the
 * strict wire checks and `ws` interop with and without compression. Each runs in a child
 * `node --test` and must pass as it does on an HTTP/1.1-only listener.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEchoListener } from '../helpers/ws-peers.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // build/test/http2
// Suites by their folder under test/ (laid out like src/).
const SUITES = ['transport/strict-wire', 'interop/interop-ws', 'interop/deflate-interop-ws'];

test('the shared echo listener really serves HTTP/2 when asked', async () => {
  process.env['NOPOLL_TEST_LISTENER_HTTP2'] = '1';
  try {
    const srv = await startEchoListener();
    assert.equal(srv.listener.isHttp2, true);
    await srv.close();
  } finally {
    delete process.env['NOPOLL_TEST_LISTENER_HTTP2'];
  }
});

for (const suite of SUITES) {
  test(`${suite} passes over HTTP/1.1 on a port that also serves HTTP/2`, { timeout: 120_000 }, async (t) => {
    const file = join(HERE, '..', `${suite}.test.js`);
    // A child of the test runner would report to it (NODE_TEST_CONTEXT) instead of printing its own summary.
    const env: NodeJS.ProcessEnv = { ...process.env, NOPOLL_TEST_LISTENER_HTTP2: '1' };
    delete env['NODE_TEST_CONTEXT'];
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap', file], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const pass = Number(/^# pass (\d+)/m.exec(out)?.[1] ?? 0);
    const fail = Number(/^# fail (\d+)/m.exec(out)?.[1] ?? -1);
    assert.equal(
      fail,
      0,
      `${suite}: failures\n${out
        .split('\n')
        .filter((l) => /not ok|error/.test(l))
        .slice(0, 20)
        .join('\n')}`,
    );
    assert.ok(pass > 0, `${suite}: no test ran`);
    assert.equal(code, 0);
  });
}
