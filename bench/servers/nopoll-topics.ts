/**
 * A nopoll server for the memory-per-subscription scenario: it accepts connections without subscribing them; a
 * client's text message `sub N P` subscribes it to N topics out of a pool of P (`t<k>` for N consecutive k from a
 * hash of its id) and is answered `ok`. `mem` runs a full garbage collection and answers `mem HEAP` with the
 * bytes of the JavaScript heap then in use: what is live, not the garbage of handling the requests. Prints the
 * ready line; exits on SIGTERM.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Context, Listener } from '../../src/index.js';
import { announce, installExitHandlers, listenOptions } from './common.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

installExitHandlers();
const { host, port } = listenOptions(process.argv.slice(2));
const ctx = new Context();
ctx.onMessage = (conn, msg) => {
  if (msg.text === 'mem') {
    gc();
    gc();
    conn.sendText(`mem ${process.memoryUsage().heapUsed}`);
    return;
  }
  const [, count, pool] = msg.text.split(' ').map(Number) as [number, number, number];
  const first = (conn.id * 7919) % pool;
  for (let k = 0; k < count; k++) conn.subscribe(`t${(first + k) % pool}`);
  conn.sendText('ok');
};
const listener = await Listener.listen(ctx, { host, port });
announce('ws', host, listener.port, 'nopoll topics');
