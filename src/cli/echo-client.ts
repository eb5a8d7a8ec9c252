/**
 * `nopoll echo-client URL`: connects, echoes every message back with its type, exits 0 after a clean close. This
 * is what conformance suites' fuzzing servers (Autobahn|Testsuite `runCase`) drive.
 * @packageDocumentation
 */
import { Conn, Context } from '../index.js';
import { intOption, parse } from './args.js';
import { CLIENT_TLS_FLAGS, CLIENT_TLS_USAGE, clientTlsOptions } from './tls-args.js';
import { CLIENT_HTTP2_FLAGS, CLIENT_HTTP2_USAGE, clientHttp2Mode } from './http2-args.js';
import { CLIENT_DEFLATE_FLAGS, CLIENT_DEFLATE_USAGE, clientDeflateOption } from './deflate-args.js';
import { CLIENT_PROXY_FLAGS, CLIENT_PROXY_USAGE, clientProxyOptions } from './proxy-args.js';

const USAGE = `usage: nopoll echo-client URL [--max-message-size B] [--timeout-ms MS] [--ca F] [--cert F --key F] [--insecure]
                          [--proxy URL | --no-proxy] [--http2 | --http2-auto]
  Echoes every message back with the same type; exits 0 after a clean close, 1 otherwise. URL is ws://, wss://,
  or ws+unix:///path/to/socket:/request/path.
${CLIENT_DEFLATE_USAGE}${CLIENT_TLS_USAGE}${CLIENT_PROXY_USAGE}${CLIENT_HTTP2_USAGE}`;

/** Runs the echo client. */
export async function echoClient(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      'max-message-size': { type: 'string' },
      'timeout-ms': { type: 'string' },
      ...CLIENT_TLS_FLAGS,
      ...CLIENT_HTTP2_FLAGS,
      ...CLIENT_DEFLATE_FLAGS,
      ...CLIENT_PROXY_FLAGS,
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  const url = positionals[0];
  if (!url) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const ctx = new Context();
  ctx.maxMessageSize = intOption(values['max-message-size'], 'max-message-size', ctx.maxMessageSize);
  ctx.maxFrameSize = Math.max(ctx.maxFrameSize, Math.min(ctx.maxMessageSize, 2147483646));
  ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  ctx.connectTimeoutMs = Math.max(1, intOption(values['timeout-ms'], 'timeout-ms', 20_000));
  let conn: Conn;
  try {
    const tls = clientTlsOptions(values, url);
    conn = await Conn.open(ctx, url, {
      perMessageDeflate: clientDeflateOption(values),
      ...clientProxyOptions(values),
      ...(tls ? { tls } : {}),
      http2: clientHttp2Mode(values),
    });
  } catch (error) {
    process.stderr.write(`echo-client: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.on('SIGTERM', () => void conn.close(1001));
  const info = await conn.closed;
  process.exitCode = info.wasClean ? 0 : 1;
}
