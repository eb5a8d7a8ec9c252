/**
 * The `nopoll` command as users run it: `node bin/nopoll.js ...` (the built package, dist/), driven with `ws`
 * peers and our own Listener. Every child process is killed after its test if it is still running.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { openWs, startEchoListener, startWsServer } from '../helpers/ws-peers.js';

// build/test/integration/cli.test.js -> the repository root.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(ROOT, 'bin', 'nopoll.js');

/** A running `nopoll` process with its output split into lines. */
interface Cli {
  child: ChildProcessWithoutNullStreams;
  stdoutLines: AsyncQueue<string>;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process ended. */
  exited: Promise<number | string>;
}

/** Spawns `node bin/nopoll.js ...args`; kills it after the test if it is still running. */
function nopoll(t: TestContext, args: string[]): Cli {
  assert.ok(existsSync(join(ROOT, 'dist', 'esm', 'cli', 'main.js')), 'the package must be built (scripts/test.mjs builds dist/)');
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let partial = '';
  const stdoutLines = new AsyncQueue<string>();
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    let at: number;
    while ((at = partial.indexOf('\n')) >= 0) {
      stdoutLines.push(partial.slice(0, at));
      partial = partial.slice(at + 1);
    }
  });
  child.stderr.on('data', (chunk: string) => (err += chunk));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  let ended = false;
  void exited.then(() => (ended = true));
  t.after(async () => {
    if (!ended) {
      child.kill('SIGKILL');
      await withTimeout(exited, 5000, 'killing the CLI').catch(() => undefined);
    }
  });
  return { child, stdoutLines, stdout: () => out, stderr: () => err, exited };
}

/** The next stdout line, which must match `pattern`; fails early (with stderr) if the process exits first. */
async function expectLine(cli: Cli, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  const exitedEarly = cli.exited.then((code) => {
    throw new Error(`nopoll exited with ${code} before printing ${pattern}; stderr: ${cli.stderr()}`);
  });
  const line = await Promise.race([cli.stdoutLines.next(timeoutMs, `waiting for ${pattern}`), exitedEarly]);
  const match = line.match(pattern);
  assert.ok(match, `stdout line ${JSON.stringify(line)} does not match ${pattern}`);
  return match;
}

/** Waits for the exit code, at most `timeoutMs`. */
function exitCode(cli: Cli, timeoutMs = 5000): Promise<number | string> {
  return withTimeout(cli.exited, timeoutMs, 'waiting for nopoll to exit');
}

/** True when a TCP port can be bound on `host` now (the probe is closed again). */
function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe: Server = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT'));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

describe('nopoll CLI', () => {
  it('echo-server: prints its URL, echoes text and binary, exits 0 on SIGTERM', async (t) => {
    const cli = nopoll(t, ['echo-server', '--port', '0', '--host', '127.0.0.1']);
    const [, port] = await expectLine(cli, /^listening on ws:\/\/127\.0\.0\.1:(\d+)\/$/);
    const peer = await openWs(`ws://127.0.0.1:${port}/`);
    t.after(() => peer.ws.terminate());
    peer.ws.send('héllo cli ✓');
    const text = await peer.messages.next();
    assert.deepEqual([text.isBinary, text.data.toString('utf8')], [false, 'héllo cli ✓']);
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    peer.ws.send(bytes);
    const bin = await peer.messages.next();
    assert.equal(bin.isBinary, true);
    assert.deepEqual(bin.data, bytes);
    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
    const closed = await withTimeout(peer.closed, 5000, 'the client seeing the server go away');
    assert.equal(closed.code, 1001, 'the server said it is going away');
    assert.equal(closed.wasClean, true);
  });

  it('echo-client: echoes what a ws server sends with the same type, exits 0 after a 1000 close', async (t) => {
    const wss = await startWsServer();
    t.after(() => wss.close());
    const cli = nopoll(t, ['echo-client', wss.url]);
    const server = await wss.connections.next(10_000, 'the echo client connecting');
    const sent: Array<{ data: Buffer; isBinary: boolean }> = [
      { data: Buffer.from('first text'), isBinary: false },
      { data: Buffer.from([1, 2, 3, 250, 251]), isBinary: true },
      { data: Buffer.from('ünïcödé ✓ 😀'), isBinary: false },
      { data: Buffer.alloc(0), isBinary: true },
      { data: Buffer.alloc(100_000, 7), isBinary: true },
    ];
    for (const m of sent) server.ws.send(m.data, { binary: m.isBinary });
    for (const m of sent) {
      const echo = await server.messages.next();
      assert.equal(echo.isBinary, m.isBinary, 'same type');
      assert.deepEqual(echo.data, m.data);
    }
    server.ws.close(1000, 'done');
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
    const closed = await withTimeout(server.closed, 5000, 'ws server close');
    assert.equal(closed.wasClean, true);
  });

  it('connect: sends stdin lines as text, prints "< line" for each echo, exits 0 at end of input', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const cli = nopoll(t, ['connect', srv.url]);
    cli.child.stdin.write('first line\n');
    cli.child.stdin.write('second line ✓\n');
    await expectLine(cli, /^< first line$/);
    await expectLine(cli, /^< second line ✓$/);
    const first = await srv.received.next();
    assert.equal(first.msg.isText, true);
    assert.equal(first.msg.text, 'first line');
    cli.child.stdin.end();
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
    const info = await withTimeout(first.conn.closed, 5000, 'the server seeing the close');
    assert.deepEqual([info.code, info.wasClean], [1000, true]);
  });

  it('listen --offset-port N: listens on 1234+N, echoes, exits 0 on SIGTERM', { timeout: 60_000 }, async (t) => {
    let cli: Cli | null = null;
    let port = 0;
    for (let attempt = 0; attempt < 8 && cli === null; attempt++) {
      const offset = 20_000 + Math.floor(Math.random() * 20_000);
      const free =
        (await portFree(1234 + offset, '0.0.0.0')) && (await portFree(2234 + offset, '::1')) && (await portFree(2234 + offset, '0.0.0.0'));
      if (!free) continue;
      const candidate = nopoll(t, ['listen', '--offset-port', String(offset)]);
      try {
        const [, printed] = await expectLine(candidate, /^listening on ws:\/\/0\.0\.0\.0:(\d+)\/$/);
        port = Number(printed);
        assert.equal(port, 1234 + offset);
        cli = candidate;
      } catch (error) {
        // Someone took a port between the probe and the bind: try another offset.
        if (!/EADDRINUSE|address already in use/i.test(candidate.stderr())) throw error;
      }
    }
    assert.ok(cli, 'found a free offset');
    const peer = await openWs(`ws://127.0.0.1:${port}/`);
    t.after(() => peer.ws.terminate());
    peer.ws.send('hello regression listener');
    const text = await peer.messages.next();
    assert.deepEqual([text.isBinary, text.data.toString()], [false, 'hello regression listener']);
    peer.ws.send(Buffer.from([9, 8, 7]));
    const bin = await peer.messages.next();
    assert.equal(bin.isBinary, true);
    assert.deepEqual(bin.data, Buffer.from([9, 8, 7]));
    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
  });

  it('an unknown command exits 2 with the usage', async (t) => {
    const cli = nopoll(t, ['bogus']);
    assert.equal(await exitCode(cli), 2);
    assert.match(cli.stderr(), /unknown command bogus/);
    assert.match(cli.stderr(), /usage: nopoll/);
  });

  it('echo-server --help prints its usage and exits 0', async (t) => {
    const cli = nopoll(t, ['echo-server', '--help']);
    assert.equal(await exitCode(cli), 0);
    assert.match(cli.stdout(), /usage: nopoll echo-server/);
  });

  it('an unknown flag exits 2', async (t) => {
    const cli = nopoll(t, ['echo-server', '--no-such-flag']);
    assert.equal(await exitCode(cli), 2);
    assert.match(cli.stderr(), /usage: nopoll echo-server/);
  });
});
