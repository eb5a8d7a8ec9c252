// docs/tls.md §3.3 (manual 3.3): creating the TLS context yourself.
// Run from the repository root (test certificates in test/fixtures/tls).
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Conn, Context, Listener } from '../../src/index.js';

const pem = (name: string) => readFileSync(`test/fixtures/tls/${name}`);

// nopoll_ctx_set_ssl_context_creator: called for every TLS connection, client
// and server. Return SecureContextOptions (merged over info.defaults, what nopoll
// would have used), a ready SecureContext, or null for the built-in one. A
// Promise is awaited, so certificates may come from a vault.
const serverCtx = new Context();
serverCtx.onMessage = (conn, msg) => {
  conn.sendText(`echo: ${msg.text}`);
};
serverCtx.tlsContextCreator = async (conn, info) => {
  console.log(`server context for ${conn.host}, listener port ${info.listener?.port}`);
  return {
    ...info.defaults,
    cert: pem('server.crt'),
    key: pem('server.key'),
    ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305',
    maxVersion: 'TLSv1.2', // so that the cipher list above applies
  };
};
// No certificate in the options, on the listener or in the store: the creator
// provides it.
const listener = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0, tls: true });

// The client builds a complete SecureContext: the CA to trust, nothing else.
const ctx = new Context();
const clientContext = createSecureContext({ ca: pem('ca.crt'), minVersion: 'TLSv1.2' });
ctx.tlsContextCreator = (_conn, info) => (info.isClient ? clientContext : null);

const conn = await Conn.open(ctx, `wss://127.0.0.1:${listener.port}/`, { timeoutMs: 5000 });
conn.sendText('hello');
console.log((await conn.nextMsg({ timeoutMs: 5000 })).text); // "echo: hello"
await conn.close();

await ctx.close();
await serverCtx.close();
