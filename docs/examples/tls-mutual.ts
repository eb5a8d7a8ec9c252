// docs/tls.md §3.1 (manual 3.1): mutual TLS. Run from the repository root: the
// certificates are the test ones in test/fixtures/tls (made by its generate.sh).
import type { TLSSocket } from 'node:tls';
import { Conn, ConnOpts, Context, Listener, TlsError } from '../../src/index.js';

const dir = 'test/fixtures/tls';
const file = (name: string) => ({ file: `${dir}/${name}` });

// Server: its certificate, the CA that client certificates must chain to, and
// peer verification on (nopoll_conn_opts_ssl_peer_verify). Servers do not verify
// clients unless told to.
const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => {
  // On a TLS connection, conn.socket is the tls.TLSSocket.
  const peer = (conn.socket as TLSSocket).getPeerCertificate();
  conn.sendText(`hello ${String(peer.subject.CN)}: ${msg.text}`);
};
const serverOpts = new ConnOpts()
  .setSslCerts(file('server.crt'), file('server.key'), null, file('ca.crt'))
  .sslPeerVerify(true);
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0, tls: true, opts: serverOpts });
const url = `wss://127.0.0.1:${listener.port}/`;

// Client: its own certificate and key, and the CA to verify the server with.
// Clients verify the server's chain and name by default.
const ctx = new Context();
const clientOpts = new ConnOpts().setSslCerts(file('client.crt'), file('client.key'), null, file('ca.crt'));
const conn = await Conn.open(ctx, url, { ...clientOpts.values, timeoutMs: 5000 });
conn.sendText('ping');
console.log((await conn.nextMsg({ timeoutMs: 5000 })).text); // "hello nopoll test client: ping"
await conn.close();

// Without a client certificate the server refuses the connection.
try {
  await Conn.open(ctx, url, { tls: { ca: file('ca.crt') }, timeoutMs: 5000 });
} catch (error) {
  console.log(error instanceof TlsError ? `refused: ${error.message}` : error);
}

await ctx.close();
await serverCtx.close();
