/**
 * Bare TCP echo on `net`, no WebSocket at all: the floor for idle memory per connection (what one accepted
 * net.Socket costs in Node). Used only by the idle scenario.
 */
import { createServer, type AddressInfo } from 'node:net';
import { announce, installExitHandlers, listenOptions } from './common.js';

installExitHandlers();
const { host, port } = listenOptions(process.argv.slice(2));

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
});
server.listen(port, host, () => announce('tcp', host, (server.address() as AddressInfo).port));
