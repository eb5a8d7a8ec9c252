/**
 * The server side of the opening handshake (RFC 6455 §4.2): read the request head from an accepted socket with
 * size, count and time limits, check it, let the application decide, and answer 101 or an HTTP error. Owns the
 * handshake timer.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import { HandshakeError, TimeoutError } from '../errors.js';
import { HttpHeadParser } from '../protocol/handshake/http-head-parser.js';
import type { RequestHead } from '../protocol/handshake/http-head-parser.js';
import {
  buildAcceptResponse,
  buildRejectResponse,
  checkClientRequest,
  type ServerHandshakePolicy,
  type ServerRequestInfo,
} from '../protocol/handshake/server-handshake.js';

/** Limits and policy for reading a request. */
export interface ServerAcceptOptions {
  /** Caps on the request head. */
  limits: { maxHeadBytes: number; maxHeaderCount: number };
  /** Version and Origin policy. */
  policy: ServerHandshakePolicy;
  /** Time allowed for the client to send its whole request head. */
  timeoutMs: number;
}

/** A request that passed the RFC checks and waits for the application's decision. */
export interface PendingUpgrade {
  /** The parsed request. */
  request: ServerRequestInfo;
  /** The raw head. */
  head: RequestHead;
  /** Bytes that followed the head (frames the client pipelined, noPoll test_02). */
  rest: Buffer;
}

/**
 * How a checked handshake is answered, whatever carries it: `101` bytes on an HTTP/1.1 socket ({@link socketAnswer})
 * or HEADERS on an HTTP/2 stream (`streamAnswer` in h2-answer.ts). `accept` also resumes reading.
 */
export interface UpgradeAnswer {
  accept(reply: AcceptReply): void;
  reject(status: number, message: string, headers?: ReadonlyArray<readonly [string, string]>): void;
}

/** The {@link UpgradeAnswer} of an HTTP/1.1 socket for the request carrying `key`. */
export function socketAnswer(socket: Socket, key: string): UpgradeAnswer {
  return {
    accept: (reply) => acceptUpgrade(socket, key, reply),
    reject: (status, message, headers) => rejectUpgrade(socket, status, message, headers),
  };
}

/** Reply for an accepted request. */
export interface AcceptReply {
  /** Subprotocol to confirm, or null. */
  protocol: string | null;
  /** Extensions header to send, or null. */
  extensions: string | null;
  /** Extra response headers. */
  headers?: ReadonlyArray<readonly [string, string]>;
}

/**
 * Reads the request head from `socket` (after `head`, bytes already read by someone else, e.g. a port-sharing
 * sniffer). `done` is called once: with the pending upgrade, or with an error after an HTTP error reply was sent
 * (or the socket dropped). The socket is left flowing with no 'data' listener: the caller attaches its own in the
 * same tick, or pauses the socket (before an asynchronous decision) so that no byte is lost; pausing only then
 * saves a pause and a resume on every handshake.
 */
export function readUpgradeRequest(
  socket: Socket,
  head: Buffer | null,
  options: ServerAcceptOptions,
  done: (error: Error | null, upgrade?: PendingUpgrade) => void,
): void {
  let parser: HttpHeadParser;
  try {
    parser = new HttpHeadParser('request', options.limits);
  } catch (error) {
    rejectUpgrade(socket, 500, 'server misconfigured');
    done(error as Error);
    return;
  }
  let finished = false;
  const finish = (error: Error | null, upgrade?: PendingUpgrade): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.off('error', ignoreError);
    done(error, upgrade);
  };
  const onData = (chunk: Buffer): void => {
    try {
      check(chunk);
    } catch (error) {
      // Only a misconfiguration (an impossible limit or version) can throw here; never crash on it.
      rejectUpgrade(socket, 500, 'server error');
      finish(error as Error);
    }
  };
  const check = (chunk: Buffer): void => {
    const parsed = parser.push(chunk);
    if (parsed.kind === 'incomplete') return;
    if (parsed.kind === 'error') {
      rejectUpgrade(socket, parsed.status, parsed.message);
      finish(new HandshakeError(parsed.message, parsed.status));
      return;
    }
    const requestHead = parsed.head as RequestHead;
    const checked = checkClientRequest(requestHead, options.policy);
    if (!checked.ok) {
      rejectUpgrade(socket, checked.status, checked.message, checked.headers);
      finish(new HandshakeError(checked.message, checked.status));
      return;
    }
    finish(null, { request: checked.request, head: requestHead, rest: parsed.rest });
  };
  const onClose = (): void => finish(new HandshakeError('connection closed during the opening handshake'));
  const timer = setTimeout(() => {
    rejectUpgrade(socket, 408, 'request head not received in time');
    finish(new TimeoutError('handshake', `no complete handshake request within ${options.timeoutMs} ms`));
  }, options.timeoutMs);
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', ignoreError);
  // A socket handed over paused (the port-sharing sniffer leaves it so) must flow again; a fresh one flows anyway.
  if (socket.isPaused()) socket.resume();
  if (head !== null && head.length > 0) onData(head);
}

/** Sends the 101 response (RFC 6455 §4.2.2) and resumes reading. */
export function acceptUpgrade(socket: Socket, key: string, reply: AcceptReply): void {
  socket.write(buildAcceptResponse(key, reply));
  socket.resume();
}

/** Answers with an HTTP error and closes the socket (RFC 6455 §4.2.1: "respond with an appropriate HTTP error"). */
export function rejectUpgrade(
  socket: Socket,
  status: number,
  message: string,
  headers?: ReadonlyArray<readonly [string, string]>,
): void {
  if (socket.destroyed) return;
  socket.end(buildRejectResponse(status, message, headers));
  // Do not let a client that never reads keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}

// 'close' follows an error and reports it; a listener must exist so the error does not crash the process.
function ignoreError(): void {}
