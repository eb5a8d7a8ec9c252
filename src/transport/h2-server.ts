/**
 * The server's HTTP/2 connections (RFC 9113) for a listener that carries WebSockets over HTTP/2 (RFC 8441): sockets
 * the listener accepted (a TLS socket whose ALPN chose `h2`, or a cleartext socket that began with the connection
 * preface) become HTTP/2 sessions that advertise `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3), with
 * flow-control windows sized for throughput, and every stream is handed up with its header fields. Per session it
 * bounds what a client can hold: streams open at once (the SETTINGS limit), header list size and count, time
 * without any stream, and handshakes that fail (refused or reset before the answer); Node's own limits (rejected
 * streams, invalid frames, reset floods) stay on.
 * @packageDocumentation
 */
import {
  constants,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HeaderList } from '../protocol/handshake/headers.js';
import { headerListOf, isServedStream } from './h2-answer.js';

/** Limits and windows of the sessions. */
export interface H2ServerSettings {
  /** Streams a client may have open at once in one session (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
  /** Receive window of each stream (SETTINGS_INITIAL_WINDOW_SIZE): bytes a peer may send before we read them. */
  streamWindowBytes: number;
  /** Receive window of the whole session (WINDOW_UPDATE on stream 0): bytes in flight over all streams. */
  sessionWindowBytes: number;
  /** Largest header list of a request (SETTINGS_MAX_HEADER_LIST_SIZE, as counted by RFC 9113 §6.5.2). */
  maxHeaderListBytes: number;
  /** Most header fields of a request, pseudo-header fields included. */
  maxHeaderCount: number;
  /** A new session must open a stream within this many ms. */
  firstStreamTimeoutMs: number;
  /** A session with no stream open is closed (GOAWAY) after this many ms. */
  idleTimeoutMs: number;
  /** Handshakes a session may fail (refused, or reset before any byte came through) before it is closed. */
  maxFailedStreams: number;
}

/** Where a stream came from. */
export interface H2StreamOrigin {
  /** The session's socket as accepted: a `TLSSocket` when the session runs over TLS. */
  socket: Socket;
  /** True over TLS. */
  encrypted: boolean;
}

/**
 * Receives each stream a client opens, with its header fields (pseudo-header fields included) as a list and as
 * Node's header object.
 */
export type H2StreamHandler = (
  stream: ServerHttp2Stream,
  headers: HeaderList,
  raw: IncomingHttpHeaders,
  origin: H2StreamOrigin,
) => void;

// Per session: the socket it was made from, streams open, the handshakes that failed, the idle timer.
interface SessionState {
  origin: H2StreamOrigin;
  open: number;
  failed: number;
  timer: NodeJS.Timeout | null;
}

/** Turns accepted sockets into HTTP/2 sessions and hands their streams to a handler. See the module comment. */
export class H2Acceptor {
  readonly #server: Http2Server;
  readonly #settings: H2ServerSettings;
  readonly #sessions = new Map<ServerHttp2Session, SessionState>();
  #accepting: H2StreamOrigin | null = null;
  #closed = false;

  constructor(settings: H2ServerSettings, onStream: H2StreamHandler) {
    this.#settings = settings;
    // A server that never listens: sockets come from the listener through 'connection'. Its only job is to make
    // sessions with these settings (Node has no other way on every Node 20 release).
    this.#server = createServer({
      settings: {
        enableConnectProtocol: true,
        enablePush: false,
        initialWindowSize: settings.streamWindowBytes,
        maxConcurrentStreams: settings.maxConcurrentStreams,
        maxHeaderListSize: settings.maxHeaderListBytes,
      },
      maxHeaderListPairs: settings.maxHeaderCount,
    });
    this.#server.on('session', (session: ServerHttp2Session) => this.#started(session));
    this.#server.on(
      'stream',
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw?: string[]) => {
        const state = this.#sessions.get(stream.session as ServerHttp2Session);
        if (state === undefined) {
          stream.close(constants.NGHTTP2_REFUSED_STREAM);
          return;
        }
        this.#opened(stream, state);
        onStream(stream, headerListOf(headers, raw), headers, state.origin);
      },
    );
    // A session's error is also reported on its 'close'; without a listener it would reach the process.
    this.#server.on('sessionError', ignore);
  }

  /** Sessions alive. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Starts an HTTP/2 session on `socket`: a TLS socket that negotiated `h2`, or a cleartext one whose bytes read so
   * far (the connection preface) were put back with `unshift`.
   */
  accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay?.(true);
    const encrypted = (socket as TLSSocket).encrypted === true;
    // A server-side TLSSocket made by hand (ours, see tls.ts) keeps `secureConnecting` true after its handshake:
    // only tls.Server clears it. A session would then wait for a 'secureConnect' that never comes; the handshake is
    // done, so say so, as tls.Server does.
    if (encrypted) (socket as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
    this.#accepting = { socket, encrypted };
    try {
      this.#server.emit('connection', socket);
    } finally {
      this.#accepting = null;
    }
  }

  /** Stops: every session is told GOAWAY (its WebSockets go on until they end); new sockets are refused. */
  close(): void {
    this.#closed = true;
    for (const session of [...this.#sessions.keys()]) if (!session.closed) session.close();
  }

  #started(session: ServerHttp2Session): void {
    const origin = this.#accepting ?? { socket: session.socket as Socket, encrypted: false };
    const state: SessionState = { origin, open: 0, failed: 0, timer: null };
    this.#sessions.set(session, state);
    // The session window is not a SETTING: it is raised with a WINDOW_UPDATE on stream 0 (RFC 9113 §6.9.2).
    try {
      session.setLocalWindowSize(this.#settings.sessionWindowBytes);
    } catch {
      // The socket went away during the set-up; 'close' follows.
    }
    session.on('error', ignore);
    session.once('close', () => {
      this.#disarm(state);
      this.#sessions.delete(session);
    });
    this.#arm(session, state, this.#settings.firstStreamTimeoutMs);
  }

  #opened(stream: ServerHttp2Stream, state: SessionState): void {
    state.open++;
    this.#disarm(state);
    const session = stream.session as ServerHttp2Session;
    stream.once('close', () => {
      state.open--;
      if (failed(stream) && ++state.failed > this.#settings.maxFailedStreams) {
        // A client that keeps opening handshakes that fail (refused, or reset before the answer) is cut off.
        if (!session.destroyed)
          session.destroy(new Error('too many failed handshakes'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
        return;
      }
      if (state.open === 0) this.#arm(session, state, this.#settings.idleTimeoutMs);
    });
  }

  #arm(session: ServerHttp2Session, state: SessionState, ms: number): void {
    this.#disarm(state);
    if (ms <= 0 || session.destroyed) return;
    state.timer = setTimeout(() => {
      state.timer = null;
      if (state.open > 0 || session.destroyed) return;
      // GOAWAY, then the socket ends; a client that holds it open anyway is dropped a moment later.
      session.close();
      setTimeout(() => session.destroy(), 1000).unref();
    }, ms);
    state.timer.unref();
  }

  #disarm(state: SessionState): void {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
  }
}

// A handshake that failed: refused, or reset by the client before anything came through it. The second catches
// the "rapid reset" pattern (RFC 9113 §10.5): the reset arrives with the HEADERS, before our answer is sent.
function failed(stream: ServerHttp2Stream): boolean {
  if (!isServedStream(stream)) return true;
  return stream.rstCode !== constants.NGHTTP2_NO_ERROR && stream.rstCode !== undefined && !stream.readableDidRead;
}

function ignore(): void {}
