// Manual 1.6: a client. Conn.connect returns at once (nopoll_conn_new), waitUntilReady waits for the handshake
// (nopoll_conn_wait_until_connection_ready), and sendText returns the bytes accepted.
import { Conn, Context, Listener } from '../src/index.js';
import { check, checkEqual, deadline, ok } from './lib/check.js';

deadline(20_000);
// A server to talk to: it echoes.
const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => void conn.sendText(msg.payload);
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });

const ctx = new Context();
const conn = Conn.connect(ctx, `ws://127.0.0.1:${listener.port}/`);
check(conn.isOk, 'the connection object is usable at once (nopoll_conn_is_ok)');
check(!conn.isReady, 'the handshake is not done yet (nopoll_conn_is_ready)');

await conn.waitUntilReady({ timeoutMs: 5000 });
check(conn.isReady, 'ready after waitUntilReady');

const sent = conn.sendText('Hello there! this is a test');
checkEqual(sent, 27, 'sendText returns the payload bytes accepted');
checkEqual((await conn.nextMsg({ timeoutMs: 5000 })).text, 'Hello there! this is a test', 'the echo');

// Conn.open connects and waits in one call; a failure rejects with the reason.
const refused = await Conn.open(ctx, 'ws://127.0.0.1:1/', { timeoutMs: 5000 }).then(
  () => null,
  (error: Error) => error,
);
check(refused !== null && refused.name === 'ConnectError', `connecting to a closed port fails (${refused?.name})`);

const info = await conn.close();
checkEqual([info.code, info.wasClean], [1000, true], 'a clean close');
await ctx.close();
await serverCtx.close();
ok('client (manual 1.6)');
