/**
 * HTTP/2 flags shared by the commands (RFC 8441, docs/http2.md): `echo-server --http2 [--http2-max-streams N]`
 * serves WebSockets over HTTP/2 beside HTTP/1.1 on its port; the clients (`echo-client`, `connect`) take
 * `--http2` (HTTP/2 or fail) or `--http2-auto` (HTTP/2 when offered, else HTTP/1.1).
 * @packageDocumentation
 */
import type { Http2ListenOptions, Http2Mode } from '../index.js';
import { exclusive, intOption, usageError, type FlagSpec, type Values } from './args.js';

/** Flags of a listener. */
export const SERVER_HTTP2_FLAGS: readonly FlagSpec[] = [
  {
    name: 'http2',
    help: 'serve WebSockets over HTTP/2 too (RFC 8441), on the same port as HTTP/1.1: with --tls through ALPN (h2, http/1.1), without for clients with prior knowledge (h2c)',
  },
  {
    name: 'http2-max-streams',
    value: 'N',
    help: 'with --http2: WebSockets one HTTP/2 connection may carry at once (default 100)',
  },
];

/** Flags of a client. */
export const CLIENT_HTTP2_FLAGS: readonly FlagSpec[] = [
  { name: 'http2', help: 'open the WebSocket over HTTP/2 (RFC 8441 extended CONNECT), or fail' },
  { name: 'http2-auto', help: 'over HTTP/2 when the server offers it, else HTTP/1.1' },
];

/** The listener's `http2` option from the flags, or undefined without `--http2`. A usage error on a misuse. */
export function serverHttp2Option(values: Values): Http2ListenOptions | undefined {
  const streams = values['http2-max-streams'];
  if (values['http2'] !== true) {
    if (streams !== undefined) usageError('--http2-max-streams needs --http2');
    return undefined;
  }
  const max = intOption(streams, 'http2-max-streams', 0);
  return max > 0 ? { maxConcurrentStreams: max } : {};
}

/** The client's `http2` mode from the flags. A usage error when both are given. */
export function clientHttp2Mode(values: Values): Http2Mode {
  exclusive(values, 'http2', 'http2-auto');
  return values['http2'] === true ? true : values['http2-auto'] === true ? 'auto' : false;
}
