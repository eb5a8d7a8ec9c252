/**
 * `nopoll echo-server`: echoes every message back with its type (what conformance suites' fuzzing clients drive).
 * @packageDocumentation
 */
import { Context, Listener } from '../index.js';
import { intOption, onSignals, parse, usageError, wsUrl, type Command, type CommandSpec } from './args.js';
import { LINE_ECHO_DEFAULTS, listenShared } from './share-port.js';
import { SERVER_TLS_FLAGS, serverTlsOptions } from './tls-args.js';
import { SERVER_DEFLATE_FLAGS, serverDeflateOption } from './deflate-args.js';
import { SERVER_HTTP2_FLAGS, serverHttp2Option } from './http2-args.js';

const SPEC: CommandSpec = {
  name: 'echo-server',
  summary: 'echo WebSocket server: text back as text, binary as binary (--port N --host H; --tls, --http2, --unix)',
  usage: ['[--port N] [--host H | --unix PATH] [options]'],
  description:
    'Echoes text as text and binary as binary. Prints "listening on ws://H:P/" when ready (wss:// with --tls, ' +
    'ws+unix://PATH:/ with --unix; "(HTTP/1.1 and HTTP/2)" after it with --http2); stops on SIGTERM or SIGINT, ' +
    'closing every connection with 1001, and exits 0.',
  flags: [
    { name: 'port', value: 'N', help: 'port to listen on (default 9001; 0 picks a free one)' },
    { name: 'host', value: 'H', help: 'address to bind (default 127.0.0.1; one with ":" is IPv6)' },
    {
      name: 'unix',
      value: 'PATH',
      help: 'listen on a unix domain socket instead (clients use ws+unix://PATH:/); a stale socket file left at PATH is replaced',
    },
    'Limits and timeouts (docs/security.md; 0 turns the idle timeout, heartbeat and connection cap off)',
    {
      name: 'max-frame-size',
      aliases: ['max-frame-bytes'],
      value: 'B',
      help: 'largest frame accepted (default 16 MiB)',
    },
    {
      name: 'max-message-size',
      aliases: ['max-message-bytes'],
      value: 'B',
      help: 'largest message accepted (default 16 MiB)',
    },
    {
      name: 'max-pending-write-bytes',
      value: 'B',
      help: 'unsent bytes per connection before sends are refused (default 64 MiB)',
    },
    { name: 'max-connections', value: 'N', help: 'connections at once; extra ones get 503 (default 0: no limit)' },
    { name: 'handshake-timeout-ms', value: 'MS', help: 'time to send the request head (default 10000)' },
    { name: 'close-timeout-ms', value: 'MS', help: "wait for the peer's close (default 5000)" },
    { name: 'idle-timeout-ms', value: 'MS', help: 'close with 1001 after MS without input (default 0: off)' },
    { name: 'ping-interval-ms', value: 'MS', help: 'ping after MS without input (default 0: off)' },
    { name: 'pong-timeout-ms', value: 'MS', help: 'drop when no answer MS after a ping (default: the interval)' },
    'Port sharing (manual 2.2)',
    {
      name: 'share-port',
      help:
        'share the port with a line echo: a client whose first line is text gets each line it sends echoed back; one ' +
        'that sends neither HTTP, TLS nor a text line in time is closed. The line echo stops reading while more than ' +
        '--max-pending-write-bytes (default 64 KiB for it) are unsent',
    },
    {
      name: 'sniff-timeout-ms',
      value: 'MS',
      help: 'with --share-port: time to send the first bytes or line (default 5000)',
    },
    {
      name: 'line-idle-timeout-ms',
      value: 'MS',
      help: 'with --share-port: close a line client after MS without traffic (default 60000; 0: never)',
    },
    'Compression',
    ...SERVER_DEFLATE_FLAGS,
    'TLS',
    ...SERVER_TLS_FLAGS,
    'HTTP/2',
    ...SERVER_HTTP2_FLAGS,
  ],
  maxPositionals: 0,
};

/** `nopoll echo-server`. */
export const echoServerCommand: Command = { spec: SPEC, run: echoServer };

/** Runs the echo server. */
export async function echoServer(argv: string[]): Promise<void> {
  const { values } = parse(SPEC, argv);
  const ctx = new Context();
  ctx.maxFrameSize = intOption(values['max-frame-size'], 'max-frame-size', ctx.maxFrameSize);
  ctx.maxMessageSize =
    intOption(values['max-message-size'], 'max-message-size', ctx.maxMessageSize) || ctx.maxMessageSize;
  ctx.handshakeTimeoutMs =
    intOption(values['handshake-timeout-ms'], 'handshake-timeout-ms', ctx.handshakeTimeoutMs) || ctx.handshakeTimeoutMs;
  ctx.closeTimeoutMs =
    intOption(values['close-timeout-ms'], 'close-timeout-ms', ctx.closeTimeoutMs) || ctx.closeTimeoutMs;
  ctx.idleTimeoutMs = intOption(values['idle-timeout-ms'], 'idle-timeout-ms', 0);
  ctx.pingIntervalMs = intOption(values['ping-interval-ms'], 'ping-interval-ms', 0);
  ctx.pongTimeoutMs = intOption(values['pong-timeout-ms'], 'pong-timeout-ms', 0);
  const limits = {
    maxConnections: intOption(values['max-connections'], 'max-connections', 0),
    ...(values['max-pending-write-bytes'] !== undefined
      ? { maxPendingWriteBytes: intOption(values['max-pending-write-bytes'], 'max-pending-write-bytes', 0) || 1 }
      : {}),
  };
  ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  const host = typeof values['host'] === 'string' ? values['host'] : '127.0.0.1';
  const tls = serverTlsOptions(values);
  const perMessageDeflate = serverDeflateOption(values);
  const http2 = serverHttp2Option(values);
  const unix = values['unix'];
  if (typeof unix === 'string') {
    if (
      values['port'] !== undefined ||
      values['host'] !== undefined ||
      values['share-port'] === true ||
      http2 !== undefined
    ) {
      usageError('--unix does not go with --port, --host, --share-port or --http2');
    }
    await Listener.listen(ctx, {
      path: unix,
      ...(tls ? { tls: true } : {}),
      opts: { ...limits, perMessageDeflate, ...(tls ? { tls } : {}) },
    });
    onSignals(() => ctx.close());
    process.stdout.write(`listening on ${tls ? 'wss' : 'ws'}+unix://${unix}:/\n`);
    return;
  }
  if (values['share-port'] === true) {
    if (http2 !== undefined) usageError('--http2 and --share-port exclude each other');
    // With --tls, TLS clients on the shared port get the certificate through the listener's options.
    const shared = await listenShared(ctx, host, intOption(values['port'], 'port', 9001), {
      opts: { ...limits, perMessageDeflate, ...(tls ? { tls } : {}) },
      sniffTimeoutMs: intOption(values['sniff-timeout-ms'], 'sniff-timeout-ms', 5000) || 5000,
      lineEcho: {
        idleTimeoutMs: intOption(
          values['line-idle-timeout-ms'],
          'line-idle-timeout-ms',
          LINE_ECHO_DEFAULTS.idleTimeoutMs,
        ),
        ...(limits.maxPendingWriteBytes !== undefined ? { maxPendingWriteBytes: limits.maxPendingWriteBytes } : {}),
      },
    });
    onSignals(async () => {
      await shared.close();
      await ctx.close();
    });
    process.stdout.write(`listening on ${wsUrl(host, shared.port)} (shared with a line echo)\n`);
    return;
  }
  const listener = await Listener.listen(ctx, {
    host,
    port: intOption(values['port'], 'port', 9001),
    ipv6: host.includes(':'),
    ...(tls ? { tls: true } : {}),
    ...(http2 !== undefined ? { http2 } : {}),
    opts: { ...limits, perMessageDeflate, ...(tls ? { tls } : {}) },
  });
  onSignals(() => ctx.close());
  const url = tls ? wsUrl(host, listener.port).replace(/^ws:/, 'wss:') : wsUrl(host, listener.port);
  process.stdout.write(`listening on ${url}${http2 !== undefined ? ' (HTTP/1.1 and HTTP/2)' : ''}\n`);
}
