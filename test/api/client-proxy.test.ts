/**
 * Clients through real proxies (docs/client.md): tinyproxy (HTTP CONNECT, with and without BasicAuth), an HTTPS
 * proxy (a node:tls front before tinyproxy), danted (SOCKS5, with and without username/password, local and remote
 * name resolution), picked by the `proxy` option or from environment variables (`proxyEnv`). TLS to the WebSocket
 * server is verified end to end through the tunnel. Each failure is a typed error.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { ConnectError, ProxyError, TimeoutError, TlsError } from '../../src/errors.js';
import { join } from 'node:path';
import { exitCode, nopoll } from '../helpers/cli.js';
import { ipv6LoopbackAvailable } from '../helpers/net.js';
import { freePort, needDante, needTinyproxy, startDante, startHttpsFront, startTinyproxy } from '../helpers/proxies.js';
import { certs, startTlsEchoListener, TLS_DIR } from '../helpers/tls.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';

/** A plain echo listener on 127.0.0.1 (and ::1 on the same port with `ipv6Too`); records accepted connections. */
async function echoServer(t: TestContext, ipv6Too = false): Promise<{ port: number; ready: AsyncQueue<Conn> }> {
  const ctx = new Context();
  const ready = new AsyncQueue<Conn>();
  ctx.onReady = (conn) => ready.push(conn);
  ctx.onMessage = (conn, msg) => void conn.sendText(msg.payload);
  const listener = await Listener.listen(ctx, { host: '127.0.0.1', port: 0 });
  if (ipv6Too && (await ipv6LoopbackAvailable()))
    await Listener.listen(ctx, { host: '::1', port: listener.port, ipv6: true });
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the echo server'));
  return { port: listener.port, ready };
}

async function tlsServer(t: TestContext): Promise<{ port: number }> {
  const server = await startTlsEchoListener();
  t.after(() => server.close());
  return { port: server.port };
}

function clientContext(t: TestContext): Context {
  const ctx = new Context();
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
  return ctx;
}

/** One text message there and back. */
async function roundTrip(conn: Conn, text = 'through the tunnel'): Promise<void> {
  conn.sendText(text);
  const msg = await conn.nextMsg({ timeoutMs: 5000 });
  assert.equal(msg.text, text);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

function assertProxyError(
  error: unknown,
  failure: ProxyError['failure'],
  fields: { status?: number; socksReply?: number } = {},
): ProxyError {
  assert.ok(error instanceof ProxyError, `expected a ProxyError, got ${String(error)}`);
  assert.equal(error.code, 'NOPOLL_ERR_PROXY');
  assert.equal(error.failure, failure, error.message);
  if (fields.status !== undefined) assert.equal(error.status, fields.status, error.message);
  if (fields.socksReply !== undefined) assert.equal(error.socksReply, fields.socksReply, error.message);
  assert.ok(!error.proxy.includes('@'), 'no credentials in the proxy name');
  return error;
}

/** The TCP connection under `conn` goes to the proxy, and the server saw another connection (the proxy's). */
async function assertThroughProxy(conn: Conn, proxyPort: number, serverReady: AsyncQueue<Conn>): Promise<void> {
  assert.equal(conn.socket?.remotePort, proxyPort);
  const accepted = await serverReady.next(5000, 'server side');
  assert.notEqual(accepted.port, conn.socket?.localPort, 'the server is reached from the proxy, not from the client');
}

describe('HTTP CONNECT proxy (tinyproxy)', () => {
  it('ws:// through the proxy (option as a URL string)', async (t) => {
    if (!needTinyproxy(t)) return;
    const proxy = await startTinyproxy(t);
    const server = await echoServer(t);
    const conn = await Conn.open(clientContext(t), `ws://127.0.0.1:${server.port}/`, {
      proxy: proxy.url,
      timeoutMs: 5000,
    });
    await assertThroughProxy(conn, proxy.port, server.ready);
    await roundTrip(conn);
    assert.equal((await conn.close()).wasClean, true);
  });

  it('wss:// through the proxy: the server certificate is verified inside the tunnel', async (t) => {
    if (!needTinyproxy(t)) return;
    const proxy = await startTinyproxy(t);
    const server = await tlsServer(t);
    const ctx = clientContext(t);
    const conn = await Conn.open(ctx, `wss://127.0.0.1:${server.port}/`, {
      proxy: proxy.url,
      tls: { ca: certs.ca },
      timeoutMs: 5000,
    });
    assert.equal(conn.isTlsOn, true);
    await roundTrip(conn);
    await conn.close();
    // Without the test CA, the same tunnel reaches the same server, whose certificate is then refused.
    const refused = await rejection(
      Conn.open(ctx, `wss://127.0.0.1:${server.port}/`, { proxy: proxy.url, timeoutMs: 5000 }),
    );
    assert.ok(refused instanceof TlsError, String(refused));
  });

  it('BasicAuth: credentials in the URL or as options; none → 407 auth; wrong ones → 407 refused credentials', async (t) => {
    if (!needTinyproxy(t)) return;
    const proxy = await startTinyproxy(t, { auth: { user: 'alice', password: 's3cret' } });
    const server = await echoServer(t);
    const ctx = clientContext(t);
    const url = `ws://127.0.0.1:${server.port}/`;
    const viaUrl = await Conn.open(ctx, url, { proxy: `http://alice:s3cret@127.0.0.1:${proxy.port}`, timeoutMs: 5000 });
    await roundTrip(viaUrl);
    await viaUrl.close();
    const viaOptions = await Conn.open(ctx, url, {
      proxy: { url: proxy.url, username: 'alice', password: 's3cret' },
      timeoutMs: 5000,
    });
    await roundTrip(viaOptions);
    await viaOptions.close();
    const none = assertProxyError(await rejection(Conn.open(ctx, url, { proxy: proxy.url, timeoutMs: 5000 })), 'auth', {
      status: 407,
    });
    assert.match(none.message, /requires authentication \(it asks for Basic\)/);
    const wrong = assertProxyError(
      await rejection(Conn.open(ctx, url, { proxy: `http://alice:nope@127.0.0.1:${proxy.port}`, timeoutMs: 5000 })),
      'auth',
    );
    // tinyproxy answers wrong credentials with 401 rather than 407; both are about credentials.
    assert.ok(wrong.status === 407 || wrong.status === 401, String(wrong.status));
    assert.match(wrong.message, /refused the credentials/);
  });

  it('a CONNECT the proxy forbids → 403 refused; a target it cannot reach → its 5xx', async (t) => {
    if (!needTinyproxy(t)) return;
    const server = await echoServer(t);
    const ctx = clientContext(t);
    const strict = await startTinyproxy(t, { connectPorts: [443] });
    const forbidden = assertProxyError(
      await rejection(Conn.open(ctx, `ws://127.0.0.1:${server.port}/`, { proxy: strict.url, timeoutMs: 5000 })),
      'refused',
      { status: 403 },
    );
    assert.match(forbidden.message, new RegExp(`refused a tunnel to 127\\.0\\.0\\.1:${server.port}: 403`));
    const open = await startTinyproxy(t);
    const closed = await freePort();
    const unreachable = assertProxyError(
      await rejection(Conn.open(ctx, `ws://127.0.0.1:${closed}/`, { proxy: open.url, timeoutMs: 5000 })),
      'refused',
    );
    assert.ok(unreachable.status >= 500 && unreachable.status < 600, `status ${unreachable.status}`);
  });

  it('a proxy that cannot be reached → ProxyError connect, cause ECONNREFUSED', async (t) => {
    const server = await echoServer(t);
    const port = await freePort();
    const error = assertProxyError(
      await rejection(
        Conn.open(clientContext(t), `ws://127.0.0.1:${server.port}/`, {
          proxy: `http://127.0.0.1:${port}`,
          timeoutMs: 5000,
        }),
      ),
      'connect',
    );
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assert.equal(error.proxy, `http://127.0.0.1:${port}`);
  });

  it('a proxy that never answers CONNECT → TimeoutError phase proxy', async (t) => {
    const { createServer } = await import('node:net');
    // It reads (so it sees the client leave) and never answers.
    const silent = createServer((socket) => socket.on('error', () => undefined).resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    t.after(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    const port = (silent.address() as { port: number }).port;
    const ctx = clientContext(t);
    const error = await rejection(
      Conn.open(ctx, 'ws://127.0.0.1:9/', { proxy: `http://127.0.0.1:${port}`, connectTimeoutMs: 300 }),
    );
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal(error.phase, 'proxy');
  });
});

describe('HTTPS proxy (TLS front + tinyproxy)', () => {
  it('ws:// and wss:// through an https:// proxy, both TLS layers verified', async (t) => {
    if (!needTinyproxy(t)) return;
    const tiny = await startTinyproxy(t);
    const front = await startHttpsFront(t, tiny.port);
    const ctx = clientContext(t);
    const plain = await echoServer(t);
    const ws = await Conn.open(ctx, `ws://127.0.0.1:${plain.port}/`, {
      proxy: { url: front.url, tls: { ca: certs.ca } },
      timeoutMs: 5000,
    });
    await roundTrip(ws);
    await ws.close();
    assert.equal(front.accepted(), 1);
    const secure = await tlsServer(t);
    const wss = await Conn.open(ctx, `wss://127.0.0.1:${secure.port}/`, {
      proxy: { url: front.url, tls: { ca: certs.ca } },
      tls: { ca: certs.ca },
      timeoutMs: 5000,
    });
    assert.equal(wss.isTlsOn, true);
    await roundTrip(wss, 'TLS inside TLS');
    assert.equal((await wss.close()).wasClean, true);
    assert.equal(front.accepted(), 2);
  });

  it('a proxy certificate the client does not trust → ProxyError tls (cause TlsError)', async (t) => {
    if (!needTinyproxy(t)) return;
    const tiny = await startTinyproxy(t);
    const front = await startHttpsFront(t, tiny.port);
    const server = await echoServer(t);
    const error = assertProxyError(
      await rejection(
        Conn.open(clientContext(t), `ws://127.0.0.1:${server.port}/`, { proxy: front.url, timeoutMs: 5000 }),
      ),
      'tls',
    );
    assert.ok(error.cause instanceof TlsError);
  });
});

describe('SOCKS5 proxy (danted)', () => {
  it('socks5h:// carries ws:// and wss:// (TLS verified end to end); the proxy resolves names', async (t) => {
    if (!needDante(t)) return;
    const dante = (await startDante(t))!;
    const server = await echoServer(t, true);
    const ctx = clientContext(t);
    const proxy = `socks5h://127.0.0.1:${dante.port}`;
    const conn = await Conn.open(ctx, `ws://127.0.0.1:${server.port}/`, { proxy, timeoutMs: 5000 });
    await assertThroughProxy(conn, dante.port, server.ready);
    await roundTrip(conn);
    await conn.close();
    const byName = await Conn.open(ctx, `ws://localhost:${server.port}/`, { proxy, timeoutMs: 5000 });
    await roundTrip(byName);
    await byName.close();
    const secure = await tlsServer(t);
    const wss = await Conn.open(ctx, `wss://127.0.0.1:${secure.port}/`, {
      proxy,
      tls: { ca: certs.ca },
      timeoutMs: 5000,
    });
    await roundTrip(wss);
    await wss.close();
  });

  it('remote vs local resolution: a name only the proxy tries (socks5h) vs one resolved here first (socks5)', async (t) => {
    if (!needDante(t)) return;
    const dante = (await startDante(t))!;
    const ctx = clientContext(t);
    // RFC 2606 reserves .invalid: no resolver finds it. Through socks5h the proxy is asked and answers a failure;
    // through socks5 the client fails to resolve it and never asks the proxy.
    const remote = assertProxyError(
      await rejection(
        Conn.open(ctx, 'ws://no-such-host.invalid:80/', {
          proxy: `socks5h://127.0.0.1:${dante.port}`,
          timeoutMs: 5000,
        }),
      ),
      'refused',
    );
    assert.notEqual(remote.socksReply, 0);
    const local = await rejection(
      Conn.open(ctx, 'ws://no-such-host.invalid:80/', { proxy: `socks5://127.0.0.1:${dante.port}`, timeoutMs: 5000 }),
    );
    assert.ok(local instanceof ConnectError && !(local instanceof ProxyError), String(local));
    assert.match(local.message, /cannot resolve no-such-host\.invalid/);
  });

  it('SOCKS5 refusals are typed: ruleset (2), connection refused (5)', async (t) => {
    if (!needDante(t)) return;
    const blocked = await freePort();
    const dante = (await startDante(t, { blockedPort: blocked }))!;
    const ctx = clientContext(t);
    const proxy = `socks5://127.0.0.1:${dante.port}`;
    const ruleset = assertProxyError(
      await rejection(Conn.open(ctx, `ws://127.0.0.1:${blocked}/`, { proxy, timeoutMs: 5000 })),
      'refused',
      { socksReply: 2 },
    );
    assert.match(ruleset.message, /connection not allowed by ruleset \(reply 2\)/);
    const closed = await freePort();
    const refused = assertProxyError(
      await rejection(Conn.open(ctx, `ws://127.0.0.1:${closed}/`, { proxy, timeoutMs: 5000 })),
      'refused',
      { socksReply: 5 },
    );
    assert.match(refused.message, /connection refused \(reply 5\)/);
  });

  it('username/password (RFC 1929): right ones connect; none or wrong ones → ProxyError auth', async (t) => {
    if (!needDante(t)) return;
    const dante = await startDante(t, { auth: true });
    if (dante === null) return;
    const server = await echoServer(t);
    const ctx = clientContext(t);
    const url = `ws://127.0.0.1:${server.port}/`;
    const good = await Conn.open(ctx, url, {
      proxy: { url: `socks5://127.0.0.1:${dante.port}`, username: dante.user!, password: dante.password! },
      timeoutMs: 5000,
    });
    await roundTrip(good);
    await good.close();
    const inUrl = await Conn.open(ctx, url, {
      proxy: `socks5h://${dante.user!}:${dante.password!}@127.0.0.1:${dante.port}`,
      timeoutMs: 5000,
    });
    await roundTrip(inUrl);
    await inUrl.close();
    const none = assertProxyError(
      await rejection(Conn.open(ctx, url, { proxy: `socks5://127.0.0.1:${dante.port}`, timeoutMs: 5000 })),
      'auth',
      { socksReply: 0xff },
    );
    assert.match(none.message, /requires authentication/);
    const wrong = assertProxyError(
      await rejection(
        Conn.open(ctx, url, {
          proxy: { url: `socks5://127.0.0.1:${dante.port}`, username: dante.user!, password: 'wrong' },
          timeoutMs: 5000,
        }),
      ),
      'auth',
    );
    assert.match(wrong.message, /refused the username and password/);
  });
});

describe('proxy from the environment (proxyEnv)', () => {
  it('HTTPS_PROXY for wss://, http_proxy for ws://, NO_PROXY to go direct, proxy: false to ignore it', async (t) => {
    if (!needTinyproxy(t)) return;
    const proxy = await startTinyproxy(t);
    const plain = await echoServer(t);
    const secure = await tlsServer(t);
    const ctx = clientContext(t);
    const wss = await Conn.open(ctx, `wss://127.0.0.1:${secure.port}/`, {
      proxyEnv: { HTTPS_PROXY: proxy.url },
      tls: { ca: certs.ca },
      timeoutMs: 5000,
    });
    assert.equal(wss.socket?.remotePort, proxy.port);
    await roundTrip(wss);
    await wss.close();
    const ws = await Conn.open(ctx, `ws://127.0.0.1:${plain.port}/`, {
      proxyEnv: { http_proxy: proxy.url, HTTPS_PROXY: 'http://127.0.0.1:9' },
      timeoutMs: 5000,
    });
    await assertThroughProxy(ws, proxy.port, plain.ready);
    await ws.close();
    const direct = await Conn.open(ctx, `ws://127.0.0.1:${plain.port}/`, {
      proxyEnv: { ALL_PROXY: proxy.url, NO_PROXY: `example.com, 127.0.0.0/8` },
      timeoutMs: 5000,
    });
    assert.equal(direct.socket?.remotePort, plain.port);
    await direct.close();
    const forced = await Conn.open(ctx, `ws://127.0.0.1:${plain.port}/`, {
      proxyEnv: { ALL_PROXY: 'http://127.0.0.1:9' },
      proxy: false,
      timeoutMs: 5000,
    });
    assert.equal(forced.socket?.remotePort, plain.port);
    await forced.close();
  });

  it('an unusable proxy setting throws at connect(): unknown scheme, SOCKS4', (t) => {
    const ctx = clientContext(t);
    assert.throws(() => Conn.connect(ctx, 'ws://127.0.0.1:9/', { proxy: 'ftp://127.0.0.1:21' }), TypeError);
    assert.throws(
      () => Conn.connect(ctx, 'ws://127.0.0.1:9/', { proxy: 'socks4://127.0.0.1:1080' }),
      /SOCKS4 is not supported/,
    );
    assert.throws(
      () => Conn.connect(ctx, 'ws://127.0.0.1:9/', { proxyEnv: { ALL_PROXY: 'socks://127.0.0.1' } }),
      TypeError,
    );
    assert.throws(
      () =>
        Conn.connect(ctx, 'ws://127.0.0.1:9/', {
          proxy: { url: 'socks5://h:1', username: 'x'.repeat(256), password: 'p' },
        }),
      RangeError,
    );
  });
});

/** Our listener (plain, or TLS with the test certificate) that sends one message, waits for its echo, then closes. */
async function echoChecker(t: TestContext, tls: boolean): Promise<{ url: string; echoed: AsyncQueue<string> }> {
  const ctx = new Context();
  const echoed = new AsyncQueue<string>();
  ctx.onReady = (conn) => void conn.sendText('hello through the proxy');
  ctx.onMessage = (conn, msg) => {
    echoed.push(msg.text);
    void conn.close(1000);
  };
  const listener = await Listener.listen(ctx, {
    host: '127.0.0.1',
    port: 0,
    ...(tls ? { tls: true, certificate: { cert: certs.serverCert, key: certs.serverKey } } : {}),
  });
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the checker'));
  return { url: `${tls ? 'wss' : 'ws'}://127.0.0.1:${listener.port}/`, echoed };
}

describe('nopoll echo-client through proxies', () => {
  it('--proxy with tinyproxy (HTTP CONNECT) and danted (socks5h); a dead proxy fails naming it', async (t) => {
    if (!needTinyproxy(t) || !needDante(t)) return;
    const tiny = await startTinyproxy(t);
    const dante = (await startDante(t))!;
    for (const proxy of [tiny.url, `socks5h://127.0.0.1:${dante.port}`]) {
      const server = await echoChecker(t, false);
      const cli = nopoll(t, ['echo-client', '--proxy', proxy, server.url]);
      assert.equal(await server.echoed.next(10_000, `echo through ${proxy}`), 'hello through the proxy');
      assert.equal(await exitCode(cli), 0, cli.stderr());
    }
    const dead = `http://127.0.0.1:${await freePort()}`;
    const server = await echoChecker(t, false);
    const cli = nopoll(t, ['echo-client', '--proxy', dead, server.url]);
    assert.equal(await exitCode(cli), 1);
    assert.match(cli.stderr(), new RegExp(`cannot connect to the proxy ${dead.replace(/[.:/]/g, '\\$&')}`));
  });

  it('HTTPS_PROXY for a wss:// server (TLS verified with --ca inside the tunnel); --no-proxy ignores it', async (t) => {
    if (!needTinyproxy(t)) return;
    const tiny = await startTinyproxy(t);
    const server = await echoChecker(t, true);
    const ca = join(TLS_DIR, 'ca.crt');
    const cli = nopoll(t, ['echo-client', '--ca', ca, server.url], { HTTPS_PROXY: tiny.url });
    assert.equal(await server.echoed.next(10_000, 'echo through HTTPS_PROXY'), 'hello through the proxy');
    assert.equal(await exitCode(cli), 0, cli.stderr());
    // The variable is really read: pointing it at nothing fails; --no-proxy goes direct.
    const dead = `http://127.0.0.1:${await freePort()}`;
    const failing = nopoll(t, ['echo-client', '--ca', ca, server.url], { HTTPS_PROXY: dead });
    assert.equal(await exitCode(failing), 1);
    assert.match(failing.stderr(), /cannot connect to the proxy/);
    const direct = await echoChecker(t, true);
    const bypass = nopoll(t, ['echo-client', '--no-proxy', '--ca', ca, direct.url], { HTTPS_PROXY: dead });
    assert.equal(await direct.echoed.next(10_000, 'direct echo'), 'hello through the proxy');
    assert.equal(await exitCode(bypass), 0, bypass.stderr());
    const misuse = nopoll(t, ['echo-client', '--proxy', 'ftp://x', direct.url]);
    assert.equal(await exitCode(misuse), 2);
  });
});
