/**
 * The regression listener's exposure (issue 11 item 2): it binds loopback unless given `--host`, and its file
 * commands (`open-file: NAME`, lines, `close-file`) write only plain file names inside the one directory it owns.
 * "Not reachable from elsewhere" is checked on 127.0.0.2, an address of the loopback network that a listener bound
 * to 127.0.0.1 does not answer and one bound to 0.0.0.0 does (Linux routes all of 127/8 to `lo`), so no test ever
 * listens on a public address.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { startRegressionListener, type RegressionListener } from '../../src/cli/regression-listener.js';
import { exitCode, listenOnFreeOffset, nopoll } from '../helpers/cli.js';
import { withTimeout } from '../helpers/ws-async.js';

const LINUX = process.platform === 'linux';

/** Resolves with 'connected' or the error code of a TCP connect to host:port (the socket is closed again). */
function tryConnect(host: string, port: number): Promise<string> {
  return withTimeout(
    new Promise((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    }),
    5000,
    `connecting to ${host}:${port}`,
  );
}

/** A temporary directory removed after the test. */
function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A regression listener on 127.0.0.1:0 (IPv4 only), closed after the test. */
async function listener(t: TestContext, fileDir?: string): Promise<RegressionListener> {
  const rl = await startRegressionListener({ port4: 0, port6: null, ...(fileDir !== undefined ? { fileDir } : {}) });
  t.after(() => rl.close());
  return rl;
}

/** A client connection to the listener; its context is closed after the test. */
async function client(t: TestContext, rl: RegressionListener): Promise<Conn> {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return Conn.open(ctx, `ws://127.0.0.1:${rl.ipv4.port}/`, { timeoutMs: 5000 });
}

/** Sends `open-file: NAME`, two lines and `close-file`, then checks the echo mode is back. */
async function copyLines(conn: Conn, name: string): Promise<void> {
  conn.sendText(`open-file: ${name}`);
  conn.sendText('first line\n');
  conn.sendText('second line\n');
  conn.sendText('close-file');
  conn.sendText('echo again');
  assert.equal((await conn.nextMsg({ timeoutMs: 5000 })).text, 'echo again');
}

describe('the regression listener binds loopback by default', () => {
  it(
    'startRegressionListener: 127.0.0.1 answers, 127.0.0.2 (another loopback address) is refused',
    { skip: !LINUX && 'needs 127/8 routed to lo' },
    async (t) => {
      const rl = await listener(t);
      assert.equal(await tryConnect('127.0.0.1', rl.ipv4.port), 'connected');
      assert.equal(await tryConnect('127.0.0.2', rl.ipv4.port), 'ECONNREFUSED');
    },
  );

  it(
    'nopoll listen: loopback only; --host H binds H instead',
    { skip: !LINUX && 'needs 127/8 routed to lo', timeout: 60_000 },
    async (t) => {
      const plain = await listenOnFreeOffset(t, []);
      const port = 1234 + plain.offset;
      assert.equal(plain.printed[0], `listening on ws://127.0.0.1:${port}/`);
      assert.equal(await tryConnect('127.0.0.1', port), 'connected');
      assert.equal(await tryConnect('127.0.0.2', port), 'ECONNREFUSED');
      plain.cli.child.kill('SIGTERM');
      assert.equal(await exitCode(plain.cli), 0, `stderr: ${plain.cli.stderr()}`);

      const moved = await listenOnFreeOffset(t, ['--host', '127.0.0.2'], { hosts: ['127.0.0.2', '::1'] });
      const movedPort = 1234 + moved.offset;
      assert.equal(moved.printed[0], `listening on ws://127.0.0.2:${movedPort}/`);
      assert.equal(await tryConnect('127.0.0.2', movedPort), 'connected');
      assert.equal(await tryConnect('127.0.0.1', movedPort), 'ECONNREFUSED');
      moved.cli.child.kill('SIGTERM');
      assert.equal(await exitCode(moved.cli), 0, `stderr: ${moved.cli.stderr()}`);
    },
  );

  it('nopoll listen --help documents --host and --file-dir and names no file the package does not ship', async (t) => {
    const cli = nopoll(t, ['listen', '--help']);
    assert.equal(await exitCode(cli), 0);
    const help = cli.stdout();
    assert.match(help, /--host H/);
    assert.match(help, /--file-dir DIR/);
    assert.match(help, /default 127\.0\.0\.1/);
    // package.json ships dist, bin, docs, README.md and LICENSE only.
    assert.doesNotMatch(help, /\btest\/|fixtures|\bsrc\/|\bbuild\//, help);
  });
});

describe('the file commands write only inside the listener directory', () => {
  it('open-file NAME appends to NAME in the given directory; the echo mode comes back after close-file', async (t) => {
    const dir = tempDir(t, 'nopoll-files-');
    const rl = await listener(t, dir);
    assert.equal(rl.fileDir, dir);
    const conn = await client(t, rl);
    await copyLines(conn, 'copy-test-04c.txt');
    assert.equal(readFileSync(join(dir, 'copy-test-04c.txt'), 'utf8'), 'first line\nsecond line\n');
    await conn.close();
  });

  it('refuses every name that is not a plain file name with 1008 and writes nothing anywhere', async (t) => {
    const outer = tempDir(t, 'nopoll-outer-');
    const inside = join(outer, 'inside');
    mkdirSync(inside);
    mkdirSync(join(inside, 'sub'));
    const victim = join(outer, 'victim.txt');
    writeFileSync(victim, 'untouched\n');
    symlinkSync(victim, join(inside, 'link.txt'));
    const rl = await listener(t, inside);
    const names = [
      victim,
      join(outer, 'absolute-new.txt'),
      '../escape.txt',
      '../victim.txt',
      'sub/nested.txt',
      'sub\\nested.txt',
      '..',
      '.',
      '.hidden',
      'a\u0000b',
      'link.txt',
      'x'.repeat(300),
      '',
    ];
    for (const name of names) {
      const conn = await client(t, rl);
      conn.sendText(`open-file: ${name}`);
      conn.sendText('appended line\n');
      const info = await withTimeout(conn.closed, 5000, `the listener refusing ${JSON.stringify(name.slice(0, 40))}`);
      assert.equal(info.code, 1008, `open-file: ${JSON.stringify(name.slice(0, 40))}`);
      assert.match(info.reason, /open-file/);
    }
    assert.equal(readFileSync(victim, 'utf8'), 'untouched\n');
    assert.deepEqual(readdirSync(outer).sort(), ['inside', 'victim.txt']);
    assert.deepEqual(readdirSync(inside).sort(), ['link.txt', 'sub']);
    assert.deepEqual(readdirSync(join(inside, 'sub')), []);
    assert.equal(existsSync(join(process.cwd(), 'escape.txt')), false);
  });

  it('without fileDir it makes a private directory of its own, kept when written to and removed when left empty', async (t) => {
    const used = await startRegressionListener({ port4: 0, port6: null });
    t.after(() => used.close());
    assert.ok(used.fileDir.startsWith(tmpdir()), used.fileDir);
    if (process.platform !== 'win32') assert.equal(statSync(used.fileDir).mode & 0o777, 0o700);
    t.after(() => rmSync(used.fileDir, { recursive: true, force: true }));
    const conn = await client(t, used);
    await copyLines(conn, 'kept.txt');
    await conn.close();
    await used.close();
    assert.equal(readFileSync(join(used.fileDir, 'kept.txt'), 'utf8'), 'first line\nsecond line\n');

    const unused = await startRegressionListener({ port4: 0, port6: null });
    assert.ok(existsSync(unused.fileDir));
    await unused.close();
    assert.equal(existsSync(unused.fileDir), false);
  });

  it('nopoll listen --file-dir DIR writes there and names it on standard error', { timeout: 60_000 }, async (t) => {
    const dir = tempDir(t, 'nopoll-cli-files-');
    const { cli, offset } = await listenOnFreeOffset(t, ['--file-dir', dir]);
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
    const conn = await Conn.open(ctx, `ws://127.0.0.1:${1234 + offset}/`, { timeoutMs: 5000 });
    await copyLines(conn, 'from-cli.txt');
    assert.equal(readFileSync(join(dir, 'from-cli.txt'), 'utf8'), 'first line\nsecond line\n');
    await conn.close();
    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
    assert.match(cli.stderr(), new RegExp(`open-file writes into ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });
});
