/**
 * The `nopoll` command as users run it: `node bin/nopoll.js ...` (the built package, dist/), driven with `ws`
 * peers and our own Listener. Every child process is killed after its test if it is still running.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exitCode, expectLine, listenOnFreeOffset, nopoll } from '../helpers/cli.js';
import { withTimeout } from '../helpers/ws-async.js';
import { openWs, startEchoListener, startWsServer } from '../helpers/ws-peers.js';

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

  it('echo-client: a URL without a scheme is ws://', async (t) => {
    const wss = await startWsServer();
    t.after(() => wss.close());
    const cli = nopoll(t, ['echo-client', `127.0.0.1:${wss.port}/`]);
    const server = await wss.connections.next(10_000, 'the echo client connecting');
    server.ws.send('no scheme');
    assert.equal((await server.messages.next()).data.toString(), 'no scheme');
    server.ws.close(1000);
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
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

  it(
    'listen --offset-port N: listens on 127.0.0.1:1234+N and [::1]:2234+N, echoes, exits 0 on SIGTERM',
    { timeout: 60_000 },
    async (t) => {
      const { cli, offset, printed } = await listenOnFreeOffset(t, []);
      const port = 1234 + offset;
      assert.deepEqual(printed, [`listening on ws://127.0.0.1:${port}/`, `listening on ws://[::1]:${2234 + offset}/`]);
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
    },
  );

  it('an unknown command exits 2 with one line naming it and the nearest command', async (t) => {
    const cli = nopoll(t, ['conect']);
    assert.equal(await exitCode(cli), 2);
    assert.equal(cli.stderr(), 'nopoll: unknown command conect (did you mean connect?); "nopoll --help" lists them\n');
    assert.equal(cli.stdout(), '');
  });
});
