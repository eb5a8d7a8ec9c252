/**
 * `nopoll connect --listen PORT`: a server that prints what each client sends (`#N < text`) and sends the lines
 * given on its input to every client connected, driven by `ws` clients.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exitCode, expectLine, expectStderr, nopoll } from '../helpers/cli.js';
import { tlsFile, tlsPem } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';
import { openWs } from '../helpers/ws-peers.js';

describe('nopoll connect --listen', () => {
  it('shows what each client sends, sends lines and slash commands to all of them, exits 0 on SIGTERM', async (t) => {
    const cli = nopoll(t, ['connect', '-l', '0', '-s', 'chat', '--slash']);
    const [, port] = await expectLine(cli, /^listening on ws:\/\/127\.0\.0\.1:(\d+)\/$/);
    const first = await openWs(`ws://127.0.0.1:${port}/`, ['other', 'chat']);
    t.after(() => first.ws.terminate());
    assert.equal(first.ws.protocol, 'chat');
    await expectStderr(cli, /^#1 connected from 127\.0\.0\.1:\d+ \(protocol chat\)$/m);
    const second = await openWs(`ws://127.0.0.1:${port}/`);
    t.after(() => second.ws.terminate());
    await expectStderr(cli, /^#2 connected from 127\.0\.0\.1:\d+$/m);

    first.ws.send('from one \x1b[2J');
    await expectLine(cli, /^#1 < from one \\x1b\[2J$/);
    second.ws.send(Buffer.from([1, 2, 3]));
    await expectLine(cli, /^#2 < binary 3 bytes: 010203$/);

    cli.child.stdin.write('to everyone\n/ping hi\n');
    for (const peer of [first, second]) {
      const msg = await peer.messages.next(5000, 'the line typed');
      assert.deepEqual([msg.isBinary, msg.data.toString()], [false, 'to everyone']);
      assert.equal((await peer.pings.next(5000, 'the ping')).toString(), 'hi');
    }
    await expectStderr(cli, /^#2 < pong: hi$/m);

    cli.child.stdin.write('/close 4003 enough\n');
    for (const peer of [first, second]) {
      const closed = await withTimeout(peer.closed, 5000, 'the close');
      assert.deepEqual([closed.code, closed.reason, closed.wasClean], [4003, 'enough', true]);
    }
    await expectStderr(cli, /^#1 closed: 4003 enough$/m);
    await expectStderr(cli, /^#2 closed: 4003 enough$/m);
    cli.child.stdin.write('nobody\n');
    await expectStderr(cli, /^no client connected$/m);

    // The end of piped input does not stop the server; SIGTERM does, cleanly.
    cli.child.stdin.end();
    const third = await openWs(`ws://127.0.0.1:${port}/`);
    t.after(() => third.ws.terminate());
    await expectStderr(cli, /^#3 connected/m);
    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli), 0, cli.stderr());
    assert.equal((await withTimeout(third.closed, 5000, 'the server going away')).code, 1001);
  });

  it('--cert and --key serve wss://', async (t) => {
    const cli = nopoll(t, [
      'connect',
      '--listen',
      '0',
      '--cert',
      tlsFile('server.crt'),
      '--key',
      tlsFile('server.key'),
    ]);
    const [, port] = await expectLine(cli, /^listening on wss:\/\/127\.0\.0\.1:(\d+)\/$/);
    const peer = await openWs(`wss://localhost:${port}/`, undefined, { ca: tlsPem('ca.crt') });
    t.after(() => peer.ws.terminate());
    peer.ws.send('over tls');
    await expectLine(cli, /^#1 < over tls$/);
    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli), 0, cli.stderr());
  });

  it('client flags and a URL do not go with --listen (exit 2)', async (t) => {
    for (const [args, message] of [
      [['-l', '0', '-H', 'a: b'], 'nopoll connect: --header does not go with --listen\n'],
      [['-l', '0', 'ws://x/'], 'nopoll connect: a URL ("ws://x/") does not go with --listen\n'],
      [['-l', '70000'], 'nopoll connect: --listen needs a port from 0 to 65535, got 70000\n'],
      [['--host', '::1', 'ws://x/'], 'nopoll connect: --host needs --listen\n'],
    ] as const) {
      const cli = nopoll(t, ['connect', ...args]);
      assert.equal(await exitCode(cli), 2, args.join(' '));
      assert.equal(cli.stderr(), message);
    }
  });
});
