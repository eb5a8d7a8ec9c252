/**
 * `nopoll connect` reaching an echo server by the routes issue 15 names: through tinyproxy (HTTP CONNECT) and
 * danted (SOCKS5, socks5h) with `--proxy`, through `HTTPS_PROXY` for a wss:// server verified with `--ca`, and over
 * a unix socket. Each proxy proves it carried the traffic: the connection fails when its credentials are missing
 * (tinyproxy) or when its rules block the target (danted).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { ListenOptions } from '../../src/api/listener-bind.js';
import { exitCode, expectLine, nopoll } from '../helpers/cli.js';
import { needDante, needTinyproxy, startDante, startTinyproxy } from '../helpers/proxies.js';
import { startTlsEchoListener, tlsFile } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';

/** A nopoll echo listener (text back as text) with `options`, closed after the test. */
async function echo(t: TestContext, options: ListenOptions): Promise<Listener> {
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => void conn.sendText(msg.payload);
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the echo listener'));
  return Listener.listen(ctx, options);
}

/** Runs `nopoll connect ARGS -x LINE` and expects the echo and a clean exit. */
async function roundTrip(t: TestContext, args: string[], line: string, env?: Record<string, string>): Promise<void> {
  const cli = nopoll(t, ['connect', ...args, '-x', line, '-w', '5'], env);
  await expectLine(cli, new RegExp(`^< ${line}$`));
  // The echo came: close now rather than after the wait (SIGTERM closes with 1001 and exits 0 when clean).
  cli.child.kill('SIGTERM');
  assert.equal(await exitCode(cli), 0, cli.stderr());
}

/** Runs `nopoll connect ARGS -x x` and expects exit 1 with `reason` on stderr. */
async function refused(t: TestContext, args: string[], reason: RegExp, env?: Record<string, string>): Promise<void> {
  const cli = nopoll(t, ['connect', ...args, '-x', 'x', '--timeout', '5'], env);
  assert.equal(await exitCode(cli), 1, cli.stderr());
  assert.match(cli.stderr(), reason);
}

describe('nopoll connect through proxies and over unix sockets', () => {
  it('--proxy http:// through tinyproxy with its Basic credentials; without them the proxy refuses', async (t) => {
    if (!needTinyproxy(t)) return;
    const tiny = await startTinyproxy(t, { auth: { user: 'ann', password: 'pw' } });
    const server = await echo(t, { host: '127.0.0.1', port: 0 });
    const url = `127.0.0.1:${server.port}/`;
    await roundTrip(t, [url, '--proxy', `http://ann:pw@127.0.0.1:${tiny.port}`], 'through tinyproxy');
    await refused(t, [url, '--proxy', tiny.url], /requires authentication.*407/);
  });

  it('--proxy socks5h:// through danted; a target its rules block is refused', async (t) => {
    if (!needDante(t)) return;
    const blocked = await echo(t, { host: '127.0.0.1', port: 0 });
    const dante = (await startDante(t, { blockedPort: blocked.port }))!;
    const server = await echo(t, { host: '127.0.0.1', port: 0 });
    const proxy = `socks5h://127.0.0.1:${dante.port}`;
    await roundTrip(t, [`ws://127.0.0.1:${server.port}/`, '--proxy', proxy], 'through danted');
    await refused(t, [`ws://127.0.0.1:${blocked.port}/`, '--proxy', proxy], /refused|not allowed/);
  });

  it('HTTPS_PROXY for a wss:// server, TLS verified end to end with --ca; --no-proxy goes direct', async (t) => {
    if (!needTinyproxy(t)) return;
    const tiny = await startTinyproxy(t, { auth: { user: 'ann', password: 'pw' } });
    const server = await startTlsEchoListener();
    t.after(() => server.close());
    const args = [server.url, '--ca', tlsFile('ca.crt')];
    await roundTrip(t, args, 'through HTTPS_PROXY', { HTTPS_PROXY: `http://ann:pw@127.0.0.1:${tiny.port}` });
    await refused(t, args, /requires authentication.*407/, { HTTPS_PROXY: tiny.url });
    await roundTrip(t, [...args, '--no-proxy'], 'direct', { HTTPS_PROXY: tiny.url });
  });

  it('ws+unix:///path:/ reaches a listener on a unix socket', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'nopoll-connect-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'echo.sock');
    await echo(t, { path });
    await roundTrip(t, [`ws+unix://${path}:/`], 'over unix');
  });
});
