// docs/tls.md §3.2 (manual 3.2): extended validation after the TLS handshake.
// Run from the repository root (test certificates in test/fixtures/tls).
import { X509Certificate } from 'node:crypto';
import { Conn, Context, Listener, TlsError } from '../../src/index.js';

const file = (name: string) => ({ file: `test/fixtures/tls/${name}` });

const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => {
  conn.sendText(`echo: ${msg.text}`);
};
// nopoll_ctx_set_post_ssl_check: runs after every successful TLS handshake, on
// both sides, before any WebSocket byte. Here the server only admits client
// certificates whose common name is on a list. `socket` is the tls.TLSSocket.
const allowed = new Set(['nopoll test client']);
serverCtx.postTlsCheck = (conn, socket) => {
  const cert = socket.getPeerX509Certificate();
  const name = cert ? /CN=([^\n]+)/.exec(cert.subject)?.[1] : undefined;
  console.log(`server: ${conn.host} speaks ${socket.getProtocol()} with ${socket.getCipher().name}, client ${name}`);
  return socket.authorized && name !== undefined && allowed.has(name); // false drops the connection
};
const listener = await Listener.listen(serverCtx, {
  host: '127.0.0.1',
  port: 0,
  tls: true,
  opts: { tls: { cert: file('server.crt'), key: file('server.key'), ca: file('ca.crt'), verifyPeer: true } },
});
const url = `wss://127.0.0.1:${listener.port}/`;

// The client side can check too, e.g. pin the server's certificate. The handler
// may be async; a rejection drops the connection like `false`.
const expected = new X509Certificate((await import('node:fs')).readFileSync('test/fixtures/tls/server.crt'))
  .fingerprint256;
const ctx = new Context();
ctx.postTlsCheck = async (_conn, socket) => socket.getPeerCertificate().fingerprint256 === expected;

const tls = { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') };
const conn = await Conn.open(ctx, url, { tls, timeoutMs: 5000 });
conn.sendText('checked both ways');
console.log((await conn.nextMsg({ timeoutMs: 5000 })).text); // "echo: checked both ways"
await conn.close();

// A check that says no: the connection ends before the WebSocket handshake
// is even sent, with a TlsError.
ctx.postTlsCheck = () => false;
try {
  await Conn.open(ctx, url, { tls, timeoutMs: 5000 });
} catch (error) {
  console.log(error instanceof TlsError ? `client refused: ${error.message}` : error);
}

await ctx.close();
await serverCtx.close();
