/**
 * `nopoll echo-server`: echoes every message back with its type (what conformance suites' fuzzing clients drive).
 * @packageDocumentation
 */
import { Context, Listener } from '../index.js';
import { intOption, onSignals, parse, wsUrl } from './args.js';
import { LINE_ECHO_DEFAULTS, listenShared } from './share-port.js';
import { SERVER_TLS_FLAGS, SERVER_TLS_USAGE, serverTlsOptions } from './tls-args.js';
import { SERVER_DEFLATE_FLAGS, SERVER_DEFLATE_USAGE, serverDeflateOption } from './deflate-args.js';
import { SERVER_HTTP2_FLAGS, SERVER_HTTP2_USAGE, serverHttp2Option } from './http2-args.js';

const USAGE = `usage: nopoll echo-server [--port N] [--host H] [--max-frame-size B] [--max-message-size B]
                          [--tls --cert F --key F [--ca F --verify-peer]] [--http2]
  Echoes text as text and binary as binary. Prints "listening on ws://H:P/" (wss:// with --tls) when ready;
  stops on SIGTERM.
  --port N              port to listen on (default 9001; 0 picks a free one)
  --host H              address to bind (default 127.0.0.1)
  --unix PATH           listen on a unix domain socket instead (clients use ws+unix://PATH:/); a stale
                        socket file left at PATH is replaced
  --max-frame-size B    largest frame accepted (default 16 MiB)
  --max-message-size B  largest message accepted (default 16 MiB)
  Limits and timeouts (docs/security.md; 0 turns the idle timeout, heartbeat and connection cap off):
  --max-frame-bytes B, --max-message-bytes B   same as --max-frame-size, --max-message-size
  --max-pending-write-bytes B  unsent bytes per connection before sends are refused (default 64 MiB)
  --max-connections N          connections at once; extra ones get 503 (default 0: no limit)
  --handshake-timeout-ms MS    time to send the request head (default 10000)
  --close-timeout-ms MS        wait for the peer's close (default 5000)
  --idle-timeout-ms MS         close with 1001 after MS without input (default 0: off)
  --ping-interval-ms MS        ping after MS without input (default 0: off)
  --pong-timeout-ms MS         drop when no answer MS after a ping (default: the interval)
  --share-port          share the port with a line echo (manual 2.2): a client whose first line is text gets
                        each line it sends echoed back; one that sends neither HTTP, TLS nor a text line in
                        time is closed. The line echo stops reading while more than --max-pending-write-bytes
                        (default 64 KiB for it) are unsent
  --sniff-timeout-ms MS       with --share-port: time to send the first bytes or line (default 5000)
  --line-idle-timeout-ms MS   with --share-port: close a line client after MS without traffic (default 60000;
                              0: never)
${SERVER_DEFLATE_USAGE}${SERVER_TLS_USAGE}${SERVER_HTTP2_USAGE}`;

/** Runs the echo server. */
export async function echoServer(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      unix: { type: 'string' },
      'max-frame-size': { type: 'string' },
      'max-message-size': { type: 'string' },
      'max-frame-bytes': { type: 'string' },
      'max-message-bytes': { type: 'string' },
      'max-pending-write-bytes': { type: 'string' },
      'max-connections': { type: 'string' },
      'handshake-timeout-ms': { type: 'string' },
      'close-timeout-ms': { type: 'string' },
      'idle-timeout-ms': { type: 'string' },
      'ping-interval-ms': { type: 'string' },
      'pong-timeout-ms': { type: 'string' },
      'share-port': { type: 'boolean' },
      'sniff-timeout-ms': { type: 'string' },
      'line-idle-timeout-ms': { type: 'string' },
      ...SERVER_TLS_FLAGS,
      ...SERVER_DEFLATE_FLAGS,
      ...SERVER_HTTP2_FLAGS,
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  const ctx = new Context();
  ctx.maxFrameSize = intOption(values['max-frame-size'], 'max-frame-size', ctx.maxFrameSize);
  ctx.maxMessageSize = intOption(values['max-message-size'], 'max-message-size', ctx.maxMessageSize);
  ctx.maxFrameSize = intOption(values['max-frame-bytes'], 'max-frame-bytes', ctx.maxFrameSize);
  ctx.maxMessageSize = intOption(values['max-message-bytes'], 'max-message-bytes', ctx.maxMessageSize) || ctx.maxMessageSize;
  ctx.handshakeTimeoutMs = intOption(values['handshake-timeout-ms'], 'handshake-timeout-ms', ctx.handshakeTimeoutMs) || ctx.handshakeTimeoutMs;
  ctx.closeTimeoutMs = intOption(values['close-timeout-ms'], 'close-timeout-ms', ctx.closeTimeoutMs) || ctx.closeTimeoutMs;
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
    if (values['port'] !== undefined || values['host'] !== undefined || values['share-port'] === true || http2 !== undefined) {
      process.stderr.write('--unix does not go with --port, --host, --share-port or --http2\n');
      process.exit(2);
    }
    await Listener.listen(ctx, { path: unix, ...(tls ? { tls: true } : {}), opts: { ...limits, perMessageDeflate, ...(tls ? { tls } : {}) } });
    onSignals(() => ctx.close());
    process.stdout.write(`listening on ${tls ? 'wss' : 'ws'}+unix://${unix}:/\n`);
    return;
  }
  if (values['share-port'] === true) {
    if (http2 !== undefined) {
      process.stderr.write('--http2 and --share-port exclude each other\n');
      process.exit(2);
    }
    // With --tls, TLS clients on the shared port get the certificate through the listener's options.
    const shared = await listenShared(ctx, host, intOption(values['port'], 'port', 9001), {
      opts: { ...limits, perMessageDeflate, ...(tls ? { tls } : {}) },
      sniffTimeoutMs: intOption(values['sniff-timeout-ms'], 'sniff-timeout-ms', 5000) || 5000,
      lineEcho: {
        idleTimeoutMs: intOption(values['line-idle-timeout-ms'], 'line-idle-timeout-ms', LINE_ECHO_DEFAULTS.idleTimeoutMs),
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
