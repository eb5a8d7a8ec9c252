/**
 * Port sharing (noPoll manual §2.2), socket side: reads the first chunk(s) of a freshly accepted socket until
 * {@link classifyFirstBytes} can tell TLS, an HTTP GET or another protocol, then hands the verdict and every byte
 * read to the caller. noPoll peeked with `recv(MSG_PEEK)`; here the bytes are consumed and passed along, so the
 * next owner of the socket must be given them (`listener.acceptSocket(socket, head)`, or `socket.unshift(head)`
 * before wrapping it in a `tls.TLSSocket`).
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import { ConnectionClosedError, PolicyViolationError, TimeoutError } from '../errors.js';
import { classifyFirstBytes } from '../protocol/first-bytes.js';
import { holdStream } from './hold-stream.js';

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

/**
 * Claims connections for a protocol of your own on a shared port. Called with every byte read so far once they
 * are neither an HTTP GET nor TLS, again as more arrive while it answers `'more'`, and once more with `timedOut`
 * true when the sniff time runs out before a verdict (`head` may then be empty: a protocol where the server speaks
 * first claims that). Answer `true` to take the connection, `false` to have it closed, `'more'` to see more
 * bytes (counted as `false` once `timedOut` is true or `maxBytes` bytes were read). A throw closes the connection.
 */
export type ProtocolDetector = (head: Buffer, timedOut: boolean) => boolean | 'more';

/** How long to wait, and who decides about bytes that are neither HTTP nor TLS. */
export interface SniffOptions {
  /** After this many ms without a verdict, report `'other'` with `timedOut` (0: wait as long as the socket lives). */
  timeoutMs: number;
  /**
   * Decides about connections that are neither HTTP nor TLS: `'other'` is reported only when it claims them; the
   * others are destroyed and `done` gets a `PolicyViolationError` (bytes refused) or a `TimeoutError('sniff')`
   * (nothing claimed in time). Without it every such connection is reported `'other'`, for the caller to judge.
   */
  detect?: ProtocolDetector;
  /** Most bytes read while `detect` answers `'more'` (default {@link DEFAULT_MAX_SNIFF_BYTES}). */
  maxBytes?: number;
}

/** Default of {@link SniffOptions.maxBytes}: what a detector may ask to see before the connection is closed. */
export const DEFAULT_MAX_SNIFF_BYTES = 4096;

/**
 * Reads from `socket` until its first bytes can be classified and calls `done` once. On a verdict the socket is
 * left **paused** with no listener of ours: the next owner attaches its own and resumes it (`acceptSocket` does).
 * When the socket ends, fails or closes first, or `options.detect` refuses it, `done` gets an error and the socket
 * is destroyed.
 * @returns a function that stops sniffing without calling `done` (the socket is left as it is, paused).
 */
export function sniffSocket(
  socket: Socket,
  options: SniffOptions,
  done: (error: Error | null, result?: SniffResult) => void,
): () => void {
  let head: Buffer = EMPTY;
  let finished = false;
  let release = (): void => {};
  let timer: NodeJS.Timeout | null = null;

  const stop = (): void => {
    finished = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    release();
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
  const { detect } = options;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_SNIFF_BYTES;
  // Neither HTTP nor TLS (or no verdict in time): the user's detector decides, else the caller does.
  const other = (timedOut: boolean): void => {
    if (detect === undefined) return decide('other', timedOut);
    let claim: boolean | 'more';
    try {
      claim = detect(head, timedOut);
    } catch (error) {
      return fail(error instanceof Error ? error : new Error(String(error)));
    }
    if (claim === true) return decide('other', timedOut);
    if (claim === 'more' && !timedOut && head.length < maxBytes) return;
    if (timedOut) fail(new TimeoutError('sniff', `no protocol claimed the connection within ${options.timeoutMs} ms`));
    else
      fail(
        new PolicyViolationError(
          claim === 'more'
            ? `no protocol claimed the connection in ${head.length} bytes`
            : 'the connection is neither HTTP nor TLS, and no detector claimed it',
        ),
      );
  };
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const kind = classifyFirstBytes(head);
    if (kind === 'other') other(false);
    else if (kind !== 'more') decide(kind, false);
  };
  const onEnd = (): void =>
    fail(new ConnectionClosedError('the connection ended before its first bytes could be classified'));
  const onError = (error: Error): void => fail(error);

  release = holdStream(socket, onData, onEnd, onError);
  // A socket handed over paused (or by someone who paused it) must flow for us to see anything.
  if (socket.isPaused()) socket.resume();
  if (options.timeoutMs > 0) {
    timer = setTimeout(() => other(true), options.timeoutMs);
  }
  return () => {
    if (!finished) stop();
  };
}

const EMPTY = Buffer.alloc(0);
