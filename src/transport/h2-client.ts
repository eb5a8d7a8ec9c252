/**
 * A client's HTTP/2 connection (RFC 9113) carrying WebSockets (RFC 8441): connect TCP, run the TLS step with ALPN
 * when given (it must choose `h2`), start the session with windows sized for throughput, and wait for the server's
 * first SETTINGS, which say whether it accepts extended CONNECT (RFC 8441 §3). Then any number of WebSocket
 * streams are opened on it, each with its extended CONNECT and the wait for the answer. Owns the timers of both.
 * @packageDocumentation
 */
import {
  connect as h2Connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ConnectError, HandshakeError, TimeoutError } from '../errors.js';
import type { HeaderList } from '../protocol/handshake/headers.js';
import { headerListOf, headerObject } from './h2-answer.js';

/** Where and how to open the session. */
export interface H2ConnectOptions {
  host: string;
  port: number;
  family: 0 | 4 | 6;
  localAddress?: string | undefined;
  /** The TLS step (ALPN offering `h2`), as for `connectClient`; absent for cleartext HTTP/2 with prior knowledge. */
  upgrade?: ((socket: Socket, done: (error: Error | null, upgraded?: Socket) => void) => void) | undefined;
  /** Time for TCP, TLS and the server's first SETTINGS. */
  timeoutMs: number;
  /** Receive window of each stream (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindowBytes: number;
  /** Receive window of the session. */
  sessionWindowBytes: number;
  /** Largest header list accepted in an answer (SETTINGS_MAX_HEADER_LIST_SIZE). */
  maxHeaderListBytes: number;
}

/**
 * How an attempt ended: a session (which may or may not accept WebSockets, see {@link H2ClientSession.acceptsWebSockets});
 * `'no-h2'` when the server does not speak HTTP/2 here (ALPN chose something else, or it answered the preface with
 * something that is not HTTP/2); or an error before the server was reached (TCP, TLS, the time limit).
 */
export type H2ConnectOutcome =
  { kind: 'session'; session: H2ClientSession } | { kind: 'no-h2'; reason: string } | { kind: 'error'; error: Error };

/** An answered extended CONNECT. */
export interface H2Answer {
  status: number;
  headers: HeaderList;
}

/** One client HTTP/2 connection. See the module comment. */
export class H2ClientSession {
  readonly session: ClientHttp2Session;
  /** The socket under the session (a `TLSSocket` over TLS). */
  readonly socket: Socket;
  #streams = 0;
  #goaway = false;

  private constructor(session: ClientHttp2Session, socket: Socket) {
    this.session = session;
    this.socket = socket;
    session.on('goaway', () => (this.#goaway = true));
  }

  /** Connects and reports once (see {@link H2ConnectOutcome}). Returns a function that gives up. */
  static connect(options: H2ConnectOptions, done: (outcome: H2ConnectOutcome) => void): (error: Error) => void {
    let finished = false;
    let reached = false; // TCP connected (and TLS done): a failure from here on says "no HTTP/2 here"
    let session: ClientHttp2Session | null = null;
    let socket: Socket = netConnect({
      host: options.host,
      port: options.port,
      family: options.family,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    socket.setNoDelay(true);
    const tcp = socket;
    const finish = (outcome: H2ConnectOutcome): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      tcp.off('error', onSocketError);
      tcp.off('close', onSocketClose);
      if (outcome.kind !== 'session') {
        session?.destroy();
        socket.destroy();
        tcp.destroy();
      }
      done(outcome);
    };
    const onSocketError = (error: Error): void => {
      if (reached) return; // the session reports it
      finish({
        kind: 'error',
        error: new ConnectError(`cannot connect to ${options.host}:${options.port}: ${error.message}`, {
          cause: error,
        }),
      });
    };
    const onSocketClose = (): void => {
      if (!reached)
        finish({
          kind: 'error',
          error: new ConnectError(`connection to ${options.host}:${options.port} closed before HTTP/2 started`),
        });
    };
    const start = (carrier: Socket): void => {
      socket = carrier;
      const alpn = (carrier as TLSSocket).alpnProtocol;
      if (options.upgrade !== undefined && alpn !== 'h2') {
        return finish({
          kind: 'no-h2',
          reason: `the server chose ${alpn ? `ALPN ${alpn}` : 'no ALPN protocol'} instead of h2`,
        });
      }
      reached = true;
      const scheme = options.upgrade !== undefined ? 'https' : 'http';
      const made = h2Connect(`${scheme}://${authorityHost(options.host)}:${options.port}`, {
        createConnection: () => carrier,
        settings: {
          enablePush: false,
          initialWindowSize: options.streamWindowBytes,
          maxHeaderListSize: options.maxHeaderListBytes,
        },
      });
      session = made;
      made.on('error', (error: Error) =>
        finish({ kind: 'no-h2', reason: `the server does not speak HTTP/2 here: ${error.message}` }),
      );
      made.once('close', () =>
        finish({ kind: 'no-h2', reason: 'the server closed the connection before its HTTP/2 SETTINGS' }),
      );
      made.once('remoteSettings', () => {
        if (finished) return;
        made.removeAllListeners('error');
        made.removeAllListeners('close');
        made.on('error', ignore); // reported to the streams, and through 'close'
        try {
          made.setLocalWindowSize(options.sessionWindowBytes);
        } catch {
          // The session is going away; its streams will fail.
        }
        finish({ kind: 'session', session: new H2ClientSession(made, carrier) });
      });
    };
    const timer = setTimeout(
      () =>
        finish({
          kind: 'error',
          error: new TimeoutError('handshake', `no HTTP/2 session within ${options.timeoutMs} ms`),
        }),
      options.timeoutMs,
    );
    tcp.on('error', onSocketError);
    tcp.on('close', onSocketClose);
    tcp.once('connect', () => {
      const upgrade = options.upgrade;
      if (upgrade === undefined) return start(tcp);
      upgrade(tcp, (error, upgraded) => {
        if (finished) {
          upgraded?.destroy();
          return;
        }
        if (error || !upgraded)
          return finish({
            kind: 'error',
            error: error ?? new ConnectError(`cannot connect to ${options.host}:${options.port}`),
          });
        start(upgraded);
      });
    });
    return (error) => finish({ kind: 'error', error });
  }

  /** True when the server's SETTINGS allow extended CONNECT (RFC 8441 §3). */
  get acceptsWebSockets(): boolean {
    return this.session.remoteSettings.enableConnectProtocol === true;
  }

  /** True while new streams may be opened: not closing, no GOAWAY received, under the server's stream limit. */
  get usable(): boolean {
    const s = this.session;
    const limit = s.remoteSettings.maxConcurrentStreams ?? Infinity;
    return !this.#goaway && !s.closed && !s.destroyed && this.#streams < limit;
  }

  /** Streams open on this session. */
  get streams(): number {
    return this.#streams;
  }

  /** Ends the session gracefully (GOAWAY; streams still open go on). */
  close(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  /**
   * Sends an extended CONNECT made of `fields` (pseudo-header fields first) and reports its answer once, or an
   * error (the stream reset or closed first, the time ran out: the stream is then cancelled). `closed` runs when the
   * stream has ended, whatever happened. Returns the stream, or throws what Node throws for unusable fields.
   */
  request(
    fields: ReadonlyArray<readonly [string, string]>,
    timeoutMs: number,
    done: (error: Error | null, answer?: H2Answer) => void,
    closed: () => void,
  ): ClientHttp2Stream {
    const stream = this.session.request(headerObject(fields), { endStream: false });
    this.#streams++;
    stream.once('close', () => {
      this.#streams--;
      finish(
        new HandshakeError(
          stream.rstCode
            ? `the server reset the stream (HTTP/2 error ${stream.rstCode})`
            : 'the stream closed before the answer',
        ),
      );
      closed();
    });
    let finished = false;
    const finish = (error: Error | null, answer?: H2Answer): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stream.off('response', onResponse);
      stream.off('error', onError);
      if (error && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      done(error, answer);
    };
    const onResponse = (headers: IncomingHttpHeaders, _flags: number, raw?: string[]): void => {
      finish(null, { status: Number(headers[':status']), headers: headerListOf(headers, raw) });
    };
    const onError = (error: Error): void =>
      finish(new HandshakeError(`extended CONNECT failed: ${error.message}`, 0, { cause: error }));
    const timer = setTimeout(
      () => finish(new TimeoutError('handshake', `no answer to the extended CONNECT within ${timeoutMs} ms`)),
      timeoutMs,
    );
    stream.on('response', onResponse);
    stream.on('error', onError);
    return stream;
  }
}

// An IPv6 address goes into the authority in brackets.
function authorityHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function ignore(): void {}
