/**
 * HTTP CONNECT (RFC 9110 §9.3.6): over a socket connected to an HTTP proxy (or a TLS socket to an HTTPS proxy),
 * asks for a tunnel to the WebSocket server and waits for the proxy's answer. A 2xx answer turns the socket into
 * the tunnel; anything else is a {@link ProxyError}.
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';
import { ProxyError } from '../errors.js';
import { HttpHeadParser, type HeadLimits, type ResponseHead } from '../protocol/handshake/http-head-parser.js';
import { checkExtraHeaders, serializeHead } from '../protocol/handshake/headers.js';
import { holdStream } from './hold-stream.js';

/** One CONNECT request. */
export interface HttpConnectOptions {
  /** The WebSocket server's host name or address. */
  host: string;
  /** Its port. */
  port: number;
  /** `Proxy-Authorization` value (`Basic ...`, RFC 7617), when there are credentials. */
  authorization?: string | undefined;
  /** More request header fields for the proxy. */
  headers?: ReadonlyArray<readonly [string, string]> | undefined;
  /** Caps on the proxy's answer head. */
  limits: HeadLimits;
  /** The proxy, credentials removed, for error messages. */
  proxy: string;
}

// Header names written here; extra headers may not repeat them.
const RESERVED = new Set(['host', 'proxy-authorization']);

/**
 * The CONNECT request bytes. IPv6 addresses are bracketed in the authority (RFC 3986 §3.2.2).
 * @throws TypeError for an unusable extra header (a CR or LF in a value, a name that is not a token).
 */
export function connectRequest(options: HttpConnectOptions): Buffer {
  const authority = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const headers: Array<readonly [string, string]> = [['Host', authority]];
  if (options.authorization !== undefined) headers.push(['Proxy-Authorization', options.authorization]);
  headers.push(...checkExtraHeaders(options.headers, RESERVED));
  return Buffer.from(serializeHead(`CONNECT ${authority} HTTP/1.1`, headers), 'latin1');
}

/**
 * Sends CONNECT on `socket` (connected to the proxy) and reads the answer; `done` is called once. On success,
 * bytes that followed the answer's head are put back into the socket for whoever reads next. On failure the
 * socket is left to the caller (which destroys it).
 */
export function httpConnect(
  socket: Duplex,
  options: HttpConnectOptions,
  done: (error: ProxyError | null) => void,
): void {
  let request: Buffer;
  try {
    request = connectRequest(options);
  } catch (error) {
    done(new ProxyError('protocol', options.proxy, (error as Error).message, { cause: error }));
    return;
  }
  const parser = new HttpHeadParser('response', options.limits);
  let finished = false;
  let release = (): void => {};
  const finish = (error: ProxyError | null): void => {
    if (finished) return;
    finished = true;
    release();
    done(error);
  };
  const onData = (chunk: Buffer): void => {
    const parsed = parser.push(chunk);
    if (parsed.kind === 'incomplete') return;
    if (parsed.kind === 'error') {
      finish(
        new ProxyError('protocol', options.proxy, `invalid answer from the proxy ${options.proxy}: ${parsed.message}`),
      );
      return;
    }
    const head = parsed.head as ResponseHead;
    if (head.status >= 200 && head.status < 300) {
      // Nothing should follow the head before we send, but anything that did belongs to the tunnel.
      if (parsed.rest.length > 0) socket.unshift(parsed.rest);
      finish(null);
      return;
    }
    finish(refusal(head, options));
  };
  const onEnd = (): void => {
    finish(
      new ProxyError(
        'protocol',
        options.proxy,
        `the proxy ${options.proxy} closed the connection before answering CONNECT`,
      ),
    );
  };
  const onError = (error: Error): void => {
    finish(
      new ProxyError(
        'connect',
        options.proxy,
        `the connection to the proxy ${options.proxy} failed: ${error.message}`,
        { cause: error },
      ),
    );
  };
  release = holdStream(socket, onData, onEnd, onError);
  socket.write(request);
}

// A non-2xx answer: 407 (RFC 9110 §15.5.8) is about credentials, anything else is a refusal of the tunnel. Some
// proxies (tinyproxy) answer wrong credentials with 401: about credentials too.
function refusal(head: ResponseHead, options: HttpConnectOptions): ProxyError {
  const status = head.status;
  const line = `${status}${head.reason ? ` ${head.reason}` : ''}`;
  const target = `${options.host}:${options.port}`;
  if (status === 407 || status === 401) {
    const challenge = head.headers.get('proxy-authenticate') ?? head.headers.get('www-authenticate');
    const scheme = challenge?.split(/[\s,]/, 1)[0] ?? '';
    const asked = scheme ? ` (it asks for ${scheme})` : '';
    const message =
      options.authorization === undefined
        ? `the proxy ${options.proxy} requires authentication${asked}: ${line}`
        : `the proxy ${options.proxy} refused the credentials${asked}: ${line}`;
    return new ProxyError('auth', options.proxy, message, { status });
  }
  const why = status === 403 ? 'refused' : 'did not open';
  return new ProxyError('refused', options.proxy, `the proxy ${options.proxy} ${why} a tunnel to ${target}: ${line}`, {
    status,
  });
}
