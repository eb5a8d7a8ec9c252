/**
 * The `nopoll` command: `listen`, `echo-server`, `echo-client`, `connect`, `relay`.
 * @packageDocumentation
 */
import { connectCommand } from './connect.js';
import { echoClient } from './echo-client.js';
import { echoServer } from './echo-server.js';
import { listenCommand } from './listen.js';
import { relayCommand } from './relay.js';

const USAGE = `usage: nopoll <command> [options]
  listen        run the regression listener on loopback (ws: 1234, 2234; wss with --tls-dir: 1235, 1238-1240,
                2235, 2238; --offset-port N, --host H)
  echo-server   echo WebSocket server (--port N --host H, --tls --cert F --key F for wss://, --http2)
  echo-client   connect to a ws:// or wss:// URL and echo every message back (--http2)
  connect       interactive client: send lines, print messages (ws:// or wss://, --http2)
  relay         pub/sub server: ws://H:P/TOPIC subscribes to TOPIC (--port P --host H, --redis URL
                --mode pubsub|streams to share topics between relays)
Run "nopoll <command> --help" for a command's options.
`;

const commands: Record<string, (argv: string[]) => Promise<void>> = {
  listen: listenCommand,
  'echo-server': echoServer,
  'echo-client': echoClient,
  connect: connectCommand,
  relay: relayCommand,
};

const [name, ...rest] = process.argv.slice(2);
const command = name === undefined ? undefined : commands[name];
if (command === undefined) {
  process.stderr.write(name === undefined || name === '--help' || name === '-h' ? USAGE : `unknown command ${name}\n${USAGE}`);
  process.exit(name === undefined || name === '--help' || name === '-h' ? 0 : 2);
} else {
  command(rest).catch((error: unknown) => {
    process.stderr.write(`nopoll ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
