/**
 * Port sharing (noPoll manual §2.2): one TCP port serving WebSocket (ws and, through the TLS accept hook, wss) and
 * a line protocol that echoes each line. The sniffer on raw sockets, `sharePort`, `Listener.fromSocket` /
 * `acceptComplete`, and `nopoll echo-server --share-port`. Loopback only, ephemeral ports.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Conn } from '../../src/api/conn.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { sharePort, sniff, type SharePortOptions } from '../../src/api/port-sharing.js';
import { sniffSocket, type SniffResult } from '../../src/transport/sniff-socket.js';
import { InvalidStateError, MessageTooBigError, TlsError } from '../../src/errors.js';
import { AsyncQueue, withTimeout } from '../helpers/ws-async.js';
import { wrapWs } from '../helpers/ws-peers.js';
import { exitCode, expectLine, nopoll } from '../helpers/cli.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'tls');
const tlsFile = (name: string): Buffer => readFileSync(join(FIXTURES, name));

/** A TCP server on 127.0.0.1:0 whose sockets all go to `onSocket`; closed (with its sockets) after the test. */
async function tcpServer(
  t: TestContext,
  onSocket?: (socket: Socket) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer({ noDelay: true });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    onSocket?.(socket);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((done) => server.close(() => done()));
  });
  return { server, port: (server.address() as { port: number }).port };
}

/** A TCP client; its received bytes are collected. Destroyed after the test. */
async function lineClient(
  t: TestContext,
  port: number,
): Promise<{ socket: Socket; received: () => string; ended: Promise<void> }> {
  const socket = tcpConnect({ port, host: '127.0.0.1' });
  t.after(() => socket.destroy());
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const ended = new Promise<void>((done) => socket.once('close', () => done()));
  await withTimeout(new Promise((done) => socket.once('connect', done)), 5000, 'TCP connect');
  return { socket, received: () => text, ended };
}

/** Resolves once `check()` holds, polling at most `ms` (for bytes trickling in over TCP). */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((done) => setTimeout(done, 5));
  }
}

/** Echoes each line back (the "legacy" protocol sharing the port). */
function echoLines(socket: Socket): void {
  let partial = '';
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: string) => {
    partial += chunk;
    let at: number;
    while ((at = partial.indexOf('\n')) >= 0) {
      socket.write(`${partial.slice(0, at + 1)}`);
      partial = partial.slice(at + 1);
    }
  });
  socket.on('end', () => socket.end());
}

/** The line protocol's detector: claims a connection whose first line (up to a newline) is printable text. */
function detectLine(head: Buffer): boolean | 'more' {
  const end = head.indexOf(0x0a);
  const line = end < 0 ? head : head.subarray(0, end);
  if (line.some((byte) => byte < 0x20 && byte !== 0x0d)) return false;
  return end >= 0 ? true : 'more';
}

/** A shared port: WebSocket echo + line echo; everything is released after the test. */
async function startShared(
  t: TestContext,
  extra: Partial<SharePortOptions> & { opts?: { maxMessageSize?: number } } = {},
): Promise<{ ctx: Context; listener: Listener; port: number; serverConns: AsyncQueue<Conn> }> {
  const ctx = new Context();
  const serverConns = new AsyncQueue<Conn>();
  ctx.onReady = (conn) => {
    serverConns.push(conn);
  };
  ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  const { server, port } = await tcpServer(t);
  const listener = Listener.fromSocket(ctx, server, extra.opts);
  const shared = sharePort(server, { listener, other: echoLines, detect: detectLine, ...extra });
  t.after(async () => {
    shared.close();
    await withTimeout(ctx.close(), 10_000, 'closing the shared context');
  });
  return { ctx, listener, port, serverConns };
}

describe('sniffSocket (transport)', () => {
  async function sniffed(
    t: TestContext,
    send: (socket: Socket) => void | Promise<void>,
    timeoutMs = 5000,
  ): Promise<{ result?: SniffResult; error?: Error; socket: Socket }> {
    const got = new AsyncQueue<{ result?: SniffResult; error?: Error; socket: Socket }>();
    const { port } = await tcpServer(t, (socket) => {
      sniffSocket(socket, { timeoutMs }, (error, result) =>
        got.push({ ...(error ? { error } : {}), ...(result ? { result } : {}), socket }),
      );
    });
    const client = tcpConnect({ port, host: '127.0.0.1' });
    client.on('error', () => undefined);
    t.after(() => client.destroy());
    await withTimeout(new Promise((done) => client.once('connect', done)), 5000, 'connect');
    await send(client);
    return got.next(10_000, 'the sniff verdict');
  }

  it('reports an HTTP GET with every byte read, across chunks, and leaves the socket paused', async (t) => {
    const request = 'GET /chat HTTP/1.1\r\nHost: x\r\n\r\n';
    const { result, socket } = await sniffed(t, async (client) => {
      client.write('G');
      await new Promise((done) => setTimeout(done, 20));
      client.write('E');
      await new Promise((done) => setTimeout(done, 20));
      client.write(request.slice(2));
    });
    assert.equal(result?.kind, 'http');
    assert.equal(result?.timedOut, false);
    assert.ok(request.startsWith(result!.head.toString('latin1')), 'the head is a prefix of what was sent');
    assert.ok(result!.head.length >= 4);
    assert.equal(socket.isPaused(), true);
    assert.equal(socket.listenerCount('data'), 0, 'no listener of the sniffer is left');
  });

  it('reports TLS for a ClientHello record header and "other" for a line', async (t) => {
    const tls = await sniffed(t, (client) => void client.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05])));
    assert.equal(tls.result?.kind, 'tls');
    const line = await sniffed(t, (client) => void client.write('hello\n'));
    assert.equal(line.result?.kind, 'other');
    assert.equal(line.result?.head.toString(), 'hello\n');
  });

  it('reports "other" with timedOut when the client sends too little in time', async (t) => {
    const quiet = await sniffed(t, () => undefined, 50);
    assert.deepEqual([quiet.result?.kind, quiet.result?.timedOut, quiet.result?.head.length], ['other', true, 0]);
    const short = await sniffed(t, (client) => void client.write('GE'), 50);
    assert.deepEqual(
      [short.result?.kind, short.result?.timedOut, short.result?.head.toString()],
      ['other', true, 'GE'],
    );
  });

  it('fails, and destroys the socket, when the client leaves before a verdict', async (t) => {
    const { error, socket } = await sniffed(t, (client) => {
      client.end('G');
    });
    assert.ok(error, 'an error is reported');
    assert.equal(socket.destroyed, true);
  });

  it('sniff() resolves like the callback form and rejects on abort', async (t) => {
    const results = new AsyncQueue<{ sniffing: Promise<SniffResult> }>();
    const controller = new AbortController();
    let first = true;
    const { port } = await tcpServer(t, (socket) => {
      results.push({ sniffing: first ? sniff(socket) : sniff(socket, { signal: controller.signal }) });
      first = false;
    });
    const a = await lineClient(t, port);
    a.socket.write('ping\n');
    const verdict = await (await results.next()).sniffing;
    assert.equal(verdict.kind, 'other');
    await lineClient(t, port);
    const pending = (await results.next()).sniffing;
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
  });
});

describe('sharePort: WebSocket and a line protocol on one port', () => {
  it('serves a ws client, a nopoll client and line clients side by side', async (t) => {
    const { listener, port, serverConns } = await startShared(t);
    const url = `ws://127.0.0.1:${port}/shared`;

    const ws = wrapWs(new WebSocket(url));
    t.after(() => ws.ws.terminate());
    const wsOpen = new Promise((done) => ws.ws.once('open', done));
    const clientCtx = new Context();
    t.after(() => withTimeout(clientCtx.close(), 10_000, 'closing the client context'));
    const conn = await Conn.open(clientCtx, url, { timeoutMs: 5000 });
    const line = await lineClient(t, port);

    await withTimeout(wsOpen, 5000, 'ws open');
    ws.ws.send('from ws');
    conn.sendText('from nopoll');
    conn.sendBinary(Buffer.from([1, 2, 3]));
    line.socket.write('first line\nsecond ');
    line.socket.write('line\n');

    const echoed = await ws.messages.next();
    assert.deepEqual([echoed.isBinary, echoed.data.toString()], [false, 'from ws']);
    assert.equal((await conn.nextMsg({ timeoutMs: 5000 })).text, 'from nopoll');
    assert.deepEqual((await conn.nextMsg({ timeoutMs: 5000 })).payload, Buffer.from([1, 2, 3]));
    await until(() => line.received() === 'first line\nsecond line\n', 5000, 'the line echo');

    // The connections belong to the port-sharing listener (noPoll's path lost it, nopoll-api.md N1).
    const accepted = [await serverConns.next(), await serverConns.next()];
    for (const c of accepted) {
      assert.equal(c.listener, listener);
      assert.equal(c.requestedUrl, '/shared');
    }
    assert.equal(listener.port, port);
    assert.equal(listener.host, '127.0.0.1');
  });

  it("applies the listener's options to the connections handed over", async (t) => {
    const { port } = await startShared(t, { opts: { maxMessageSize: 100 } });
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing the client context'));
    const conn = await Conn.open(ctx, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
    conn.sendText('x'.repeat(101));
    const info = await withTimeout(conn.closed, 5000, 'the server closing');
    assert.equal(info.code, 1009, 'the listener limit made the server close with 1009');
    assert.ok(!(info.error instanceof MessageTooBigError), 'the client itself was fine');
  });

  it('a handshake arriving in 1-byte pieces still reaches the listener', async (t) => {
    const { port } = await startShared(t);
    const socket = tcpConnect({ port, host: '127.0.0.1' });
    t.after(() => socket.destroy());
    socket.on('error', () => undefined);
    await withTimeout(new Promise((done) => socket.once('connect', done)), 5000, 'connect');
    const request = Buffer.from(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      'latin1',
    );
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    for (let i = 0; i < 8; i++) {
      socket.write(request.subarray(i, i + 1));
      await new Promise((done) => setTimeout(done, 5));
    }
    socket.write(request.subarray(8));
    await until(() => answer.includes('\r\n\r\n'), 5000, 'the 101 answer');
    assert.match(answer, /^HTTP\/1\.1 101 /);
    assert.match(answer, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
  });

  it('a line client whose first bytes look like "GE" goes to the line protocol once a byte differs', async (t) => {
    const { port } = await startShared(t);
    const line = await lineClient(t, port);
    line.socket.write('GE');
    await new Promise((done) => setTimeout(done, 30));
    line.socket.write('NERAL\n');
    await until(() => line.received() === 'GENERAL\n', 5000, 'the echo of GENERAL');
  });

  it('a client that sends nothing goes to the other protocol after the sniff timeout when the detector claims silence (server speaks first)', async (t) => {
    const greeted = (socket: Socket): void => {
      socket.write('220 hello\n');
      echoLines(socket);
    };
    const seen: Array<[string, boolean]> = [];
    const claimSilence = (head: Buffer, timedOut: boolean): boolean | 'more' => {
      seen.push([head.toString('latin1'), timedOut]);
      return timedOut && head.length === 0;
    };
    const { port } = await startShared(t, { other: greeted, detect: claimSilence, sniffTimeoutMs: 50 });
    const line = await lineClient(t, port);
    await until(() => line.received() === '220 hello\n', 5000, 'the greeting');
    line.socket.write('after greeting\n');
    await until(() => line.received() === '220 hello\nafter greeting\n', 5000, 'the echo after the greeting');
    assert.deepEqual(seen, [['', true]], 'the detector was asked once, at the timeout, with nothing read');
  });

  it('a listener with no certificate drops TLS clients and the port keeps working', async (t) => {
    const { port } = await startShared(t);
    const tlsClient = tcpConnect({ port, host: '127.0.0.1' });
    t.after(() => tlsClient.destroy());
    tlsClient.on('error', () => undefined);
    const closed = new Promise((done) => tlsClient.once('close', done));
    tlsClient.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10]));
    await withTimeout(closed, 5000, 'the TLS client being dropped');
    const line = await lineClient(t, port);
    line.socket.write('still here\n');
    await until(() => line.received() === 'still here\n', 5000, 'the line echo');
  });

  it('hands TLS clients to the `tls` handler: wss, ws and lines on one port', async (t) => {
    // The handler contract, exercised with a TLSSocket made here: the socket comes with the sniffed bytes put back.
    const seen: Socket[] = [];
    let shared: Listener | null = null;
    const { port, serverConns, listener } = await startShared(t, {
      tls: (socket) => {
        seen.push(socket);
        const secured = new TLSSocket(socket, {
          isServer: true,
          cert: tlsFile('server.crt'),
          key: tlsFile('server.key'),
        });
        secured.on('error', () => undefined);
        shared!.acceptSocket(secured as unknown as Socket);
      },
    });
    shared = listener;

    const wss = wrapWs(new WebSocket(`wss://localhost:${port}/secure`, { ca: tlsFile('ca.crt') }));
    t.after(() => wss.ws.terminate());
    const ws = wrapWs(new WebSocket(`ws://127.0.0.1:${port}/plain`));
    t.after(() => ws.ws.terminate());
    const line = await lineClient(t, port);
    await withTimeout(
      Promise.all([new Promise((d) => wss.ws.once('open', d)), new Promise((d) => ws.ws.once('open', d))]),
      5000,
      'both open',
    );
    wss.ws.send('secret');
    ws.ws.send('public');
    line.socket.write('plain line\n');
    assert.equal((await wss.messages.next()).data.toString(), 'secret');
    assert.equal((await ws.messages.next()).data.toString(), 'public');
    await until(() => line.received() === 'plain line\n', 5000, 'the line echo');
    assert.equal(seen.length, 1, 'only the TLS client went to the handler');
    const conns = [await serverConns.next(), await serverConns.next()];
    const secure = conns.find((c) => c.requestedUrl === '/secure');
    const plain = conns.find((c) => c.requestedUrl === '/plain');
    assert.equal(secure?.isTlsOn, true);
    assert.equal(plain?.isTlsOn, false);
  });
});

describe('sharePort with the TLS support: ws, wss and lines on one port', () => {
  it("completes wss accepts with the listener's certificate; nopoll and ws clients over both", async (t) => {
    const certFiles = { cert: { file: join(FIXTURES, 'server.crt') }, key: { file: join(FIXTURES, 'server.key') } };
    const ctx = new Context();
    const ready = new AsyncQueue<Conn>();
    ctx.onReady = (conn) => void ready.push(conn);
    ctx.onMessage = (conn, msg) => void conn.sendText(`${conn.isTlsOn ? 'wss' : 'ws'}: ${msg.text}`);
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing the shared context'));
    const { server, port } = await tcpServer(t);
    const listener = Listener.fromSocket(ctx, server, { tls: certFiles });
    const shared = sharePort(server, { listener, other: echoLines, detect: detectLine });
    t.after(() => shared.close());

    const clients = new Context();
    t.after(() => withTimeout(clients.close(), 10_000, 'closing the clients'));
    const secure = await Conn.open(clients, `wss://localhost:${port}/`, {
      tls: { ca: tlsFile('ca.crt') },
      timeoutMs: 5000,
    });
    const plain = await Conn.open(clients, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
    const wss = wrapWs(new WebSocket(`wss://localhost:${port}/`, { ca: tlsFile('ca.crt') }));
    t.after(() => wss.ws.terminate());
    const wssOpen = new Promise((done) => wss.ws.once('open', done));
    const line = await lineClient(t, port);

    secure.sendText('a');
    plain.sendText('b');
    await withTimeout(wssOpen, 5000, 'ws over TLS opening');
    wss.ws.send('c');
    line.socket.write('d\n');
    assert.equal((await secure.nextMsg({ timeoutMs: 5000 })).text, 'wss: a');
    assert.equal((await plain.nextMsg({ timeoutMs: 5000 })).text, 'ws: b');
    assert.equal((await wss.messages.next()).data.toString(), 'wss: c');
    await until(() => line.received() === 'd\n', 5000, 'the line echo');
    assert.equal(secure.isTlsOn, true);
    const served = [await ready.next(), await ready.next(), await ready.next()];
    assert.ok(
      served.every((conn) => conn.listener === listener),
      'every connection belongs to the shared listener',
    );
    assert.equal(served.filter((conn) => conn.isTlsOn).length, 2);
  });
});

describe('Listener.fromSocket / acceptComplete', () => {
  it('records the address of the accepting server and completes accepts handed over by hand', async (t) => {
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing the context'));
    ctx.onMessage = (conn, msg) => void conn.sendText(`echo ${msg.text}`);
    let listener: Listener | null = null;
    const { server, port } = await tcpServer(t, (socket) => {
      void sniff(socket).then((result) => {
        if (result.kind === 'http') listener!.acceptComplete(socket, result.head);
        else socket.destroy();
      });
    });
    listener = Listener.fromSocket(ctx, server);
    assert.deepEqual([listener.host, listener.port, listener.server], ['127.0.0.1', port, null]);
    const client = new Context();
    t.after(() => withTimeout(client.close(), 10_000, 'closing the client context'));
    const conn = await Conn.open(client, `ws://127.0.0.1:${port}/`, { timeoutMs: 5000 });
    conn.sendText('hi');
    assert.equal((await conn.nextMsg({ timeoutMs: 5000 })).text, 'echo hi');
  });

  it('refuses sockets once closed, and fails TLS accepts without a certificate, destroying them', async (t) => {
    const ctx = new Context();
    t.after(() => withTimeout(ctx.close(), 10_000, 'closing the context'));
    const sockets = new AsyncQueue<Socket>();
    const { port } = await tcpServer(t, (socket) => sockets.push(socket));
    const listener = Listener.detached(ctx);
    await lineClient(t, port);
    const first = await sockets.next();
    const conn = listener.acceptComplete(first, Buffer.from([0x16, 0x03, 0x01]), { tls: true });
    const info = await withTimeout(conn.closed, 5000, 'the TLS accept failing');
    assert.ok(info.error instanceof TlsError, String(info.error));
    assert.equal(first.destroyed, true);
    await listener.close();
    await lineClient(t, port);
    const second = await sockets.next();
    assert.throws(() => listener.acceptComplete(second, Buffer.from('GET ')), InvalidStateError);
    assert.equal(second.destroyed, true);
  });
});

describe('nopoll echo-server --share-port', () => {
  it('echoes WebSocket messages and lines on one port, exits 0 on SIGTERM', async (t) => {
    const cli = nopoll(t, ['echo-server', '--share-port', '--port', '0', '--host', '127.0.0.1']);
    const port = Number((await expectLine(cli, /^listening on ws:\/\/127\.0\.0\.1:(\d+)\//))[1]);

    const ws = wrapWs(new WebSocket(`ws://127.0.0.1:${port}/`));
    t.after(() => ws.ws.terminate());
    await withTimeout(new Promise((done) => ws.ws.once('open', done)), 5000, 'ws open');
    ws.ws.send('through the shared port');
    ws.ws.send(Buffer.from([9, 8, 7]));
    const text = await ws.messages.next();
    assert.deepEqual([text.isBinary, text.data.toString()], [false, 'through the shared port']);
    const bin = await ws.messages.next();
    assert.deepEqual([bin.isBinary, [...bin.data]], [true, [9, 8, 7]]);

    const line = await lineClient(t, port);
    line.socket.write('one\ntwo\n');
    await until(() => line.received() === 'one\ntwo\n', 5000, 'the line echo');
    line.socket.end('three');
    await withTimeout(line.ended, 5000, 'the line client closing');
    assert.equal(line.received(), 'one\ntwo\nthree');

    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli, 5000), 0, `stderr: ${cli.stderr()}`);
    const closed = await withTimeout(ws.closed, 5000, 'the ws client seeing the server go away');
    assert.equal(closed.code, 1001);
  });

  it('with --tls --cert --key also echoes over wss on the same port', async (t) => {
    const args = [
      'echo-server',
      '--share-port',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--tls',
      '--cert',
      join(FIXTURES, 'server.crt'),
      '--key',
      join(FIXTURES, 'server.key'),
    ];
    const cli = nopoll(t, args);
    const port = Number((await expectLine(cli, /^listening on \S+:(\d+)\//))[1]);

    const wss = wrapWs(new WebSocket(`wss://localhost:${port}/`, { ca: tlsFile('ca.crt') }));
    t.after(() => wss.ws.terminate());
    const ws = wrapWs(new WebSocket(`ws://127.0.0.1:${port}/`));
    t.after(() => ws.ws.terminate());
    await withTimeout(
      Promise.all([new Promise((d) => wss.ws.once('open', d)), new Promise((d) => ws.ws.once('open', d))]),
      5000,
      'both open',
    );
    wss.ws.send('over tls');
    ws.ws.send('in clear');
    assert.equal((await wss.messages.next()).data.toString(), 'over tls');
    assert.equal((await ws.messages.next()).data.toString(), 'in clear');
    const line = await lineClient(t, port);
    line.socket.write('a line\n');
    await until(() => line.received() === 'a line\n', 5000, 'the line echo');

    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli, 5000), 0, `stderr: ${cli.stderr()}`);
  });
});
