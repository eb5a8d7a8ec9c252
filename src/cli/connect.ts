/**
 * `nopoll connect URL`: the interactive client (wscat's job). On a terminal, a prompt with line editing, history
 * and slash commands; from a pipe, each line read is sent as a text message; with `-x`, the given lines are sent
 * and the connection closed. What arrives is shown escaped (session.ts). `-l PORT` turns it into a server
 * (connect-listen.ts).
 * @packageDocumentation
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Context, type Conn } from '../index.js';
import {
  listOption,
  parse,
  secondsOption,
  stringOption,
  usageError,
  withScheme,
  type Command,
  type CommandSpec,
  type FlagSpec,
} from './args.js';
import { openClient } from './client-open.js';
import { LISTEN_FLAGS, listenMode } from './connect-listen.js';
import { CLIENT_DEFLATE_FLAGS, clientDeflateOption } from './deflate-args.js';
import { CLIENT_HTTP2_FLAGS, clientHttp2Mode } from './http2-args.js';
import { CLIENT_PROXY_FLAGS, clientProxyOptions } from './proxy-args.js';
import { CLIENT_REQUEST_FLAGS, clientRequestOptions } from './request-args.js';
import { describeClose, notice, perform, showTraffic, type View } from './session.js';
import { openPrompt, printOnly } from './prompt.js';
import { palette } from './terminal-text.js';
import { parseLine } from './slash-commands.js';
import { CLIENT_TLS_FLAGS, clientTlsOptions } from './tls-args.js';

/** Flags of the session, both modes. */
const SESSION_FLAGS: readonly FlagSpec[] = [
  {
    name: 'execute',
    short: 'x',
    value: 'LINE',
    multiple: true,
    help: 'once connected, run LINE as if typed at the prompt (a message, or a slash command such as /ping), in order; then close (after --wait) without reading standard input',
  },
  {
    name: 'wait',
    short: 'w',
    value: 'S',
    help: 'close S seconds (decimals allowed) after connecting and running the -x lines, instead of at once',
  },
  {
    name: 'timeout',
    value: 'S',
    help: 'seconds for the connection and the handshake, proxy and TLS included (default 20)',
  },
  {
    name: 'history-file',
    value: 'F',
    help: 'keep the prompt history in F (read at start, each line appended; mode 0600), not only in memory',
  },
  {
    name: 'slash',
    help: 'read slash commands from piped standard input too (by default piped lines are sent as they are)',
  },
  { name: 'no-color', help: 'no colours (also when NO_COLOR is set, or the output is not a terminal)' },
];

const SPEC: CommandSpec = {
  name: 'connect',
  summary: 'interactive client (wscat-like): prompt, history, slash commands, -x scripts, -l listen mode',
  usage: ['[options] URL', '--listen PORT [--host H] [-s P]... [--cert F --key F]'],
  description:
    'Connects to URL (ws://, wss://, ws+unix:///socket:/path; without a scheme, ws:// is meant: localhost:8080) ' +
    'and sends each line typed as a text message. Data messages received are printed on standard output: ' +
    '"< text", or "< binary N bytes: HEX" (the first 64 bytes). Pings, pongs, the close code and reason, and ' +
    'notices go to standard error. Control characters and escape sequences a peer sends are shown escaped ' +
    '(\\x1b, \\n, \\u202e), never passed to the terminal.\n\n' +
    'On a terminal the prompt has line editing and history (up and down arrows) and takes slash commands: ' +
    '/ping [data], /pong [data], /close [code] [reason], /binary HEX, /help, /quit; //text sends /text. ' +
    'Ctrl-D closes with 1000, Ctrl-C and SIGTERM with 1001. From a pipe, each line is sent as it is and the ' +
    'connection closed at the end of the input. Exits 0 after a clean close, 1 when the connection failed or ' +
    'ended without a closing handshake, 2 on a usage mistake.\n\n' +
    'With --listen PORT it is a server: it prints "listening on ws://H:P/" (wss:// with --cert and --key), ' +
    'shows what each client (#1, #2...) sends, and sends each line typed (or slash command) to every client ' +
    'connected. It stops on /quit, Ctrl-D, Ctrl-C or SIGTERM, closing the clients with 1001.',
  flags: [
    'Handshake',
    ...CLIENT_REQUEST_FLAGS,
    ...CLIENT_DEFLATE_FLAGS,
    'Session',
    ...SESSION_FLAGS,
    'Listen mode',
    ...LISTEN_FLAGS,
    'Proxies',
    ...CLIENT_PROXY_FLAGS,
    'TLS (wss:// URLs; with --listen, --cert and --key serve wss://)',
    ...CLIENT_TLS_FLAGS,
    'HTTP/2',
    ...CLIENT_HTTP2_FLAGS,
  ],
  maxPositionals: 1,
};

/** `nopoll connect`. */
export const connectCommand: Command = { spec: SPEC, run: connect };

/** Runs `nopoll connect`. */
async function connect(argv: string[]): Promise<void> {
  const { values, positionals } = parse(SPEC, argv);
  if (values['listen'] !== undefined) return listenMode(values, positionals);
  if (values['host'] !== undefined) usageError('--host needs --listen');
  if (positionals[0] === undefined) usageError('missing URL (usage: nopoll connect [options] URL)');
  const url = withScheme(positionals[0]);
  const executes = listOption(values, 'execute');
  // A mistake in a -x line is found before connecting, as any other usage mistake.
  for (const line of executes) {
    const action = parseLine(line, true);
    if (action.kind === 'mistake') usageError(`--execute ${JSON.stringify(line)}: ${action.message}`);
  }
  const scripted = executes.length > 0 || values['wait'] !== undefined;
  const waitMs = secondsOption(values, 'wait', 0);
  const tls = clientTlsOptions(values, url);
  const options = {
    ...clientRequestOptions(values),
    perMessageDeflate: clientDeflateOption(values),
    ...clientProxyOptions(values),
    ...(tls ? { tls } : {}),
    http2: clientHttp2Mode(values),
    connectTimeoutMs: Math.max(1, secondsOption(values, 'timeout', 20_000)),
  };
  const noColor = values['no-color'] === true;
  // Output only until connected; the prompt comes once there is a connection to send to.
  const view: View = {
    prompt: printOnly(),
    out: palette(process.stdout, noColor),
    err: palette(process.stderr, noColor),
  };
  const conn = await openClient(new Context(), url, options, (opening) => {
    opening.onReady = () => {
      const protocol = opening.acceptedProtocol ? ` (protocol ${opening.acceptedProtocol})` : '';
      notice(view, `connected to ${url}${protocol}${opening.httpVersion === '2' ? ' over HTTP/2' : ''}`);
    };
    showTraffic(opening, view, '');
  });
  const quit = (code: number): void => void conn.close(code).catch(() => undefined);
  process.on('SIGTERM', () => quit(1001));
  process.on('SIGINT', () => quit(1001));
  // Output piped into a reader that stopped (`| head -1`): close, as a program killed by SIGPIPE would stop.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      quit(1000);
    });
  }
  conn.closed.then(
    (info) => {
      notice(view, `closed: ${describeClose(info)}`, 'close');
      view.prompt.close();
      process.exit(info.wasClean ? 0 : 1);
    },
    () => process.exit(1),
  );
  if (scripted) {
    await runScript(conn, view, executes, waitMs);
    return;
  }
  const slash = process.stdin.isTTY === true || values['slash'] === true;
  const historyFile = stringOption(values, 'history-file');
  view.prompt = openPrompt(
    {
      line(line) {
        // An empty line at the prompt is a slip of the finger; piped input is sent as it is.
        if (slash && line === '') return;
        if (perform(parseLine(line, slash), [conn], view, () => '') === 'quit') quit(1000);
        // Piped input is read no faster than the connection sends it: memory follows the socket, not the input.
        else if (conn.needsDrain) {
          view.prompt.pause();
          conn.drained().then(
            () => view.prompt.resume(),
            () => undefined,
          );
        }
      },
      end: () => quit(1000),
      interrupt: () => quit(1001),
    },
    {
      ...(historyFile !== undefined ? { historyFile } : {}),
      prompt: view.out.prompt('> '),
      warn: (line) => notice(view, line, 'error'),
    },
  );
  if (view.prompt.terminal) notice(view, 'type a message and Enter to send it; /help for commands, Ctrl-D to close');
}

/** `-x` lines in order, then `--wait`, then a close with 1000 (unless the connection ended first). */
async function runScript(conn: Conn, view: View, lines: readonly string[], waitMs: number): Promise<void> {
  for (const line of lines) {
    if (conn.state !== 'open') return;
    if (perform(parseLine(line, true), [conn], view, () => '') === 'quit') break;
  }
  if (conn.state === 'open' && waitMs > 0) {
    const stop = new AbortController();
    await Promise.race([conn.closed, sleep(waitMs, undefined, { signal: stop.signal }).catch(() => undefined)]);
    stop.abort();
  }
  if (conn.state === 'open') void conn.close(1000).catch(() => undefined);
}
