/**
 * What a `Transport` is told (its settings) and what it tells (its events, the report of how the connection
 * ended).
 * @packageDocumentation
 */
import type { SessionOptions } from '../protocol/session.js';
import type { DeflateSetup } from './zlib-codec.js';

/** How a connection ended, reported exactly once (the API publishes it as `CloseInfo`). */
export interface TransportEnd {
  /** Close code received from the peer; 1005 when its close frame had none, 1006 when there was no close frame. */
  code: number;
  /** Close reason received from the peer (empty when none). */
  reason: string;
  /** True when close frames were exchanged (RFC 6455 §7.1.4 "cleanly"), whatever TCP did afterwards. */
  wasClean: boolean;
  /** Why the connection failed, when it did: a protocol violation, a timeout, a socket error. */
  error?: Error;
}

/** What the transport reports upward. The API layer's connection implements it. */
export interface TransportEvents {
  /** A data message, or in frame mode one frame (see `SessionHandler.sessionMessage`), compressed ones inflated. */
  transportMessage(opcode: number, payload: Buffer, fin: boolean): void;
  /** Streaming mode: bytes of the data message being received (see `SessionHandler.sessionStream`). */
  transportStream(opcode: number, data: Buffer, end: boolean): void;
  /** A ping arrived (already answered). */
  transportPing(payload: Buffer): void;
  /** A pong arrived. */
  transportPong(payload: Buffer): void;
  /** The peer's close frame arrived (before the byte stream ends). */
  transportCloseFrame(code: number, reason: string): void;
  /** The connection is gone: called once, after the stream closed. */
  transportClosed(info: TransportEnd): void;
}

/** Transport settings. */
export interface TransportOptions extends Omit<SessionOptions, 'perMessageDeflate' | 'budget'> {
  /** How long to wait for the peer's close frame, or for the server to end TCP, before dropping the stream. */
  closeTimeoutMs: number;
  /** Close with 1001 after this many ms without receiving anything (0 or absent: off). See keepalive.ts. */
  idleTimeoutMs?: number;
  /** Ping after this many ms without receiving anything (0 or absent: off). */
  pingIntervalMs?: number;
  /** Drop the connection (1006) when nothing answers a heartbeat ping within this many ms (default: the interval). */
  pongTimeoutMs?: number;
  /**
   * Most bytes the connection may hold unsent before a send hits the write limit; automatic pongs past it drop the
   * connection (a ping flood from a peer that does not read).
   */
  maxPendingWriteBytes?: number;
  /** What a send past the write limit does: `'close'` (1008) or `'refuse'` (0, nothing sent). */
  writeLimitPolicy?: 'close' | 'refuse';
  /** Slow-message guard (see rate-guard.ts): bytes/s a message under way must keep up (0: off), and the window. */
  minMessageRate?: number;
  messageRateWindowMs?: number;
  /** permessage-deflate settings when it was negotiated (RFC 7692); null or absent otherwise. */
  deflate?: DeflateSetup | null;
}

/**
 * @internal The settings a transport reads after it started (the close timeout, the slow-message guard's), kept in
 * one object shared by every connection that has the same ones: one field per connection instead of three.
 */
export class TransportLimits {
  private constructor(
    readonly closeTimeoutMs: number,
    readonly minMessageRate: number,
    readonly messageRateWindowMs: number,
  ) {}

  static #last: TransportLimits | null = null;

  /** The shared limits for these values (those of the last connection, or new ones). */
  static of(options: TransportOptions): TransportLimits {
    const closeTimeoutMs = options.closeTimeoutMs;
    const minMessageRate = options.minMessageRate ?? 0;
    const messageRateWindowMs = options.messageRateWindowMs ?? 0;
    const last = TransportLimits.#last;
    if (
      last !== null &&
      last.closeTimeoutMs === closeTimeoutMs &&
      last.minMessageRate === minMessageRate &&
      last.messageRateWindowMs === messageRateWindowMs
    ) {
      return last;
    }
    return (TransportLimits.#last = new TransportLimits(closeTimeoutMs, minMessageRate, messageRateWindowMs));
  }
}
