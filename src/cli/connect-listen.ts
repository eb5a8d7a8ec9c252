/**
 * `nopoll connect --listen PORT` (wscat's `-l`): a server for talking to clients by hand. It prints
 * `listening on ws://H:P/` when ready, shows what each client sends (`#N < text`), and sends every line typed, or
 * slash command, to all the clients connected. Stops on `/quit`, Ctrl-D, Ctrl-C, SIGTERM or SIGINT, closing the
 * clients with 1001, and exits 0.
 * @packageDocumentation
 */
import { Context, Listener, type Conn } from '../index.js';
import {
  failure,
  intOption,
  listOption,
  onSignals,
  stringOption,
  usageError,
  wsUrl,
  type FlagSpec,
  type Values,
} from './args.js';
import { describeClose, notice, perform, sessionView, showTraffic, type View } from './session.js';
import { parseLine } from './slash-commands.js';

/** Flags of listen mode. */
export const LISTEN_FLAGS: readonly FlagSpec[] = [
  {
    name: 'listen',
    short: 'l',
    value: 'PORT',
    help: 'be the server instead: listen on PORT (0 picks a free one), print what each client sends, send the lines typed to every client connected',
  },
  { name: 'host', value: 'H', help: 'with --listen: address to bind (default 127.0.0.1)' },
];

// What listen mode takes besides its own flags; any other flag of `connect` is a client's and a usage mistake here.
const ALSO_ALLOWED = new Set(['subprotocol', 'cert', 'key', 'history-file', 'slash', 'no-color']);

/** Runs listen mode with the parsed flags of `connect`. */
export async function listenMode(values: Values, positionals: readonly string[]): Promise<void> {
  const own = new Set(['listen', 'host', 'help', 'version']);
  for (const name of Object.keys(values)) {
    if (values[name] !== undefined && !own.has(name) && !ALSO_ALLOWED.has(name))
      usageError(`--${name} does not go with --listen`);
  }
  if (positionals.length > 0) usageError(`a URL (${JSON.stringify(positionals[0])}) does not go with --listen`);
  const port = intOption(values['listen'], 'listen', 0);
  if (port > 65535) usageError(`--listen needs a port from 0 to 65535, got ${port}`);
  const host = stringOption(values, 'host') ?? '127.0.0.1';
  const cert = stringOption(values, 'cert');
  const key = stringOption(values, 'key');
  if ((cert === undefined) !== (key === undefined)) usageError('--cert and --key go together');
  const protocols = listOption(values, 'subprotocol');

  const ctx = new Context();
  const clients = new Set<Conn>();
  let listener: Listener;
  try {
    listener = await Listener.listen(ctx, {
      host,
      port,
      ipv6: host.includes(':'),
      ...(cert !== undefined && key !== undefined
        ? { tls: true, certificate: { cert: { file: cert }, key: { file: key } } }
        : {}),
      opts: protocols.length > 0 ? { protocols } : {},
    });
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) usageError(error.message);
    failure((error as Error).message);
  }
  const url = wsUrl(host, listener.port);
  process.stdout.write(`listening on ${listener.isTls ? url.replace(/^ws:/, 'wss:') : url}\n`);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    view.prompt.close();
    await ctx.close(1001);
  };
  const exitAfterStop = (): void =>
    void stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  const interactive = process.stdin.isTTY === true;
  const slash = interactive || values['slash'] === true;
  const view: View = sessionView(values, {
    line(line) {
      if (slash && line === '') return;
      if (perform(parseLine(line, slash), [...clients], view, (conn) => labels.get(conn) ?? '') === 'quit')
        exitAfterStop();
    },
    // Ctrl-D at the prompt stops; the end of piped input does not (the server keeps running, as under a service manager).
    end: () => {
      if (interactive) exitAfterStop();
    },
    interrupt: exitAfterStop,
  });
  onSignals(stop);

  let count = 0;
  const labels = new WeakMap<Conn, string>();
  ctx.onReady = (conn) => {
    clients.add(conn);
    const label = `#${++count} `;
    labels.set(conn, label);
    const protocol = conn.acceptedProtocol ? ` (protocol ${conn.acceptedProtocol})` : '';
    notice(
      view,
      `${label}connected from ${conn.host.includes(':') ? `[${conn.host}]` : conn.host}:${conn.port}${protocol}`,
    );
    showTraffic(conn, view, label);
    void conn.closed.then((info) => {
      clients.delete(conn);
      if (!stopping) notice(view, `${label}closed: ${describeClose(info)}`, 'close');
    });
  };
}
