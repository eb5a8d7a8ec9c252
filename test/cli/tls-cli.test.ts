/**
 * The `nopoll` command with TLS, as users run it (`node bin/nopoll.js ...`, the built package): `echo-server --tls`
 * (with and without `--verify-peer`), `echo-client` and `connect` with `wss://` URLs and `--ca`, `--cert`/`--key`,
 * `--insecure`, flag mistakes, and `listen --offset-port N` opening the TLS ports. Every child process is killed
 * after its test if it is still running.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { Conn, Context, TlsError } from '../../src/index.js';
import { certs, startTlsEchoListener, tlsFile } from '../helpers/tls.js';
import { exitCode, expectLine, listenOnFreeOffset, nopoll } from '../helpers/cli.js';
import { withTimeout } from '../helpers/ws-async.js';
import { openWs } from '../helpers/ws-peers.js';

const READY = { timeoutMs: 5000 };

const SERVER_CERT = ['--cert', tlsFile('server.crt'), '--key', tlsFile('server.key')];

describe('nopoll CLI with TLS', () => {
  it('echo-server --tls: prints a wss:// URL, echoes for ws and nopoll clients that trust the CA, exits 0 on SIGTERM', async (t) => {
    const cli = nopoll(t, ['echo-server', '--port', '0', '--tls', ...SERVER_CERT]);
    const [, port] = await expectLine(cli, /^listening on wss:\/\/127\.0\.0\.1:(\d+)\/$/);
    const peer = await openWs(`wss://127.0.0.1:${port}/`, undefined, { ca: certs.ca });
    t.after(() => peer.ws.terminate());
    peer.ws.send('héllo cli over TLS');
    assert.equal((await peer.messages.next()).data.toString(), 'héllo cli over TLS');
    const ctx = new Context();
    t.after(() => ctx.close());
    const conn = await Conn.open(ctx, `wss://127.0.0.1:${port}/`, { tls: { ca: certs.ca }, ...READY });
    conn.sendBinary(Buffer.from([1, 2, 3]));
    assert.deepEqual((await conn.nextMsg({ timeoutMs: 3000 })).payload, Buffer.from([1, 2, 3]));
    cli.child.kill('SIGTERM');
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
    assert.equal((await withTimeout(peer.closed, 5000, 'ws close')).code, 1001);
  });

  it('echo-server --tls --ca --verify-peer: only clients with a certificate from the CA get in', async (t) => {
    const cli = nopoll(t, [
      'echo-server',
      '--port',
      '0',
      '--tls',
      ...SERVER_CERT,
      '--ca',
      tlsFile('ca.crt'),
      '--verify-peer',
    ]);
    const [, port] = await expectLine(cli, /^listening on wss:\/\/127\.0\.0\.1:(\d+)\/$/);
    const ctx = new Context();
    ctx.onError = () => undefined;
    t.after(() => ctx.close());
    const url = `wss://127.0.0.1:${port}/`;
    await assert.rejects(Conn.open(ctx, url, { tls: { ca: certs.ca }, ...READY }), TlsError);
    const conn = await Conn.open(ctx, url, {
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      ...READY,
    });
    conn.sendText('with a certificate');
    assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'with a certificate');
  });

  it('echo-client wss:// --ca: echoes what a TLS server sends and exits 0 after a clean close', async (t) => {
    const srv = await startTlsEchoListener();
    t.after(() => srv.close());
    // This server talks first and judges the echoes: replace the echo with a script.
    srv.ctx.onMessage = (conn, msg) => {
      if (msg.text === 'last') void conn.close(1000);
    };
    srv.ctx.onReady = (conn) => {
      conn.sendText('first');
      conn.sendText('last');
    };
    const cli = nopoll(t, ['echo-client', srv.url, '--ca', tlsFile('ca.crt')]);
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
  });

  it('echo-client without the CA fails the TLS handshake: exit 1 with the reason on stderr', async (t) => {
    const srv = await startTlsEchoListener();
    t.after(() => srv.close());
    const cli = nopoll(t, ['echo-client', srv.url, '--timeout-ms', '5000']);
    assert.equal(await exitCode(cli), 1);
    assert.match(cli.stderr(), /TLS|certificate/);
  });

  it('connect wss:// --insecure, and connect with --cert/--key/--ca to a mutual-TLS server', async (t) => {
    const srv = await startTlsEchoListener();
    t.after(() => srv.close());
    const insecure = nopoll(t, ['connect', srv.url, '--insecure']);
    insecure.child.stdin.write('over TLS, unverified\n');
    await expectLine(insecure, /^< over TLS, unverified$/);
    insecure.child.stdin.end();
    assert.equal(await exitCode(insecure), 0, `stderr: ${insecure.stderr()}`);

    const mutual = await startTlsEchoListener({ opts: { tls: { ca: certs.ca, verifyPeer: true } } });
    t.after(() => mutual.close());
    const cli = nopoll(t, [
      'connect',
      mutual.url,
      '--ca',
      tlsFile('ca.crt'),
      '--cert',
      tlsFile('client.crt'),
      '--key',
      tlsFile('client.key'),
    ]);
    cli.child.stdin.write('mutual line\n');
    await expectLine(cli, /^< mutual line$/);
    cli.child.stdin.end();
    assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
  });

  it('flag mistakes exit 2: --cert without --key, --ca on a ws:// URL, --cert without --tls, --verify-peer without --ca', async (t) => {
    for (const args of [
      ['connect', 'wss://127.0.0.1:9/', '--cert', tlsFile('client.crt')],
      ['echo-client', 'ws://127.0.0.1:9/', '--ca', tlsFile('ca.crt')],
      ['echo-server', '--port', '0', ...SERVER_CERT],
      ['echo-server', '--port', '0', '--tls'],
      ['echo-server', '--port', '0', '--tls', ...SERVER_CERT, '--verify-peer'],
    ]) {
      const cli = nopoll(t, args);
      assert.equal(await exitCode(cli), 2, `${args.join(' ')}: ${cli.stderr()}`);
    }
    // A certificate file that does not exist is not a usage mistake: exit 1 with the reason.
    const missing = nopoll(t, [
      'echo-server',
      '--port',
      '0',
      '--tls',
      '--cert',
      tlsFile('missing.crt'),
      '--key',
      tlsFile('server.key'),
    ]);
    assert.equal(await exitCode(missing), 1);
    assert.match(missing.stderr(), /missing\.crt/);
  });

  it(
    'listen --offset-port N --tls-dir DIR opens the TLS ports too: wss on 1235+N echoes, 1239+N wants a client certificate',
    { timeout: 60_000 },
    async (t) => {
      const bases = [1234, 2234, 1235, 2235, 1238, 2238, 1239, 1240];
      const { cli, offset, printed } = await listenOnFreeOffset(t, ['--tls-dir', dirname(tlsFile('ca.crt'))], {
        bases,
      });
      assert.ok(printed.includes(`listening on wss://127.0.0.1:${1235 + offset}/ (TLS)`), printed.join('\n'));
      assert.ok(
        printed.includes(`listening on wss://127.0.0.1:${1239 + offset}/ (TLS, client certificate required)`),
        printed.join('\n'),
      );
      const ctx = new Context();
      ctx.onError = () => undefined;
      t.after(() => ctx.close());
      const conn = await Conn.open(ctx, `wss://127.0.0.1:${1235 + offset}/`, { tls: { ca: certs.ca }, ...READY });
      conn.sendText('regression over TLS');
      assert.equal((await conn.nextMsg({ timeoutMs: 3000 })).text, 'regression over TLS');
      await conn.close();
      await assert.rejects(
        Conn.open(ctx, `wss://127.0.0.1:${1239 + offset}/`, { tls: { ca: certs.ca }, ...READY }),
        TlsError,
      );
      cli.child.kill('SIGTERM');
      assert.equal(await exitCode(cli), 0, `stderr: ${cli.stderr()}`);
    },
  );
});
