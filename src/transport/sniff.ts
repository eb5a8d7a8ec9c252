/**
 * Port sharing (noPoll manual §2.2), socket side: reads the first chunk(s) of a freshly accepted socket until
 * {@link classifyFirstBytes} can tell TLS, an HTTP GET or another protocol, then hands the verdict and every byte
 * read to the caller. noPoll peeked with `recv(MSG_PEEK)`; here the bytes are consumed and passed along, so the
 * next owner of the socket must be given them (`listener.acceptSocket(socket, head)`, or `socket.unshift(head)`
 * before wrapping it in a `tls.TLSSocket`).
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import { ConnectionClosedError } from '../errors.js';
import { classifyFirstBytes } from '../protocol/sniff.js';

/** What the first bytes were, with the bytes. */
export interface SniffResult {
  /** `'tls'`, `'http'` (a `GET` request) or `'other'`. */
  kind: 'tls' | 'http' | 'other';
  /** Every byte read from the socket so far; the next owner must process them first. */
  head: Buffer;
  /**
   * True when the verdict is `'other'` only because the time ran out: the client sent too few bytes to tell, or
   * nothing at all (a protocol where the server speaks first).
   */
  timedOut: boolean;
}

/** How long to wait. */
export interface SniffOptions {
  /** After this many ms without a verdict, report `'other'` with `timedOut` (0: wait as long as the socket lives). */
  timeoutMs: number;
}

/**
 * Reads from `socket` until its first bytes can be classified and calls `done` once. On a verdict the socket is
 * left **paused** with no listener of ours: the next owner attaches its own and resumes it (`acceptSocket` does).
 * When the socket ends, fails or closes first, `done` gets an error and the socket is destroyed.
 * @returns a function that stops sniffing without calling `done` (the socket is left as it is, paused).
 */
export function sniffSocket(socket: Socket, options: SniffOptions, done: (error: Error | null, result?: SniffResult) => void): () => void {
  let head: Buffer = EMPTY;
  let finished = false;
  let timer: NodeJS.Timeout | null = null;

  const stop = (): void => {
    finished = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onEnd);
    // Nothing may flow until the next owner listens: removing a 'data' listener does not pause a stream.
    socket.pause();
  };
  const decide = (kind: SniffResult['kind'], timedOut: boolean): void => {
    if (finished) return;
    stop();
    done(null, { kind, head, timedOut });
  };
  const fail = (error: Error): void => {
    if (finished) return;
    stop();
    socket.destroy();
    done(error);
  };
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const kind = classifyFirstBytes(head);
    if (kind !== 'more') decide(kind, false);
  };
  const onEnd = (): void => fail(new ConnectionClosedError('the connection ended before its first bytes could be classified'));
  const onError = (error: Error): void => fail(error);

  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.on('error', onError);
  // A socket handed over paused (or by someone who paused it) must flow for us to see anything.
  if (socket.isPaused()) socket.resume();
  if (options.timeoutMs > 0) {
    timer = setTimeout(() => decide('other', true), options.timeoutMs);
  }
  return () => {
    if (!finished) stop();
  };
}

const EMPTY = Buffer.alloc(0);
