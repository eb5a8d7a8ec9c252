/**
 * The command line over HTTP/2: `echo-server --http2` (cleartext and `--tls`) passes an extended-CONNECT echo from
 * a plain Node `http2` client and serves HTTP/1.1 on the same port; `echo-client --http2` and `connect --http2`
 * reach a listener over HTTP/2; flags that exclude each other are refused; SIGTERM ends the server cleanly with
 * HTTP/2 connections open.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { Context, type Conn } from '../../src/index.js';
import { exitCode, expectLine, nopoll } from '../helpers/cli.js';
import { nodeH2Session, rawConnect, startH2Echo } from '../helpers/h2.js';
import { FrameReader, clientFrame } from '../helpers/net.js';
import { certs, tlsFile } from '../helpers/tls.js';
import { withTimeout } from '../helpers/ws-async.js';

describe('nopoll echo-server --http2', () => {
  for (const tls of [false, true]) {
    it(`${tls ? 'with --tls' : 'in cleartext'}: echoes an extended CONNECT from Node's http2 client and HTTP/1.1 from ws on one port; exits 0 on SIGTERM`, async (t) => {
      const args = ['echo-server', '--port', '0', '--host', '127.0.0.1', '--http2'];
      if (tls) args.push('--tls', '--cert', tlsFile('server.crt'), '--key', tlsFile('server.key'));
      const cli = nopoll(t, args);
      const [, scheme, port] = await expectLine(
        cli,
        /^listening on (wss?):\/\/127\.0\.0\.1:(\d+)\/ \(HTTP\/1\.1 and HTTP\/2\)$/,
      );
      assert.equal(scheme, tls ? 'wss' : 'ws');
      const session = await nodeH2Session(t, `${tls ? 'https' : 'http'}://127.0.0.1:${port}`);
      assert.equal(session.remoteSettings.enableConnectProtocol, true);
      const { stream, status } = await rawConnect(session, '/');
      assert.equal(status, 200);
      const reader = new FrameReader(stream as unknown as Socket);
      // Answer the server's close frame as a WebSocket client must (§5.5.1), then end our side of the stream.
      reader.onFrame = (frame) => {
        if (frame.opcode === 0x8 && !stream.destroyed) stream.end(clientFrame(0x8, frame.payload));
      };
      stream.write(clientFrame(0x1, 'echo over h2'));
      const text = await reader.next();
      assert.deepEqual([text.opcode, text.payload.toString()], [0x1, 'echo over h2']);
      stream.write(clientFrame(0x2, Buffer.from([1, 2, 3])));
      const binary = await reader.next();
      assert.deepEqual([binary.opcode, [...binary.payload]], [0x2, [1, 2, 3]]);

      const ws = new WebSocket(`${scheme}://127.0.0.1:${port}/`, { ca: certs.ca });
      t.after(() => ws.terminate());
      await withTimeout(
        new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)),
        5000,
        'ws open',
      );
      const reply = withTimeout(
        new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d)))),
        3000,
        'ws echo',
      );
      ws.send('echo over h1');
      assert.equal(await reply, 'echo over h1');

      // SIGTERM with both connections open: a clean exit.
      cli.child.kill('SIGTERM');
      assert.equal(await exitCode(cli), 0);
    });
  }

  it('refuses --http2-max-streams without --http2, and --http2 with --share-port', async (t) => {
    const lone = nopoll(t, ['echo-server', '--port', '0', '--http2-max-streams', '5']);
    assert.equal(await exitCode(lone), 2);
    assert.match(lone.stderr(), /--http2-max-streams needs --http2/);
    const both = nopoll(t, ['echo-server', '--port', '0', '--http2', '--share-port']);
    assert.equal(await exitCode(both), 2);
  });
});

describe('nopoll echo-client and connect with --http2', () => {
  for (const tls of [false, true]) {
    it(`echo-client --http2 echoes over HTTP/2 ${tls ? 'with TLS' : 'in cleartext'} and exits 0 after a clean close`, async (t) => {
      const ctx = new Context();
      const srv = await startH2Echo(t, { tls, ctx });
      ctx.onMessage = (conn, msg) => {
        srv.received.push({ conn, msg });
      };
      const args = ['echo-client', srv.url, '--http2'];
      if (tls) args.push('--ca', tlsFile('ca.crt'));
      const cli = nopoll(t, args);
      const conn: Conn = await srv.ready.next(10_000, 'echo-client connecting');
      assert.equal(conn.httpVersion, '2');
      conn.sendText('bounce me');
      const { msg } = await srv.received.next(5000, 'the echo');
      assert.equal(msg.text, 'bounce me');
      await conn.close(1000);
      assert.equal(await exitCode(cli), 0);
    });
  }

  it('connect --http2 sends lines and prints messages over HTTP/2; --http2-auto falls back on an HTTP/1.1-only port', async (t) => {
    const srv = await startH2Echo(t);
    const cli = nopoll(t, ['connect', srv.url, '--http2']);
    const server = await srv.ready.next(10_000, 'connect connecting');
    assert.equal(server.httpVersion, '2');
    cli.child.stdin.write('a line\n');
    assert.equal((await expectLine(cli, /^< (.*)$/))[1], 'a line');
    cli.child.stdin.end();
    assert.equal(await exitCode(cli), 0);
    assert.match(cli.stderr(), /connected to .* over HTTP\/2/);

    const plain = nopoll(t, ['echo-server', '--port', '0', '--host', '127.0.0.1']);
    const [, port] = await expectLine(plain, /^listening on ws:\/\/127\.0\.0\.1:(\d+)\/$/);
    const auto = nopoll(t, ['connect', `ws://127.0.0.1:${port}/`, '--http2-auto']);
    auto.child.stdin.write('still works\n');
    assert.equal((await expectLine(auto, /^< (.*)$/))[1], 'still works');
    auto.child.stdin.end();
    assert.equal(await exitCode(auto), 0);
    assert.doesNotMatch(auto.stderr(), /over HTTP\/2/);
    const forced = nopoll(t, ['connect', `ws://127.0.0.1:${port}/`, '--http2']);
    assert.equal(await exitCode(forced), 1);
    assert.match(forced.stderr(), /no WebSockets over HTTP\/2/);
    plain.child.kill('SIGTERM');
    assert.equal(await exitCode(plain), 0);
  });
});
