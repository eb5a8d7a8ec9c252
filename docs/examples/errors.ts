// Guide: errors.
import {
  Conn,
  ConnectError,
  Context,
  HandshakeError,
  Listener,
  NopollError,
  ProtocolError,
  TimeoutError,
} from '../../src/index.js';

const ctx = new Context();

// Failures of a wait reject with a NopollError subclass; `code` is stable.
async function tryOpen(url: string): Promise<void> {
  try {
    const conn = await Conn.open(ctx, url, { timeoutMs: 2000 });
    await conn.close();
    console.log(`${url}: ok`);
  } catch (error) {
    if (error instanceof HandshakeError) console.log(`${url}: refused with HTTP ${error.status}`);
    else if (error instanceof ConnectError) console.log(`${url}: no TCP connection (${error.message})`);
    else if (error instanceof TimeoutError) console.log(`${url}: ${error.phase} timed out`);
    else if (error instanceof NopollError) console.log(`${url}: ${error.code}`);
    else throw error;
  }
}

// A server that insists on an Origin header answers 403 to clients that send none.
const serverCtx = new Context();
const strict = await Listener.listen(serverCtx, {
  host: '127.0.0.1',
  port: 0,
  opts: { requireOrigin: true },
});
await tryOpen(`ws://127.0.0.1:${strict.port}/`); // refused with HTTP 403

// Nothing listens on this port (the listener was closed): ConnectError.
const closed = await Listener.listen(serverCtx, { host: '127.0.0.1', port: 0 });
await closed.close();
await tryOpen(`ws://127.0.0.1:${closed.port}/`); // no TCP connection

// Caller mistakes are thrown at once as TypeError or RangeError.
try {
  Conn.connect(ctx, 'wss://example.com/'); // TLS is not available yet
} catch (error) {
  console.log(`${(error as Error).name}: ${(error as Error).message}`);
}

// How a connection ended, including the protocol error that failed it.
const open = await Conn.open(ctx, `ws://127.0.0.1:${strict.port}/`, {
  origin: 'http://example.com',
  timeoutMs: 2000,
});
await open.close(1000);
const info = open.closeInfo;
if (info?.error instanceof ProtocolError) console.log(`failed with close code ${info.error.closeCode}`);
else console.log(`closed with ${info?.code}, clean: ${info?.wasClean}`);

await ctx.close();
await serverCtx.close();
