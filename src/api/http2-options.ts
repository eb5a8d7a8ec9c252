/**
 * The `http2` options (WebSockets over HTTP/2, RFC 8441): a listener's settings with their defaults, and a client's
 * choice of protocol. See docs/http2.md.
 * @packageDocumentation
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { H2ServerSettings } from '../transport/h2-server.js';

/** Default receive window of one HTTP/2 stream: 1 MiB (Node's default, 64 KiB, caps a stream at 64 KiB per round trip). */
export const DEFAULT_HTTP2_STREAM_WINDOW = 1024 * 1024;
/** Default receive window of one HTTP/2 session, over all its streams: 16 MiB. */
export const DEFAULT_HTTP2_SESSION_WINDOW = 16 * 1024 * 1024;
/** Default of {@link Http2ListenOptions.maxConcurrentStreams}. */
export const DEFAULT_HTTP2_MAX_STREAMS = 100;

/** HTTP/2 on a listener (`ListenOptions.http2`). Every field is optional. */
export interface Http2ListenOptions {
  /**
   * Streams (WebSockets, and requests given to `onRequest`) one client connection may have open at once
   * (SETTINGS_MAX_CONCURRENT_STREAMS; default 100). Past it the client's new streams are refused by HTTP/2 itself.
   */
  maxConcurrentStreams?: number;
  /**
   * Receive window of each stream, in bytes (default 1 MiB): what a client may send on one WebSocket before we
   * read it. It bounds the memory a paused WebSocket holds, and caps its upload at one window per round trip.
   */
  streamWindowBytes?: number;
  /** Receive window of each client connection over all its streams, in bytes (default 16 MiB). */
  sessionWindowBytes?: number;
  /**
   * A client connection with no stream open is closed (GOAWAY) after this many ms (default 30000; 0: never). A new
   * connection must open its first stream within the listener's handshake timeout.
   */
  sessionIdleTimeoutMs?: number;
  /**
   * Handshakes one client connection may fail (refused, or reset before the answer) before it is closed with
   * ENHANCE_YOUR_CALM (default 100): a flood of bad extended CONNECTs costs a connection, not the server.
   */
  maxFailedStreams?: number;
  /**
   * Receives the streams that are not WebSocket handshakes (a page, an API call). Without it they are answered
   * 404; a plain CONNECT gets 405 and an extended CONNECT for another protocol 501 (RFC 9220 §3).
   */
  onRequest?: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;
}

/** A listener's HTTP/2 settings, resolved: the transport's settings and the request handler. */
export interface ResolvedHttp2Listen {
  settings: H2ServerSettings;
  onRequest: NonNullable<Http2ListenOptions['onRequest']> | null;
}

/** What a listener's HTTP/2 settings fall back on. */
export interface Http2ListenDefaults {
  maxHeadBytes: number;
  maxHeaderCount: number;
  handshakeTimeoutMs: number;
}

function int(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`http2.${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

// RFC 9113 §6.9.1: a flow-control window never exceeds 2^31 - 1.
const MAX_WINDOW = 2 ** 31 - 1;

/**
 * Validates a listener's `http2` option (true: the defaults) against the context's limits.
 * @throws TypeError / RangeError for an invalid option.
 */
export function resolveHttp2Listen(
  value: boolean | Http2ListenOptions,
  defaults: Http2ListenDefaults,
): ResolvedHttp2Listen {
  const o: Http2ListenOptions = value === true ? {} : value === false ? {} : value;
  if (typeof o !== 'object' || o === null) throw new TypeError('http2 must be a boolean or an options object');
  if (o.onRequest !== undefined && typeof o.onRequest !== 'function')
    throw new TypeError('http2.onRequest must be a function');
  return {
    settings: {
      maxConcurrentStreams: int(
        o.maxConcurrentStreams,
        'maxConcurrentStreams',
        1,
        MAX_WINDOW,
        DEFAULT_HTTP2_MAX_STREAMS,
      ),
      // RFC 9113 §6.5.2: the initial window is at most 2^31 - 1; below 64 KiB - 1 it would only slow things.
      streamWindowBytes: int(o.streamWindowBytes, 'streamWindowBytes', 65535, MAX_WINDOW, DEFAULT_HTTP2_STREAM_WINDOW),
      sessionWindowBytes: int(
        o.sessionWindowBytes,
        'sessionWindowBytes',
        65535,
        MAX_WINDOW,
        DEFAULT_HTTP2_SESSION_WINDOW,
      ),
      maxHeaderListBytes: defaults.maxHeadBytes,
      // The pseudo-header fields of an extended CONNECT (five) come on top of the header fields counted over HTTP/1.1.
      maxHeaderCount: defaults.maxHeaderCount + 5,
      firstStreamTimeoutMs: defaults.handshakeTimeoutMs,
      idleTimeoutMs: int(o.sessionIdleTimeoutMs, 'sessionIdleTimeoutMs', 0, 2 ** 31 - 1, 30_000),
      maxFailedStreams: int(o.maxFailedStreams, 'maxFailedStreams', 0, Number.MAX_SAFE_INTEGER, 100),
    },
    onRequest: o.onRequest ?? null,
  };
}

/**
 * A client's choice (`ConnOptsInit.http2`): `false` (default) speaks HTTP/1.1; `true` opens the WebSocket over
 * HTTP/2 or fails; `'auto'` prefers HTTP/2 and falls back to HTTP/1.1 when the server does not offer WebSockets
 * over HTTP/2 (no `h2` in ALPN, no HTTP/2 at all, or no SETTINGS_ENABLE_CONNECT_PROTOCOL).
 */
export type Http2Mode = boolean | 'auto';

/** @throws TypeError for a value that is not an {@link Http2Mode}. */
export function checkHttp2Mode(value: unknown): Http2Mode {
  if (value === undefined) return false;
  if (value === true || value === false || value === 'auto') return value;
  throw new TypeError(`http2 must be true, false or 'auto', got ${String(value)}`);
}
