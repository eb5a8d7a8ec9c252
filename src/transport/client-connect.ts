/**
 * The client side of the opening handshake over TCP (RFC 6455 §4.1): connect, send the upgrade request, read and
 * check the response head, then hand the socket and any bytes that followed the head to the caller. Owns the
 * connect/handshake timer.
 * @packageDocumentation
 */
import { connect as netConnect, type Socket } from 'node:net';
import { ConnectError, HandshakeError, TimeoutError } from '../errors.js';
import { generateKey } from '../protocol/handshake/accept-key.js';
import {
  buildClientRequest,
  checkServerResponse,
  type ClientHandshakeResult,
  type ClientRequestOptions,
} from '../protocol/handshake/client-handshake.js';
import { HttpHeadParser, type ResponseHead } from '../protocol/handshake/http-head-parser.js';

/** Where and how to connect. */
export interface ClientConnectOptions {
  /** Host name or address to connect to. */
  host: string;
  /** TCP port. */
  port: number;
  /** 4 or 6 to force an address family; 0 lets the resolver choose. */
  family: 0 | 4 | 6;
  /** A unix domain socket to connect to instead of `host`:`port` (`ws+unix:` URLs). */
  path?: string | undefined;
  /** Local address to bind to (noPoll's interface option, by address). */
  localAddress?: string | undefined;
  /** A socket the caller already connected (noPoll's `nopoll_conn_new_with_socket`). */
  socket?: Socket | undefined;
  /**
   * Runs once the socket is connected, before the request is written: a proxy tunnel and/or the TLS handshake of a
   * `wss://` client (see `api/proxy.ts`, `tls.ts`). It reports the socket that carries the handshake from then on, or an error that ends the
   * attempt. The timeout keeps running meanwhile.
   */
  upgrade?: ((socket: Socket, done: (error: Error | null, upgraded?: Socket) => void) => void) | undefined;
  /** The request to send, without its key (generated here). */
  request: Omit<ClientRequestOptions, 'key'>;
  /** Extension names offered, to check the response against. */
  extensionsOffered: readonly string[];
  /** Time allowed for TCP connect plus the whole handshake. */
  timeoutMs: number;
  /** Caps on the response head. */
  limits: { maxHeadBytes: number; maxHeaderCount: number };
}

/** A completed client handshake. */
export interface ClientConnected {
  /** The connected socket, now carrying WebSocket frames. */
  socket: Socket;
  /** What the server accepted (protocol, extensions, headers). */
  result: ClientHandshakeResult;
  /** The server's response head. */
  response: ResponseHead;
  /** Bytes that followed the response head (frames the server sent at once). */
  rest: Buffer;
}

/** A handshake in progress. */
export interface PendingConnect {
  /** The socket being connected. */
  readonly socket: Socket;
  /** Gives up: destroys the socket and reports `error`. */
  abort(error: Error): void;
}

/**
 * Connects and runs the client handshake; `done` is called exactly once. When the server answered but refused the
 * upgrade (a redirect, a 4xx), its response head comes with the error.
 */
export function connectClient(
  options: ClientConnectOptions,
  done: (error: Error | null, connected?: ClientConnected, response?: ResponseHead) => void,
): PendingConnect {
  const key = generateKey();
  const request = buildClientRequest({ ...options.request, key });
  const parser = new HttpHeadParser('response', options.limits);
  let finished = false;

  const where = options.path ?? `${options.host}:${options.port}`;
  let socket =
    options.socket ??
    (options.path !== undefined
      ? netConnect({ path: options.path })
      : netConnect({
          host: options.host,
          port: options.port,
          family: options.family,
          ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        }));
  socket.setNoDelay(true);
  // With an upgrade, `socket` becomes the upgraded one; the TCP socket's close is still watched (it may come first).
  const tcp = socket;

  const finish = (error: Error | null, connected?: ClientConnected, response?: ResponseHead): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('close', onClose);
    tcp.off('close', onClose);
    socket.off('connect', onConnect);
    if (error) {
      socket.destroy();
      done(error, undefined, response);
    } else {
      done(null, connected);
    }
  };
  const onConnect = (): void => {
    const upgrade = options.upgrade;
    if (upgrade === undefined) {
      socket.write(request);
      return;
    }
    // The upgraded socket reads the raw one's bytes from now on; until it reports, only a TCP failure or the
    // timer can end the attempt here.
    socket.off('data', onData);
    upgrade(socket, (error, upgraded) => {
      if (finished) {
        upgraded?.destroy();
        return;
      }
      if (error || !upgraded) {
        finish(error ?? new ConnectError(`cannot connect to ${where}`));
        return;
      }
      socket.off('error', onError);
      socket = upgraded;
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
      socket.write(request);
    });
  };
  const onData = (chunk: Buffer): void => {
    try {
      check(chunk);
    } catch (error) {
      finish(error as Error);
    }
  };
  const check = (chunk: Buffer): void => {
    const parsed = parser.push(chunk);
    if (parsed.kind === 'incomplete') return;
    if (parsed.kind === 'error') {
      finish(new HandshakeError(`invalid handshake response: ${parsed.message}`, parsed.status));
      return;
    }
    const response = parsed.head as ResponseHead;
    const checked = checkServerResponse(response, key, {
      protocols: options.request.protocols ?? [],
      extensionsOffered: options.extensionsOffered,
    });
    if (!checked.ok) {
      finish(checked.error, undefined, response);
      return;
    }
    finish(null, { socket, result: checked.result, response, rest: parsed.rest });
  };
  const onError = (error: Error): void => {
    finish(new ConnectError(`cannot connect to ${where}: ${error.message}`, { cause: error }));
  };
  const onClose = (): void => {
    finish(new HandshakeError('connection closed during the opening handshake'));
  };
  const timer = setTimeout(
    () => finish(new TimeoutError('handshake', `no WebSocket handshake within ${options.timeoutMs} ms`)),
    options.timeoutMs,
  );

  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
  if (options.socket && !options.socket.connecting) onConnect();
  else socket.once('connect', onConnect);

  return {
    socket,
    abort: (error: Error) => finish(error),
  };
}
