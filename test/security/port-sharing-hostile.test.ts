/**
 * Port sharing against hostile clients (issue 11 item 3): a connection that is neither HTTP nor TLS is closed
 * unless the user's detector claims it (silence, 1-3 bytes, garbage), and the line echo of `nopoll echo-server
 * --share-port` has an idle timeout, writes once per chunk read and stops reading while its echo is unsent, so 64
 * MiB of newlines from a client that never reads keep the server small (RSS of the real CLI process, from /proc).
 * Loopback only, ephemeral ports.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import WebSocket from 'ws';
import { processCpuTicks, processRssBytes } from '../../bench/lib/procfs.js';
import { Context } from '../../src/api/context.js';
import { Listener } from '../../src/api/listener.js';
import { sharePort, sniff, type ProtocolDetector, type SharePortOptions } from '../../src/api/port-sharing.js';
import { detectTextLine, lineEcho } from '../../src/cli/share-port.js';
import { PolicyViolationError, TimeoutError } from '../../src/errors.js';
import { exitCode, expectLine, nopoll, type Cli } from '../helpers/cli.js';
import { AsyncQueue, delay, withTimeout } from '../helpers/ws-async.js';
import { wrapWs } from '../helpers/ws-peers.js';

/** What hostile clients send; each must be closed by a port with no detector claiming it. */
const HOSTILE: Array<[string, Buffer]> = [
  ['nothing', Buffer.alloc(0)],
  ['"G"', Buffer.from('G')],
  ['"GE"', Buffer.from('GE')],
  ['"GET" without the space', Buffer.from('GET')],
  ['a TLS record type alone', Buffer.from([0x16])],
  ['a TLS record type and major version', Buffer.from([0x16, 0x03])],
  ['binary garbage', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x01, 0x02])],
  ['an SSH banner without its end of line', Buffer.from('SSH-2.0-OpenSSH_9.6')],
];

/** A TCP server on 127.0.0.1:0; its sockets are destroyed and it is closed after the test. */
async function tcpServer(t: TestContext): Promise<{ server: Server; port: number }> {
  const server = createServer({ noDelay: true });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((done) => server.close(() => done()));
  });
  return { server, port: (server.address() as { port: number }).port };
}

/** A raw TCP client whose received bytes are collected; destroyed after the test. */
async function rawClient(
  t: TestContext,
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = tcpConnect({ port, host: '127.0.0.1' });
  t.after(() => socket.destroy());
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((done) => socket.once('close', () => done()));
  await withTimeout(new Promise((done) => socket.once('connect', done)), 5000, 'TCP connect');
  return { socket, received: () => text, closed };
}

/** Sends each hostile input on its own connection to `port`; every one must be closed by the server. */
async function expectAllClosed(t: TestContext, port: number, within: number): Promise<void> {
  await Promise.all(
    HOSTILE.map(async ([name, bytes]) => {
      const client = await rawClient(t, port);
      if (bytes.length > 0) client.socket.write(bytes);
      await withTimeout(client.closed, within, `the server closing a client that sent ${name}`);
      assert.equal(client.received(), '', `${name}: nothing is answered`);
    }),
  );
}

/** An echo context for the WebSocket side; closed after the test. */
function echoContext(t: TestContext): Context {
  const ctx = new Context();
  ctx.onMessage = (conn, msg) => void conn.sendText(msg.payload);
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing the context'));
  return ctx;
}

/** A shared port with `extra` options; the WebSocket side echoes. */
async function shared(t: TestContext, extra: Partial<SharePortOptions>): Promise<{ ctx: Context; port: number }> {
  const ctx = echoContext(t);
  const { server, port } = await tcpServer(t);
  const routing = sharePort(server, { listener: Listener.fromSocket(ctx, server), sniffTimeoutMs: 100, ...extra });
  t.after(() => routing.close());
  return { ctx, port };
}

/** Opens a `ws` client on `port`, checks one echo, and closes it. */
async function wsEchoes(t: TestContext, port: number): Promise<void> {
  const ws = wrapWs(new WebSocket(`ws://127.0.0.1:${port}/`));
  t.after(() => ws.ws.terminate());
  await withTimeout(new Promise((done) => ws.ws.once('open', done)), 5000, 'ws open');
  ws.ws.send('still serving');
  assert.equal((await ws.messages.next()).data.toString(), 'still serving');
  ws.ws.close();
}

describe('sharePort closes what is neither HTTP, TLS nor claimed', () => {
  it('without a detector: silence, 1-3 bytes of GET or TLS, and garbage are closed; WebSocket still works', async (t) => {
    const { port } = await shared(t, {});
    await expectAllClosed(t, port, 5000);
    await wsEchoes(t, port);
  });

  it('with a detector: it sees the bytes (and the timeout) and only what it claims reaches `other`', async (t) => {
    const calls: Array<[string, boolean]> = [];
    const detect: ProtocolDetector = (head, timedOut) => {
      calls.push([head.toString('latin1'), timedOut]);
      return detectTextLine(head, timedOut);
    };
    const claimed = new AsyncQueue<Socket>();
    const { port } = await shared(t, {
      detect,
      other: (socket) => {
        claimed.push(socket);
        lineEcho(socket);
      },
    });
    await expectAllClosed(t, port, 5000);
    assert.ok(
      calls.some(([head, timedOut]) => head === 'GE' && timedOut),
      'a GET prefix is shown to the detector at the timeout',
    );
    assert.ok(
      calls.some(([head, timedOut]) => head === '' && timedOut),
      'silence is shown to the detector at the timeout',
    );
    const line = await rawClient(t, port);
    line.socket.write('hello, line protocol\n');
    await claimed.next(5000, 'the line client reaching other');
    await withTimeout(
      (async () => {
        while (line.received() !== 'hello, line protocol\n') await delay(5);
      })(),
      5000,
      'the line echo',
    );
  });

  it('closes a connection once it sent maxSniffBytes that the detector still wants more of', async (t) => {
    const { port } = await shared(t, {
      detect: () => 'more',
      other: (socket) => socket.destroy(),
      maxSniffBytes: 1024,
      sniffTimeoutMs: 60_000,
    });
    const client = await rawClient(t, port);
    client.socket.write(Buffer.alloc(2048, 0x41));
    await withTimeout(client.closed, 5000, 'the server closing a client past maxSniffBytes');
  });

  it('a detector that throws: the connection is closed, the error goes to ctx.onError, the port keeps serving', async (t) => {
    const errors = new AsyncQueue<unknown>();
    const boom = new Error('detector bug');
    const { ctx, port } = await shared(t, {
      detect: () => {
        throw boom;
      },
      other: (socket) => socket.destroy(),
    });
    ctx.onError = (error) => void errors.push(error);
    const client = await rawClient(t, port);
    client.socket.write('anything\n');
    await withTimeout(client.closed, 5000, 'the server closing the client');
    assert.equal(await errors.next(5000, 'the reported error'), boom);
    await wsEchoes(t, port);
  });

  it('other without detect, or detect without other, is a TypeError', async (t) => {
    const { server } = await tcpServer(t);
    const listener = Listener.detached(echoContext(t));
    assert.throws(() => sharePort(server, { listener, other: (socket) => socket.destroy() }), TypeError);
    assert.throws(() => sharePort(server, { listener, detect: () => true }), TypeError);
    assert.equal(server.listenerCount('connection'), 1, 'nothing was attached by the refused calls');
  });

  it('sniff() with detect: rejects with PolicyViolationError or TimeoutError("sniff") and destroys the socket', async (t) => {
    const results = new AsyncQueue<{ socket: Socket; outcome: Promise<unknown> }>();
    const { server, port } = await tcpServer(t);
    server.on('connection', (socket) =>
      results.push({ socket, outcome: sniff(socket, { detect: detectTextLine, timeoutMs: 100 }) }),
    );
    const garbage = await rawClient(t, port);
    garbage.socket.write(Buffer.from([0x00, 0x01]));
    const first = await results.next();
    await assert.rejects(first.outcome as Promise<unknown>, PolicyViolationError);
    assert.equal(first.socket.destroyed, true);
    await rawClient(t, port);
    const second = await results.next();
    await assert.rejects(
      second.outcome as Promise<unknown>,
      (error) => error instanceof TimeoutError && error.phase === 'sniff',
    );
    assert.equal(second.socket.destroyed, true);
    const line = await rawClient(t, port);
    line.socket.write('a line\n');
    const third = await results.next();
    assert.equal(((await third.outcome) as { kind: string }).kind, 'other');
  });
});

describe('the line echo of echo-server --share-port', () => {
  /** Starts `nopoll echo-server --share-port` on 127.0.0.1 with `args`; returns the process and its port. */
  async function echoServer(t: TestContext, args: string[]): Promise<{ cli: Cli; port: number }> {
    const cli = nopoll(t, ['echo-server', '--share-port', '--port', '0', '--host', '127.0.0.1', ...args]);
    const port = Number(
      (await expectLine(cli, /^listening on ws:\/\/127\.0\.0\.1:(\d+)\/ \(shared with a line echo\)$/))[1],
    );
    return { cli, port };
  }

  it('closes clients that send nothing, 1-3 bytes or garbage within --sniff-timeout-ms, and still echoes', async (t) => {
    const { cli, port } = await echoServer(t, ['--sniff-timeout-ms', '200']);
    await expectAllClosed(t, port, 5000);
    await wsEchoes(t, port);
    const line = await rawClient(t, port);
    line.socket.write('one\ntwo\n');
    await withTimeout(
      (async () => {
        while (line.received() !== 'one\ntwo\n') await delay(5);
      })(),
      5000,
      'the line echo',
    );
    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
  });

  it('closes a line client that goes quiet for --line-idle-timeout-ms', async (t) => {
    const { port } = await echoServer(t, ['--line-idle-timeout-ms', '200']);
    const line = await rawClient(t, port);
    line.socket.write('hello\n');
    await withTimeout(
      (async () => {
        while (line.received() !== 'hello\n') await delay(5);
      })(),
      5000,
      'the line echo',
    );
    await withTimeout(line.closed, 5000, 'the server closing the idle line client');
  });

  it('writes once per chunk read, never once per line', async (t) => {
    const { server, port } = await tcpServer(t);
    const counts = { reads: 0, writes: 0 };
    server.on('connection', (socket) => {
      socket.on('data', () => void counts.reads++);
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      (socket as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
        counts.writes++;
        return write(...args);
      };
      lineEcho(socket);
    });
    const client = await rawClient(t, port);
    const lines = 'x\n'.repeat(10_000);
    client.socket.write(lines);
    await withTimeout(
      (async () => {
        while (client.received().length < lines.length) await delay(5);
      })(),
      5000,
      'the echo of 10 000 lines',
    );
    assert.equal(client.received(), lines);
    assert.ok(counts.writes <= counts.reads, `${counts.writes} writes for ${counts.reads} reads of 10 000 lines`);
  });

  it(
    '64 MiB of newlines from a client that never reads: the server stops reading and grows by less than 24 MiB',
    { skip: processRssBytes(process.pid) === null && 'needs /proc', timeout: 90_000 },
    async (t) => {
      const { cli, port } = await echoServer(t, []);
      const pid = cli.child.pid!;
      // Warm up both sides so that loading code does not count as growth.
      await wsEchoes(t, port);
      const warm = await rawClient(t, port);
      warm.socket.write('warm up\n');
      await withTimeout(
        (async () => {
          while (warm.received() !== 'warm up\n') await delay(5);
        })(),
        5000,
        'the warm-up echo',
      );
      warm.socket.destroy();
      await delay(200);
      const before = processRssBytes(pid)!;

      const flood = await rawClient(t, port);
      flood.socket.pause(); // never reads what is echoed
      // The report grew a server by 2.9 GB with 24 MiB; 64 MiB also tells a server that coalesces its writes but
      // never stops reading (it would hold the whole echo) from one that does.
      const total = 64 * 1024 * 1024;
      // In 64 KiB writes, so that the client's unsent byte count shows how far the server read.
      const piece = Buffer.alloc(64 * 1024, 0x0a);
      for (let sent = 0; sent < total; sent += piece.length) flood.socket.write(piece);
      // Sample until the flood has settled: the client's bytes stopped moving (or were all taken) while the server
      // sat idle (a server still busy with what it read is not done, however slow). Fail as soon as the server
      // grows past the bound. Only the samples count, never how long anything took.
      const bound = 24 * 1024 * 1024;
      let peak = before;
      let unsent = flood.socket.writableLength;
      let cpu = processCpuTicks(pid);
      let still = 0;
      for (let i = 0; i < 600 && still < 10; i++) {
        await delay(100);
        const rss = processRssBytes(pid);
        const nowCpu = processCpuTicks(pid);
        assert.ok(rss !== null && nowCpu !== null && cpu !== null, 'the server is alive');
        peak = Math.max(peak, rss);
        assert.ok(peak - before < bound, `the server grew by ${((peak - before) / 2 ** 20).toFixed(1)} MiB`);
        const now = flood.socket.writableLength;
        still = (now === unsent || now === 0) && nowCpu - cpu <= 1 ? still + 1 : 0;
        unsent = now;
        cpu = nowCpu;
      }
      assert.ok(still >= 10, 'the flood settled: the server went idle with bytes still unsent');
      t.diagnostic(
        `RSS before ${(before / 2 ** 20).toFixed(1)} MiB, peak growth ${((peak - before) / 2 ** 20).toFixed(1)} MiB; ` +
          `${((total - unsent) / 2 ** 20).toFixed(1)} of 64 MiB left the client`,
      );
      // The server still serves others while the flood is parked.
      await wsEchoes(t, port);
      flood.socket.destroy();
      cli.child.kill('SIGTERM');
      assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
    },
  );
});
