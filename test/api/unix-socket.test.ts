/**
 * WebSockets over unix domain sockets (docs/client.md): a listener on a socket path, clients through `ws+unix:`
 * URLs (as ws spells them) or `ConnectTarget.socketPath`, TLS over the socket (`wss+unix:`), and stale socket
 * files: one nobody accepts on is replaced, a live socket or another kind of file never is.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import type { ListenOptions } from '../../src/api/listener-bind.js';
import { ConnectError, TlsError } from '../../src/errors.js';
import { exitCode, expectLine, nopoll } from '../helpers/cli.js';
import { certs } from '../helpers/tls.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nopoll-unix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function echoOn(
  t: TestContext,
  options: ListenOptions,
): Promise<{ listener: Listener; ready: AsyncQueue<Conn> }> {
  const ctx = new Context();
  const ready = new AsyncQueue<Conn>();
  ctx.onReady = (conn) => ready.push(conn);
  ctx.onMessage = (conn, msg) => void conn.sendText(msg.payload);
  ctx.onError = () => undefined;
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the unix listener'));
  return { listener: await Listener.listen(ctx, options), ready };
}

function clientContext(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return ctx;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

/** A socket file nobody listens on: a child process listens on `path` and is killed before it can remove it. */
function staleSocket(path: string): void {
  const script = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', script], { timeout: 10_000 });
  assert.ok(statSync(path).isSocket(), 'the killed process left its socket file');
}

describe('unix domain sockets', () => {
  it('Listener.listen({ path }) and a ws+unix: URL: socket path, request path and query, Host localhost', async (t) => {
    const path = join(tempDir(t), 'ws.sock');
    const server = await echoOn(t, { path });
    assert.equal(server.listener.path, path);
    assert.equal(server.listener.port, 0);
    const conn = await Conn.open(clientContext(t), `ws+unix://${path}:/chat?room=1`, { timeoutMs: 5000 });
    const accepted = await server.ready.next(5000, 'server side');
    assert.equal(accepted.requestedUrl, '/chat?room=1');
    assert.equal(accepted.hostHeader, 'localhost');
    conn.sendText('over a unix socket');
    assert.equal((await conn.nextMsg({ timeoutMs: 5000 })).text, 'over a unix socket');
    assert.equal((await conn.close()).wasClean, true);
    // Without a request path, "/" is asked for.
    const bare = await Conn.open(clientContext(t), `ws+unix://${path}`, { timeoutMs: 5000 });
    assert.equal((await server.ready.next(5000, 'server side')).requestedUrl, '/');
    await bare.close();
  });

  it('ConnectTarget.socketPath, with hostName for the Host header', async (t) => {
    const path = join(tempDir(t), 'target.sock');
    const server = await echoOn(t, { path });
    const conn = await Conn.open(
      clientContext(t),
      { host: 'daemon.local', socketPath: path, path: '/api' },
      { timeoutMs: 5000 },
    );
    const accepted = await server.ready.next(5000, 'server side');
    assert.deepEqual([accepted.requestedUrl, accepted.hostHeader], ['/api', 'daemon.local']);
    await conn.close();
  });

  it('TLS over a unix socket (wss+unix:), the certificate verified for localhost or tls.serverName', async (t) => {
    const path = join(tempDir(t), 'tls.sock');
    await echoOn(t, { path, tls: true, certificate: { cert: certs.serverCert, key: certs.serverKey } });
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, `wss+unix://${path}:/secure`, { tls: { ca: certs.ca }, timeoutMs: 5000 });
    assert.equal(conn.isTlsOn, true);
    conn.sendText('TLS over unix');
    assert.equal((await conn.nextMsg({ timeoutMs: 5000 })).text, 'TLS over unix');
    await conn.close();
    const wrongName = await rejection(
      Conn.open(ctx, `wss+unix://${path}:/`, { tls: { ca: certs.ca, serverName: 'elsewhere.test' }, timeoutMs: 5000 }),
    );
    assert.ok(wrongName instanceof TlsError, String(wrongName));
  });

  it('a stale socket file is replaced; with removeStaleSocket: false it is an error (EADDRINUSE)', async (t) => {
    const path = join(tempDir(t), 'stale.sock');
    staleSocket(path);
    const refused = await rejection(Listener.listen(clientContext(t), { path, removeStaleSocket: false }));
    assert.ok(refused instanceof ConnectError);
    assert.equal((refused.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
    const server = await echoOn(t, { path });
    const conn = await Conn.open(clientContext(t), `ws+unix://${path}:/`, { timeoutMs: 5000 });
    await server.ready.next(5000, 'server side');
    await conn.close();
  });

  it('a live socket or a regular file at the path is never removed', async (t) => {
    const dir = tempDir(t);
    const live = join(dir, 'live.sock');
    const first = await echoOn(t, { path: live });
    const taken = await rejection(Listener.listen(clientContext(t), { path: live }));
    assert.ok(
      taken instanceof ConnectError && (taken.cause as NodeJS.ErrnoException).code === 'EADDRINUSE',
      String(taken),
    );
    const conn = await Conn.open(clientContext(t), `ws+unix://${live}:/`, { timeoutMs: 5000 });
    await first.ready.next(5000, 'the first listener still accepts');
    await conn.close();
    const file = join(dir, 'data.txt');
    writeFileSync(file, 'keep me');
    const notSocket = await rejection(Listener.listen(clientContext(t), { path: file }));
    assert.ok(notSocket instanceof ConnectError, String(notSocket));
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
  });

  it('closing the listener removes the socket file; a missing socket is a ConnectError naming the path', async (t) => {
    const path = join(tempDir(t), 'gone.sock');
    const ctx = new Context();
    const listener = await Listener.listen(ctx, { path });
    assert.ok(existsSync(path));
    await listener.close();
    await ctx.close();
    assert.equal(existsSync(path), false);
    const error = await rejection(Conn.open(clientContext(t), `ws+unix://${path}:/`, { timeoutMs: 5000 }));
    assert.ok(error instanceof ConnectError, String(error));
    assert.match(error.message, new RegExp(`cannot connect to ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT');
  });

  it('unusable unix URLs and options throw', async (t) => {
    const ctx = clientContext(t);
    assert.throws(() => Conn.connect(ctx, 'ws+unix:'), TypeError);
    assert.throws(() => Conn.connect(ctx, 'ws+unix:///'), TypeError);
    await assert.rejects(Listener.listen(ctx, { path: '/tmp/x.sock', port: 1 }), TypeError);
    await assert.rejects(Listener.listen(ctx, {}), TypeError);
  });

  it('nopoll echo-server --unix and echo-client with a ws+unix: URL', async (t) => {
    const path = join(tempDir(t), 'cli.sock');
    const server = nopoll(t, ['echo-server', '--unix', path]);
    await expectLine(server, new RegExp(`^listening on ws\\+unix://${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:/$`));
    const conn = await Conn.open(clientContext(t), `ws+unix://${path}:/`, { timeoutMs: 5000 });
    conn.sendText('cli server');
    assert.equal((await conn.nextMsg({ timeoutMs: 5000 })).text, 'cli server');
    await conn.close();
    // echo-client against our own listener on a socket: it echoes, then exits 0 on a clean close.
    const clientPath = join(tempDir(t), 'client.sock');
    const own = await echoOn(t, { path: clientPath });
    const echoed = new AsyncQueue<string>();
    own.listener.ctx.onMessage = (_conn, msg) => echoed.push(msg.text);
    const client = nopoll(t, ['echo-client', `ws+unix://${clientPath}:/`]);
    const accepted = await own.ready.next(10_000, 'echo-client connects');
    accepted.sendText('echo over unix');
    assert.equal(await echoed.next(5000, 'the echo'), 'echo over unix');
    await accepted.close(1000);
    assert.equal(await exitCode(client), 0, client.stderr());
    server.child.kill('SIGTERM');
    assert.equal(await exitCode(server), 0);
    assert.equal(existsSync(path), false, 'the socket file is removed on SIGTERM');
  });
});
