/**
 * A listener that serves WebSockets over HTTP/2 (RFC 8441) beside HTTP/1.1 on one port: which protocol each
 * accepted socket speaks (ALPN over TLS, the connection preface in cleartext, RFC 9113 §3), and the WebSocket
 * handshake of an extended CONNECT stream, run through the listener's own steps (onAccept, limits, onOpen,
 * subprotocols, permessage-deflate) with the RFC 8441 checks in place of the HTTP/1.1 ones.
 * @packageDocumentation
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HandshakeError } from '../errors.js';
import { classifyPreface } from '../protocol/h2-preface.js';
import { checkExtendedConnect, streamKind } from '../protocol/handshake/extended-connect.js';
import type { HeaderList } from '../protocol/handshake/headers.js';
import { markServed, refuseStream, streamAnswer } from '../transport/h2-answer.js';
import { H2Acceptor, type H2StreamOrigin } from '../transport/h2-server.js';
import { sniffSocket } from '../transport/sniff-socket.js';
import type { Conn } from './conn.js';
import type { ResolvedHttp2Listen } from './http2-options.js';
import type { Listener } from './listener.js';
import { checkAcceptedTls } from './listener-tls.js';

/** @internal The client of an HTTP/2 stream being admitted (`Listener.admit`), and how to refuse it on the stream. */
export interface StreamClient {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  refuse(status: number, message: string): void;
}

interface ListenerHttp2 {
  acceptor: H2Acceptor;
  onRequest: ResolvedHttp2Listen['onRequest'];
}

const states = new WeakMap<Listener, ListenerHttp2>();

/** @internal Makes a new listener serve HTTP/2 with these settings. */
export function enableListenerHttp2(listener: Listener, resolved: ResolvedHttp2Listen): void {
  const state: ListenerHttp2 = {
    acceptor: new H2Acceptor(resolved.settings, (stream, headers, raw, origin) =>
      onStream(listener, state, stream, headers, raw, origin),
    ),
    onRequest: resolved.onRequest,
  };
  states.set(listener, state);
}

/** @internal Whether the listener serves HTTP/2. */
export function isHttp2Listener(listener: Listener): boolean {
  return states.has(listener);
}

/** @internal The listener closed: its HTTP/2 connections get GOAWAY (their WebSockets go on until they end). */
export function closeListenerHttp2(listener: Listener): void {
  states.get(listener)?.acceptor.close();
}

/**
 * @internal A socket the listener accepted, on a listener that serves HTTP/2: finds out which protocol it speaks
 * and hands it on. Returns false (and does nothing) when the listener does not serve HTTP/2.
 */
export function serveHttp2Socket(listener: Listener, socket: Socket): boolean {
  const state = states.get(listener);
  if (state === undefined) return false;
  socket.setNoDelay(true);
  if (listener.isTls) {
    // ALPN decides (RFC 9113 §3.2): h2, or HTTP/1.1 for everyone else (a client that sends no ALPN included).
    listener.acceptHttp2Tls(socket, null, (secured) => {
      if (secured.alpnProtocol === 'h2') state.acceptor.accept(secured);
      else listener.acceptSecured(secured);
    });
    return true;
  }
  // Cleartext: the connection preface means HTTP/2 with prior knowledge (RFC 9113 §3.3); anything else goes to the
  // HTTP/1.1 handshake, which answers what it cannot use as it always does.
  const timeoutMs = listener.opts.handshakeTimeoutMs ?? listener.ctx.handshakeTimeoutMs;
  sniffSocket(
    socket,
    { timeoutMs, detect: (head, timedOut) => (timedOut ? false : classifyPreface(head) === 'more' ? 'more' : true) },
    (error, result) => {
      if (error || !result) {
        listener.ctx.log('debug', `listener ${listener.host}:${listener.port}: ${error?.message ?? 'no first bytes'}`);
        return;
      }
      if (!listener.isOk) {
        socket.destroy();
        return;
      }
      if (classifyPreface(result.head) === 'h2') {
        socket.unshift(result.head);
        state.acceptor.accept(socket);
        return;
      }
      try {
        listener.acceptSocket(socket, result.head);
      } catch {
        // The listener closed meanwhile: the socket is gone already.
      }
    },
  );
  return true;
}

// A stream of one of the listener's HTTP/2 connections.
function onStream(
  listener: Listener,
  state: ListenerHttp2,
  stream: ServerHttp2Stream,
  headers: HeaderList,
  raw: IncomingHttpHeaders,
  origin: H2StreamOrigin,
): void {
  stream.on('error', ignore); // a reset is reported through 'close' to whoever owns the stream
  switch (streamKind(headers)) {
    case 'websocket':
      try {
        acceptWebSocketStream(listener, stream, headers, origin.encrypted ? (origin.socket as TLSSocket) : null);
      } catch {
        // The listener is closed: the stream was refused with 503.
      }
      return;
    case 'connect':
      return refuseStream(stream, 405, 'CONNECT is not served here', [['allow', 'GET']]);
    case 'other-protocol':
      return refuseStream(stream, 501, `protocol ${headers.get(':protocol')} not supported`);
    case 'request':
      if (state.onRequest === null) return refuseStream(stream, 404, 'not found');
      markServed(stream);
      try {
        state.onRequest(stream, raw);
      } catch (error) {
        listener.ctx.handlerError(error, null);
        if (!stream.headersSent) refuseStream(stream, 500, 'internal server error');
        else stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      }
  }
}

/**
 * @internal The WebSocket handshake of an extended CONNECT stream on `listener` (the stream's header fields
 * already read): onAccept and the limits, then (over one of our TLS sockets) the post-handshake check, the RFC 8441
 * checks, and the listener's onOpen, subprotocol and permessage-deflate steps, which answer on the stream.
 * @throws InvalidStateError when the listener is closed (the stream is refused with 503).
 */
export function acceptWebSocketStream(
  listener: Listener,
  stream: ServerHttp2Stream,
  headers: HeaderList,
  tlsSocket: TLSSocket | null,
): Conn {
  const session = stream.session;
  const socket = session?.socket;
  const encrypted = tlsSocket !== null || (socket as TLSSocket | undefined)?.encrypted === true;
  const via: StreamClient = {
    remoteAddress: socket?.remoteAddress,
    remotePort: socket?.remotePort,
    refuse: (status: number, message: string) => refuseStream(stream, status, message),
  };
  return listener.admit(
    stream,
    encrypted,
    (conn) => {
      if (tlsSocket !== null) checkAcceptedTls(conn, tlsSocket, () => handshake(listener, conn, stream, headers));
      else handshake(listener, conn, stream, headers);
    },
    via,
  );
}

function handshake(listener: Listener, conn: Conn, stream: ServerHttp2Stream, headers: HeaderList): void {
  if (!conn.isOk) return;
  const ctx = listener.ctx;
  let checked: ReturnType<typeof checkExtendedConnect>;
  try {
    checked = checkExtendedConnect(headers, {
      version: ctx.protocolVersion,
      requireOrigin: listener.opts.requireOrigin ?? false,
    });
  } catch (error) {
    // Only a misconfiguration (an impossible version) can throw here; never crash on it.
    refuseStream(stream, 500, 'server misconfigured');
    conn.fail(error as Error);
    return;
  }
  if (!checked.ok) {
    refuseStream(stream, checked.status, checked.message, checked.headers);
    conn.fail(new HandshakeError(checked.message, checked.status));
    return;
  }
  // Held until the application has decided (the answer resumes it).
  stream.pause();
  const head = { method: 'CONNECT', target: checked.request.path, version: 'HTTP/2', headers };
  listener.upgrade(conn, stream, { request: checked.request, head, rest: EMPTY }, streamAnswer(stream));
}

const EMPTY = Buffer.alloc(0);

function ignore(): void {}
