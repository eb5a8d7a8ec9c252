/**
 * `nopoll echo-server`: echoes every message back with its type (what conformance suites' fuzzing clients drive).
 * @packageDocumentation
 */
import { Context } from '../api/context.js';
import { Listener } from '../api/listener.js';
import { intOption, onSignals, parse, wsUrl } from './args.js';

const USAGE = `usage: nopoll echo-server [--port N] [--host H] [--max-frame-size B] [--max-message-size B]
  Echoes text as text and binary as binary. Prints "listening on ws://H:P/" when ready; stops on SIGTERM.
  --port N              port to listen on (default 9001; 0 picks a free one)
  --host H              address to bind (default 127.0.0.1)
  --max-frame-size B    largest frame accepted (default 16 MiB)
  --max-message-size B  largest message accepted (default 16 MiB)
`;

/** Runs the echo server. */
export async function echoServer(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      'max-frame-size': { type: 'string' },
      'max-message-size': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  const ctx = new Context();
  ctx.maxFrameSize = intOption(values['max-frame-size'], 'max-frame-size', ctx.maxFrameSize);
  ctx.maxMessageSize = intOption(values['max-message-size'], 'max-message-size', ctx.maxMessageSize);
  ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  const host = typeof values['host'] === 'string' ? values['host'] : '127.0.0.1';
  const listener = await Listener.listen(ctx, { host, port: intOption(values['port'], 'port', 9001), ipv6: host.includes(':') });
  onSignals(() => ctx.close());
  process.stdout.write(`listening on ${wsUrl(host, listener.port)}\n`);
}
