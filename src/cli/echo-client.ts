/**
 * `nopoll echo-client URL`: connects, echoes every message back with its type, exits 0 after a clean close. This
 * is what conformance suites' fuzzing servers (Autobahn|Testsuite `runCase`) drive.
 * @packageDocumentation
 */
import { Context } from '../index.js';
import { openClient } from './client-open.js';
import { intOption, parse, usageError, withScheme, type Command, type CommandSpec } from './args.js';
import { CLIENT_TLS_FLAGS, clientTlsOptions } from './tls-args.js';
import { CLIENT_HTTP2_FLAGS, clientHttp2Mode } from './http2-args.js';
import { CLIENT_DEFLATE_FLAGS, clientDeflateOption } from './deflate-args.js';
import { CLIENT_PROXY_FLAGS, clientProxyOptions } from './proxy-args.js';

const SPEC: CommandSpec = {
  name: 'echo-client',
  summary: 'connect to a URL and echo every message back with its type (exit 0 after a clean close)',
  usage: ['[options] URL'],
  description:
    'Echoes every message back with the same type; exits 0 after a clean close, 1 otherwise. URL is ws://, ' +
    'wss://, or ws+unix:///path/to/socket:/request/path; without a scheme, ws:// is meant (localhost:9001).',
  flags: [
    {
      name: 'max-message-size',
      value: 'B',
      help: 'largest message accepted (default 16 MiB; the frame limit follows it)',
    },
    { name: 'timeout-ms', value: 'MS', help: 'time for the connection and the handshake (default 20000)' },
    ...CLIENT_DEFLATE_FLAGS,
    'Proxies',
    ...CLIENT_PROXY_FLAGS,
    'TLS (wss:// URLs)',
    ...CLIENT_TLS_FLAGS,
    'HTTP/2',
    ...CLIENT_HTTP2_FLAGS,
  ],
  maxPositionals: 1,
};

/** `nopoll echo-client`. */
export const echoClientCommand: Command = { spec: SPEC, run: echoClient };

/** Runs the echo client. */
export async function echoClient(argv: string[]): Promise<void> {
  const { values, positionals } = parse(SPEC, argv);
  if (positionals[0] === undefined) usageError('missing URL (usage: nopoll echo-client [options] URL)');
  const url = withScheme(positionals[0]);
  const ctx = new Context();
  ctx.maxMessageSize = intOption(values['max-message-size'], 'max-message-size', ctx.maxMessageSize);
  ctx.maxFrameSize = Math.max(ctx.maxFrameSize, Math.min(ctx.maxMessageSize, 2147483646));
  ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  ctx.connectTimeoutMs = Math.max(1, intOption(values['timeout-ms'], 'timeout-ms', 20_000));
  const tls = clientTlsOptions(values, url);
  const options = {
    perMessageDeflate: clientDeflateOption(values),
    ...clientProxyOptions(values),
    ...(tls ? { tls } : {}),
    http2: clientHttp2Mode(values),
  };
  const conn = await openClient(ctx, url, options);
  process.on('SIGTERM', () => void conn.close(1001));
  const info = await conn.closed;
  process.exitCode = info.wasClean ? 0 : 1;
}
