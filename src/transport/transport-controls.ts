/**
 * The transport's plain requests: what the API asks of a connection that needs only the session, the stream and the
 * compression state (ping, pong, the state of sending and receiving, pausing the input, streaming mode, shared
 * frames). It sits between the {@link Sender} (the writing half) and the {@link Transport} (reading, inflation,
 * timers, the end of the connection), so that each file holds one job.
 * @packageDocumentation
 */
import { SessionState } from '../protocol/session.js';
import { Sender } from './sender.js';
import type { DeflateSetup } from './zlib-codec.js';

// The transport's bits of Sender.bits used here (the sender's are below 0x100; transport.ts has the others).
/** @internal A client connection: its frames are masked. */
export const CLIENT = 0x100;
// Input paused by the application (backpressure) and by an inflation under way: the stream reads when neither.
/** @internal */
export const APP_PAUSED = 0x1000;
/** @internal */
export const INFLATING = 0x2000;

/** The plain requests of a transport (see the module comment). */
export abstract class TransportControls extends Sender {
  // ---- what the API asks (sending, pending bytes and flush waits are the Sender's) ----

  /** As {@link Sender.send}, and -1 at once once the connection no longer sends (no close frame either way). */
  override send(opcode: number, data: string | Buffer, fin: boolean, compress?: boolean): number {
    if (this.session.state !== SessionState.OPEN) return -1;
    return super.send(opcode, data, fin, compress);
  }

  // ---- publish: frames shared by many connections (the rest is the Sender's sendFrame) ----

  /**
   * As {@link Sender.sendFrame}.
   * @throws TypeError on a client connection (its frames are masked, each with its own key, RFC 6455 §5.3).
   */
  override sendFrame(frame: Buffer): number {
    if ((this.bits & CLIENT) !== 0)
      throw new TypeError('a client connection masks its frames: it cannot send a shared frame');
    return super.sendFrame(frame);
  }

  /** The connection's compression settings when permessage-deflate was agreed, else null (see sendFrame). */
  get deflateSetup(): Readonly<DeflateSetup> | null {
    return this.compression?.codec.setup ?? null;
  }

  /** True for a client connection (its frames are masked and cannot be shared). */
  get isClient(): boolean {
    return (this.bits & CLIENT) !== 0;
  }

  /** Sends a ping (at most 125 bytes, §5.5.2). False when the connection is no longer open. */
  ping(data?: Uint8Array): boolean {
    return this.session.ping(data);
  }

  /** Sends an unsolicited pong (§5.5.3). False when the connection is no longer open. */
  pong(data?: Uint8Array): boolean {
    return this.session.pong(data);
  }

  /** The opcode of the fragmented message being sent, or 0. */
  get sendingFragmented(): number {
    return this.session.sendingFragmented;
  }

  /** True while the connection sends and receives (no close frame either way). */
  get open(): boolean {
    return this.session.state === SessionState.OPEN;
  }

  /** Bytes of partly received messages held (parser, assembler, inflation). */
  get bufferedBytes(): number {
    return this.session.bufferedBytes + (this.compression?.inflation?.bufferedBytes ?? 0);
  }

  /** Stops reading (backpressure from the application); the peer is slowed down by TCP. */
  pauseInput(): void {
    this.bits |= APP_PAUSED;
    this.stream.pause();
  }

  /** Reads again after {@link pauseInput} (unless an inflation still holds the input). */
  resumeInput(): void {
    this.bits &= ~APP_PAUSED;
    if ((this.bits & INFLATING) === 0 && !this.stream.destroyed) this.stream.resume();
  }

  /** True while the application paused the input. */
  get inputPaused(): boolean {
    return (this.bits & APP_PAUSED) !== 0;
  }

  /** Streaming mode on or off (see `Session.setStreaming`). */
  setStreaming(on: boolean, maxStreamBytes?: number): void {
    this.session.setStreaming(on, maxStreamBytes);
  }
}
