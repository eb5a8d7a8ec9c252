/**
 * Sending on a connection: messages, fragments, pings and pongs, and the state of what was sent (pending bytes,
 * flushes). Every send goes through the transport's one entry; before a client's handshake completes, sends are
 * checked and queued (noPoll test_02).
 * @packageDocumentation
 */
import { Opcode } from '../protocol/constants.js';
import { OutgoingMessages } from '../protocol/outgoing.js';
import { ConnCore, NO_RARE } from './conn-core.js';
import { untilEmpty } from './conn-drain.js';
import type { Conn } from './conn.js';
import { MessageWriter, type MessageWriterOptions } from './message-stream.js';
import { wait, type WaitOptions } from './wait.js';

/** Per-send options. */
export interface SendOptions {
  /**
   * With permessage-deflate negotiated: `true` compresses this message whatever its size, `false` sends it
   * uncompressed; by default messages of at least the threshold (1 KiB) are compressed. For a fragmented message
   * the first fragment decides for the whole message. Ignored without compression.
   */
  compress?: boolean;
}

/** Default `maxPendingWriteBytes`: 64 MiB. */
export const DEFAULT_MAX_PENDING_WRITE_BYTES = 64 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/** Sending; see {@link Conn}. */
export abstract class ConnSending extends ConnCore {
  /**
   * Sends a text message (`nopoll_conn_send_text`). If a fragmented text message is open (see
   * {@link sendTextFragment}), this sends its last frame instead. Before the handshake completes, the message is
   * queued and sent once it does (noPoll test_02).
   * @returns payload bytes accepted, 0 when the write limit refused it (policy `'refuse'`), or -1 when the
   * connection no longer sends.
   * @throws TypeError for bytes that are not valid UTF-8, or while a fragmented binary message is open.
   */
  sendText(data: string | Uint8Array, options?: SendOptions): number {
    return this.sendChecked(Opcode.TEXT, typeof data === 'string' ? data : toBuffer(data), true, options?.compress);
  }

  /**
   * Sends a binary message (`nopoll_conn_send_binary`); ends an open fragmented binary message.
   * @returns as {@link sendText}.
   */
  sendBinary(data: Uint8Array, options?: SendOptions): number {
    return this.sendChecked(Opcode.BINARY, toBuffer(data), true, options?.compress);
  }

  /**
   * Sends a frame of a fragmented text message with FIN=0 (`nopoll_conn_send_text_fragment`); later frames go
   * out as CONTINUATION (noPoll wrongly repeated TEXT, RFC 6455 §5.4). End it with `sendText` or
   * `sendFragment(data, { fin: true })`.
   */
  sendTextFragment(data: string | Uint8Array): number {
    return this.sendFragment(data);
  }

  /** Binary counterpart of {@link sendTextFragment} (`nopoll_conn_send_binary_fragment`). */
  sendBinaryFragment(data: Uint8Array): number {
    return this.sendFragment(data, { binary: true });
  }

  /** Sends one frame of a fragmented message, text unless `binary`, ending it when `fin`. */
  sendFragment(
    data: string | Uint8Array,
    options: { binary?: boolean; fin?: boolean; compress?: boolean } = {},
  ): number {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
    return this.sendChecked(
      options.binary ? Opcode.BINARY : Opcode.TEXT,
      bytes,
      options.fin ?? false,
      options.compress,
    );
  }

  /** @internal */
  private sendChecked(opcode: number, data: string | Buffer, fin: boolean, compress: boolean | undefined): number {
    const transport = this._transport;
    if (transport !== null) {
      if (this._state !== 'open') return -1;
      const sent = transport.send(opcode, data, fin, compress);
      // The write limit (policy 'close') started the closing handshake.
      if (sent < 0 && !transport.open) this._state = 'closing';
      if (this._rare.onDrain !== null && this._rare.drainWatch === null) this.armDrain();
      return sent;
    }
    if (this._state !== 'connecting' || this.role !== 'client') return -1;
    // Before the handshake: checked by the same rules now, sent once the connection opens.
    const rare = this.own();
    (rare.early ??= new OutgoingMessages()).next(opcode, data, fin);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    (rare.pending ??= []).push({ opcode, data: bytes, fin });
    return bytes.length;
  }

  /** @internal The connection opened: sends queued before the handshake go out, in order. */
  protected sendQueued(): void {
    const pending = this._rare.pending;
    if (pending === null) return;
    this._rare.pending = null;
    this._rare.early = null;
    for (const { opcode, data, fin } of pending) this._transport!.send(opcode, data, fin);
  }

  /** Sends a ping with an optional payload of at most 125 bytes (`nopoll_conn_send_ping`). @returns false when not open. */
  ping(payload: string | Uint8Array = EMPTY): boolean {
    // toBuffer throws TypeError for a number or any non-byte array (ws sent uninitialised memory for ping(number)).
    const data = typeof payload === 'string' ? Buffer.from(payload) : toBuffer(payload);
    return this._transport !== null && this._state === 'open' && this._transport.ping(data);
  }

  /** Sends an unsolicited pong (`nopoll_conn_send_pong`). @returns false when not open. */
  pong(payload: string | Uint8Array = EMPTY): boolean {
    const data = typeof payload === 'string' ? Buffer.from(payload) : toBuffer(payload);
    return this._transport !== null && this._state === 'open' && this._transport.pong(data);
  }

  /**
   * Bytes written but not yet handed to the kernel (`nopoll_conn_pending_write_bytes`), plus the payload bytes of
   * messages still waiting for compression.
   */
  get pendingWriteBytes(): number {
    return this._transport?.pendingBytes ?? 0;
  }

  /**
   * Bytes handed to the operating system since the previous call (or since the handshake), frame headers included
   * (`nopoll_conn_complete_pending_write`). Node writes what is pending by itself as the socket drains, so this
   * does not write: it reports the progress, which noPoll's call made. 0 when nothing left since the last call.
   */
  completePendingWrite(): number {
    const transport = this._transport;
    if (transport === null) return 0;
    const flushed = transport.flushedBytes;
    const progress = flushed - this._rare.flushedMark;
    if (progress > 0) this.own().flushedMark = flushed;
    return progress > 0 ? progress : 0;
  }

  /** The write limit in bytes (`maxPendingWriteBytes`) and what a send past it does (`writeLimitPolicy`). */
  get writeLimit(): { maxPendingWriteBytes: number; policy: 'refuse' | 'close' } {
    const transport = this._transport;
    if (transport === null) return { maxPendingWriteBytes: DEFAULT_MAX_PENDING_WRITE_BYTES, policy: 'close' };
    return { maxPendingWriteBytes: transport.writeLimit, policy: transport.refusesOverLimit ? 'refuse' : 'close' };
  }

  /**
   * A `Writable` that sends one message as fragments (text unless `binary`), with backpressure from the socket. See
   * {@link MessageWriter}.
   */
  sendStream(options?: MessageWriterOptions): MessageWriter {
    return new MessageWriter(this as unknown as Conn, options);
  }

  // ---- backpressure signal (docs/client.md) ----

  /**
   * True when the bytes not sent yet ({@link pendingWriteBytes}, compression queue included) are at or past the
   * stream's high-water mark (`writableHighWaterMark`, 16 KiB by default in Node 20): what a `false` from Node's
   * `writable.write()` says. Check it after a send (its return value is unchanged); then {@link onDrain} or
   * `await conn.drained()` tells when the queue has emptied. False before the handshake and after the end.
   */
  get needsDrain(): boolean {
    const transport = this._transport;
    const stream = this._stream;
    if (transport === null || stream === null || this._state === 'closed') return false;
    return transport.pendingBytes >= stream.writableHighWaterMark;
  }

  /**
   * Called once the queue has emptied after a send left {@link needsDrain} true (compression included). A throw
   * is reported to `onError`.
   */
  get onDrain(): ((conn: Conn) => void) | null {
    return this._rare.onDrain;
  }
  set onDrain(handler: ((conn: Conn) => void) | null) {
    if (handler === null && this._rare === NO_RARE) return;
    this.own().onDrain = handler;
  }

  /**
   * Resolves at once when {@link needsDrain} is false, else once the queue has emptied. Rejects with
   * ConnectionClosedError when the connection ends first, TimeoutError (phase `'drain'`) or AbortError.
   */
  drained(options: WaitOptions = {}): Promise<void> {
    if (this._state === 'closed') return Promise.reject(this.endError());
    if (!this.needsDrain) return Promise.resolve();
    const transport = this._transport!;
    return wait(options, 'drain', (resolve, reject) =>
      untilEmpty(transport, (error) => (error ? reject(error) : resolve())),
    );
  }

  // A send left the queue past the mark while onDrain is set: call it once the queue has emptied.
  /** @internal */
  private armDrain(): void {
    if (!this.needsDrain) return;
    const rare = this.own();
    rare.drainWatch = untilEmpty(this._transport!, (error) => {
      rare.drainWatch = null;
      const handler = rare.onDrain;
      if (error !== undefined || handler === null) return;
      try {
        handler(this as unknown as Conn);
      } catch (failure) {
        this.ctx.handlerError(failure, this as unknown as Conn);
      }
    });
  }

  /** @internal Why a wait on this connection failed: it ended (with its failure as the cause). */
  protected abstract endError(): Error;

  /** Resolves once every byte queued before the call reached the kernel (`nopoll_conn_flush_writes`, without sleeping). */
  flushWrites(options: WaitOptions = {}): Promise<void> {
    const transport = this._transport;
    if (transport === null || transport.pendingBytes === 0) return Promise.resolve();
    return wait(options, 'flush', (resolve, reject) =>
      transport.whenFlushed((error) => (error ? reject(error) : resolve())),
    );
  }
}

/** @internal A Buffer view of bytes the caller gave. */
export function toBuffer(data: Uint8Array): Buffer {
  if (!(data instanceof Uint8Array)) throw new TypeError('binary data must be a Buffer or Uint8Array');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}
