/**
 * A nopoll server for the memory-per-subscription scenario: it accepts connections without subscribing them; a
 * client's text message `sub N` subscribes it to N topics (`t<k>` for N consecutive k from a hash of its id, over
 * a pool of 1,000 topics) and is answered `ok`. Prints the ready line; exits on SIGTERM.
 */
import { Context, Listener } from '../../src/index.js';
import { announce, installExitHandlers, listenOptions } from './common.js';

installExitHandlers();
const { host, port } = listenOptions(process.argv.slice(2));
const POOL = 1000;
const ctx = new Context();
ctx.onMessage = (conn, msg) => {
  const count = Number(msg.text.slice(4));
  const first = (conn.id * 7919) % POOL;
  for (let k = 0; k < count; k++) conn.subscribe(`t${(first + k) % POOL}`);
  conn.sendText('ok');
};
const listener = await Listener.listen(ctx, { host, port });
announce('ws', host, listener.port, 'nopoll topics');
