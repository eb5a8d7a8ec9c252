/**
 * `nopoll connect URL` without a terminal: the handshake flags as a hand-written server reads them, `-x`/`-w`
 * scripts, piped input (with and without `--slash`), what a hostile peer sends shown escaped, `--timeout`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exitCode, expectLine, expectStderr, nopoll } from '../helpers/cli.js';
import { closeBody, OP, parseClose, RawServer } from '../helpers/raw-peer.js';
import { withTimeout } from '../helpers/ws-async.js';
import { startEchoListener } from '../helpers/ws-peers.js';

describe('nopoll connect: handshake flags', () => {
  it('-H (repeated, both spellings), -o, --auth, -s and --protocol reach the server; a URL without a scheme is ws://', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const cli = nopoll(t, [
      'connect',
      `127.0.0.1:${raw.port}/chat?room=1`,
      '-H',
      'X-Trace: abc 123',
      '--header=X-Other:two',
      '-o',
      'http://origin.test',
      '--auth',
      'ann:s3:cr ét',
      '-s',
      'chat.v2',
      '--protocol',
      'chat.v1',
      '-x',
      'hello raw',
    ]);
    const incoming = await raw.next(10_000);
    const { startLine, headers } = incoming.request;
    assert.equal(startLine, 'GET /chat?room=1 HTTP/1.1');
    assert.equal(headers.get('host'), `127.0.0.1:${raw.port}`);
    assert.equal(headers.get('x-trace'), 'abc 123');
    assert.equal(headers.get('x-other'), 'two');
    assert.equal(headers.get('origin'), 'http://origin.test');
    // RFC 7617: base64 of "user:password" in UTF-8; the password keeps its own colon.
    assert.equal(headers.get('authorization'), `Basic ${Buffer.from('ann:s3:cr ét', 'utf8').toString('base64')}`);
    assert.equal(headers.get('sec-websocket-protocol'), 'chat.v2, chat.v1');
    const peer = RawServer.accept(incoming, ['Sec-WebSocket-Protocol: chat.v1']);
    const text = await peer.nextFrame(5000);
    assert.deepEqual([text.opcode, text.payload.toString()], [OP.TEXT, 'hello raw']);
    // Without --wait, the close follows the -x lines at once.
    const close = await peer.nextFrame(5000);
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(parseClose(close.payload).code, 1000);
    peer.send({ opcode: OP.CLOSE, payload: closeBody(1000) });
    peer.end();
    assert.equal(await exitCode(cli), 0, cli.stderr());
    assert.match(
      cli.stderr(),
      new RegExp(`^connected to ws://127\\.0\\.0\\.1:${raw.port}/chat\\?room=1 \\(protocol chat\\.v1\\)$`, 'm'),
    );
  });

  it('a header the handshake writes itself, or a malformed one, is a usage mistake: exit 2, one line', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    for (const [args, message] of [
      [['-H', 'Upgrade: h2c'], /^nopoll connect: header Upgrade is set by the handshake itself\n$/],
      [['-H', 'no colon'], /^nopoll connect: --header needs 'NAME: VALUE', got "no colon"\n$/],
      [['--auth', 'nocolon'], /^nopoll connect: --auth needs USER:PASS, got "nocolon"\n$/],
      [
        ['--auth', 'a:b', '-H', 'authorization: x'],
        /^nopoll connect: --auth and --header Authorization exclude each other\n$/,
      ],
    ] as const) {
      const cli = nopoll(t, ['connect', srv.url, ...args]);
      assert.equal(await exitCode(cli), 2, args.join(' '));
      assert.match(cli.stderr(), message);
    }
  });
});

describe('nopoll connect -x and -w', () => {
  it('runs the -x lines in order (messages and slash commands), waits -w seconds, then closes with 1000', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const cli = nopoll(t, [
      'connect',
      srv.url,
      '-x',
      'one',
      '-x',
      '/ping p',
      '-x',
      '/binary 00 01ff',
      '-x',
      'two',
      '-x',
      '//slash',
      '-w',
      '1',
    ]);
    const conn = await srv.ready.next(10_000, 'the connection');
    const openedAt = Date.now();
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await srv.received.next(5000, 'a message')).msg);
    assert.deepEqual(
      got.map((m) => (m.isText ? m.text : [...m.payload])),
      ['one', [0x00, 0x01, 0xff], 'two', '/slash'],
    );
    await expectLine(cli, /^< one$/);
    await expectLine(cli, /^< binary 3 bytes: 0001ff$/);
    await expectLine(cli, /^< two$/);
    await expectLine(cli, /^< \/slash$/);
    const info = await withTimeout(conn.closed, 5000, 'the close');
    assert.ok(Date.now() - openedAt >= 900, `closed ${Date.now() - openedAt} ms after opening, before -w 1 was up`);
    assert.deepEqual([info.code, info.wasClean], [1000, true]);
    assert.equal(await exitCode(cli), 0, cli.stderr());
    assert.match(cli.stderr(), /^< pong: p$/m);
    assert.match(cli.stderr(), /^closed: 1000$/m);
  });

  it('-x "/close 4001 done" closes with that code and reason; the server\'s echo of it is shown', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const cli = nopoll(t, ['connect', srv.url, '-x', 'last words', '-x', '/close 4001 done', '-w', '5']);
    const conn = await srv.ready.next(10_000, 'the connection');
    const info = await withTimeout(conn.closed, 5000, 'the close');
    assert.deepEqual([info.code, info.reason], [4001, 'done']);
    assert.equal(await exitCode(cli, 3000), 0, 'the -w wait ends with the connection');
    assert.match(cli.stderr(), /^> close 4001 done$/m);
    assert.match(cli.stderr(), /^closed: 4001/m);
  });

  it('a mistaken -x line is refused before connecting (exit 2)', async (t) => {
    const cli = nopoll(t, ['connect', 'ws://127.0.0.1:9/', '-x', '/binary 0g']);
    assert.equal(await exitCode(cli), 2);
    assert.equal(
      cli.stderr(),
      'nopoll connect: --execute "/binary 0g": /binary needs hex digits in pairs (00ff1b), got "0g"\n',
    );
  });
});

describe('nopoll connect from a pipe', () => {
  it('sends lines as they are; with --slash, lines starting with / are commands', async (t) => {
    const srv = await startEchoListener();
    t.after(() => srv.close());
    const plain = nopoll(t, ['connect', srv.url]);
    plain.child.stdin.end('/ping as text\n\nlast\n');
    await expectLine(plain, /^< \/ping as text$/);
    await expectLine(plain, /^< $/);
    await expectLine(plain, /^< last$/);
    assert.equal(await exitCode(plain), 0, plain.stderr());
    assert.doesNotMatch(plain.stderr(), /pong/);

    const slash = nopoll(t, ['connect', srv.url, '--slash']);
    slash.child.stdin.end('/ping cmd\n/binary ff\n');
    await expectStderr(slash, /^< pong: cmd$/m);
    await expectLine(slash, /^< binary 1 bytes: ff$/);
    assert.equal(await exitCode(slash), 0, slash.stderr());
  });

  it("shows a hostile peer's control characters and escape sequences escaped, on stdout and stderr", async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const cli = nopoll(t, ['connect', `ws://127.0.0.1:${raw.port}/`]);
    const peer = RawServer.accept(await raw.next(10_000));
    peer.sendAll([
      { opcode: OP.TEXT, payload: 'red \x1b[31mtext\x1b[0m\r\nline2\ttab \u009b2J \u202egnp.exe bell\x07 del\x7f' },
      { opcode: OP.BINARY, payload: Buffer.from([0x1b, 0x5b, 0x32, 0x4a]) },
      { opcode: OP.PING, payload: Buffer.from([0xff, 0x1b, 0x00]) },
      { opcode: OP.PONG, payload: '\x1b]2;title\x07' },
      { opcode: OP.CLOSE, payload: closeBody(4002, 'bye \x1b[2J') },
    ]);
    // The pong answering the ping, then the close answering ours.
    const pong = await peer.nextFrame(5000);
    assert.deepEqual([pong.opcode, [...pong.payload]], [OP.PONG, [0xff, 0x1b, 0x00]]);
    const close = await peer.nextFrame(5000);
    assert.deepEqual([close.opcode, parseClose(close.payload).code], [OP.CLOSE, 4002]);
    peer.end();
    assert.equal(await exitCode(cli), 0, cli.stderr());
    assert.equal(
      cli.stdout(),
      '< red \\x1b[31mtext\\x1b[0m\\r\\nline2\\ttab \\x9b2J \\u202egnp.exe bell\\x07 del\\x7f\n< binary 4 bytes: 1b5b324a\n',
    );
    assert.match(cli.stderr(), /^< ping: hex ff1b00$/m);
    assert.match(cli.stderr(), /^< pong: \\x1b\]2;title\\x07$/m);
    assert.match(cli.stderr(), /^closed: 4002 bye \\x1b\[2J$/m);
    // No byte a terminal acts on reached either stream.
    assert.doesNotMatch(cli.stdout() + cli.stderr(), /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
  });
});

describe('nopoll connect --timeout', () => {
  it('gives up on a server that never answers the handshake: exit 1 with the reason', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const started = Date.now();
    const cli = nopoll(t, ['connect', `ws://127.0.0.1:${raw.port}/`, '--timeout', '0.3']);
    await raw.next(10_000);
    assert.equal(await exitCode(cli), 1);
    assert.equal(cli.stderr(), 'nopoll connect: no WebSocket handshake within 300 ms\n');
    assert.ok(Date.now() - started < 8000);
  });
});
