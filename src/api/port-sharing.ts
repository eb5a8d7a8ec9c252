/**
 * Port sharing (noPoll manual §2.2): one TCP port for WebSocket, WebSocket over TLS and another protocol. The
 * first bytes of each connection decide where it goes (`classifyFirstBytes`); the WebSocket accept is completed on
 * the socket with the bytes already read (`listener.acceptComplete`). See the guide's "Port sharing" section.
 * @packageDocumentation
 */
import type { Server, Socket } from 'node:net';
import { InvalidStateError } from '../errors.js';
import { sniffSocket, type ProtocolDetector, type SniffResult } from '../transport/sniff-socket.js';
import type { Listener } from './listener.js';
import { wait } from './wait.js';

export type { ProtocolDetector, SniffResult } from '../transport/sniff-socket.js';

/** Options of {@link sniff}. */
export interface SniffOptions {
  /** How long the client may take to send the bytes that classify it (default 5000 ms; 0 waits forever). */
  timeoutMs?: number;
  /** Cancels the sniff: the promise rejects with `AbortError` and the socket is left paused. */
  signal?: AbortSignal;
  /**
   * Your protocol's detector (see {@link ProtocolDetector}). With it, `'other'` means it claimed the connection;
   * one it refuses, or does not claim in time, is destroyed and the promise rejects (`PolicyViolationError`,
   * `TimeoutError` with phase `'sniff'`). Without it, every connection that is neither HTTP nor TLS resolves
   * `'other'` and is yours to judge.
   */
  detect?: ProtocolDetector;
  /** Most bytes read while `detect` answers `'more'` (default 4096); past them the connection is refused. */
  maxSniffBytes?: number;
}

/**
 * Reads the first bytes of a freshly accepted socket and classifies them (`'tls'`, `'http'` for a `GET`, or
 * `'other'`). Resolves with the verdict and every byte read; the socket is then **paused**, and those bytes must
 * go to its next owner first (`listener.acceptComplete(socket, result.head)`). After `timeoutMs` (default 5000;
 * 0 waits forever) without a verdict it resolves `'other'` with `timedOut: true` (with `detect`: only when the
 * detector claims it). Rejects when the socket ends first or `detect` refuses it (the socket is destroyed), or the
 * signal aborts (the socket is left paused, for the caller to dispose of).
 */
export function sniff(socket: Socket, options: SniffOptions = {}): Promise<SniffResult> {
  const sniffOptions = {
    timeoutMs: options.timeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS,
    ...(options.detect !== undefined ? { detect: options.detect } : {}),
    ...(options.maxSniffBytes !== undefined ? { maxBytes: options.maxSniffBytes } : {}),
  };
  // The sniff's own timer decides the timeout (it closes what no one claimed); the wait adds the AbortSignal.
  const waitOptions = options.signal !== undefined ? { signal: options.signal } : {};
  return wait<SniffResult>(waitOptions, 'sniff', (resolve, reject) =>
    sniffSocket(socket, sniffOptions, (error, result) => {
      if (error || !result) reject(error ?? new Error('sniff failed'));
      else resolve(result);
    }),
  );
}

/** Where {@link sharePort} sends each connection. */
export interface SharePortOptions {
  /** Receives WebSocket handshakes (`GET`): a `Listener.fromSocket(ctx, server, opts)` or any listener. */
  listener: Listener;
  /**
   * Receives the connections `detect` claims (so it needs `detect`). The socket is as fresh: the bytes read were
   * put back, so an existing `'connection'` handler works unchanged.
   */
  other?: (socket: Socket) => void;
  /**
   * Your protocol's detector (see {@link ProtocolDetector}): it sees the first bytes of each connection that is
   * neither an HTTP GET nor TLS, and of each that sent too little to tell within `sniffTimeoutMs` (with
   * `timedOut`; a protocol where the server speaks first claims an empty head then). What it does not claim is
   * closed: without a detector, every such connection is, so a client that sends nothing, a few bytes or garbage
   * never holds a socket longer than `sniffTimeoutMs`. Given together with `other`.
   */
  detect?: ProtocolDetector;
  /** Most bytes read while `detect` answers `'more'` (default 4096); past them the connection is closed. */
  maxSniffBytes?: number;
  /**
   * Receives TLS connections, as fresh sockets like `other`. Default: `listener.acceptComplete(socket, head,
   * { tls: true })`, the listener's TLS accept with its certificate.
   */
  tls?: (socket: Socket) => void;
  /** How long a client may take to send the bytes that classify it (default 5000 ms). */
  sniffTimeoutMs?: number;
}

/** A port shared by {@link sharePort}. */
export interface SharedPort {
  /** Stops routing: new connections are no longer sniffed (those being sniffed still are). */
  close(): void;
}

/**
 * Serves WebSocket, WebSocket over TLS and another protocol on `server`'s port: every connection `server` accepts
 * is sniffed and handed to `options.listener` (`GET`), `options.tls` (TLS) or `options.other` (what
 * `options.detect` claims); any other connection is closed. `server` is a plain `net.Server`; this adds a
 * `'connection'` listener to it and nothing else.
 * @throws TypeError when only one of `other` and `detect` is given.
 */
export function sharePort(server: Server, options: SharePortOptions): SharedPort {
  const { listener } = options;
  const userDetect = options.detect;
  if (
    (options.other !== undefined || userDetect !== undefined) &&
    (typeof userDetect !== 'function' || typeof options.other !== 'function')
  ) {
    throw new TypeError('sharePort: `other` and `detect` go together (detect recognises the connections other takes)');
  }
  const sniffOptions = {
    timeoutMs: options.sniffTimeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS,
    // Nothing but HTTP and TLS is let through unless the user's detector claims it.
    detect:
      userDetect === undefined
        ? refuseAll
        : (head: Buffer, timedOut: boolean): boolean | 'more' => {
            try {
              return userDetect(head, timedOut);
            } catch (error) {
              // The application's error, reported like any handler's; the connection is closed.
              listener.ctx.handlerError(error, null);
              return false;
            }
          },
    ...(options.maxSniffBytes !== undefined ? { maxBytes: options.maxSniffBytes } : {}),
  };
  const route = (socket: Socket, result: SniffResult): void => {
    if (result.kind === 'http') {
      listener.acceptComplete(socket, result.head);
    } else if (result.kind === 'tls') {
      if (options.tls) {
        putBack(socket, result.head);
        options.tls(socket);
      } else {
        listener.acceptComplete(socket, result.head, { tls: true });
      }
    } else if (options.other) {
      putBack(socket, result.head);
      options.other(socket);
    } else {
      socket.destroy();
    }
  };
  const onConnection = (socket: Socket): void => {
    socket.setNoDelay(true);
    sniffSocket(socket, sniffOptions, (error, result) => {
      if (error || !result) {
        // Refused, not claimed in time, or gone: routine on an open port.
        listener.ctx.log('debug', `port sharing: ${error?.message ?? 'sniff failed'}`);
        return;
      }
      try {
        route(socket, result);
      } catch (failure) {
        // A closed listener or a missing TLS accept: the socket is already destroyed; a throwing handler is the
        // application's error, reported like any handler's.
        socket.destroy();
        if (failure instanceof InvalidStateError) listener.ctx.log('warning', `port sharing: ${failure.message}`);
        else listener.ctx.handlerError(failure, null);
      }
    });
  };
  server.on('connection', onConnection);
  return { close: () => void server.off('connection', onConnection) };
}

const DEFAULT_SNIFF_TIMEOUT_MS = 5000;

function refuseAll(): false {
  return false;
}

// Gives the bytes read back to the socket and lets the next 'data' listener start the flow, as on a socket that
// was never read (Node's HTTP server does the same before an 'upgrade' event).
function putBack(socket: Socket, head: Buffer): void {
  if (head.length > 0) socket.unshift(head);
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
}
