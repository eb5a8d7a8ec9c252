// Guide §1.5: a server on the built-in loop.
import { Context, Listener } from '../../src/index.js';

const ctx = new Context();

// Called for every message received on any connection of this context.
ctx.onMessage = (conn, msg) => {
  const shown = msg.isText ? msg.text.slice(0, 32) : `<${msg.size} binary bytes>`;
  console.log(`received ${msg.size} bytes on connection ${conn.id}: ${shown}`);
  conn.sendText('Message received');
};

const listener = await Listener.listen(ctx, { host: '0.0.0.0', port: 1234 });
console.log(`listening on port ${listener.port}`);

// loopWait() returns 'stopped' once loopStop() is called.
process.once('SIGINT', () => ctx.loopStop());
process.once('SIGTERM', () => ctx.loopStop());

const result = await ctx.loopWait();
console.log(`loop ended: ${result}`);
await ctx.close();
