// Guide §1.4: creating a Context.
import { Context } from '../../src/index.js';

// One Context holds the defaults, the handlers and the registry of connections.
// Create as many as you need; each is independent of the others.
const ctx = new Context({
  maxFrameSize: 1024 * 1024, // largest frame payload accepted (default 16 MiB)
  closeTimeoutMs: 2000, // how long to wait for the peer's close frame (default 5000)
  log: (level, text) => console.log(`[${level}] ${text}`), // or `true` for the console
});

console.log(`connections registered: ${ctx.connCount}`); // 0

// ... create listeners and client connections with ctx ...

// When you are done: close every listener and connection (each connection runs the
// closing handshake) and end any pending loopWait().
await ctx.close();
