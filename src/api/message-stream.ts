/**
 * Messages as Node streams, one message at a time. Receiving: a {@link MessageStream} is a `Readable` of one
 * message's payload, readable before the message is complete, whose backpressure stops the socket. Sending: a
 * {@link MessageWriter} is a `Writable` that sends one message as fragments (RFC 6455 §5.4), waiting for the
 * socket to drain.
 * @packageDocumentation
 */
import { Readable, Writable } from 'node:stream';
import { ConnectionClosedError } from '../errors.js';
import { Opcode } from '../protocol/constants.js';
import type { InputFlow } from './conn-read.js';
import type { Conn, SendOptions } from './conn.js';

/**
 * What a Writable over a connection does with a send's result: fail when the connection no longer sends, `retry`
 * once the socket drained when the write limit refused it (policy 'refuse'), otherwise call back — after a drain
 * when the socket holds more than `highWaterMark`, so backpressure reaches the writer.
 * @returns true when the data was sent.
 */
export function settleSend(
  conn: Conn,
  sent: number,
  length: number,
  highWaterMark: number,
  retry: () => void,
  callback: (error?: Error | null) => void,
): boolean {
  if (sent < 0) {
    callback(
      new ConnectionClosedError('the connection no longer sends', conn.closeStatus || 1006, conn.closeReason ?? ''),
    );
    return false;
  }
  if (sent === 0 && length > 0) {
    conn.flushWrites().then(retry, callback);
    return false;
  }
  if (conn.pendingWriteBytes > highWaterMark) conn.flushWrites().then(() => callback(), callback);
  else callback();
  return true;
}

const ignoreError = (): void => undefined;

/** Default high-water mark of a {@link MessageStream}, in bytes. */
export const MESSAGE_STREAM_HIGH_WATER = 64 * 1024;

/**
 * One incoming message as a `Readable` of Buffer chunks (and so an async iterable of them). Chunks are views of
 * the received data, as they arrived: a text message's chunk may end inside a UTF-8 character, so decode with
 * `setEncoding('utf8')` or a `TextDecoder` in stream mode. While more than the high-water mark is buffered the
 * connection stops reading its socket. The stream ends when the message is complete; it is destroyed with the error
 * when the connection fails or closes first. Destroying it early discards the rest of the message (the connection
 * goes on with the next one).
 */
export class MessageStream extends Readable {
  /** TEXT or BINARY. */
  readonly opcode: number;
  readonly #flow: InputFlow;
  #paused = false;
  #received = 0;
  #complete = false;
  readonly #listenerFailed: ((error: unknown) => void) | null;

  /**
   * @internal Made by the connection. `listenerFailed` receives what a listener of this stream throws ('data',
   * 'end'...), which would otherwise escape from the socket's event or a later tick and end the process.
   */
  constructor(
    opcode: number,
    flow: InputFlow,
    highWaterMark = MESSAGE_STREAM_HIGH_WATER,
    listenerFailed: ((error: unknown) => void) | null = null,
  ) {
    super({ highWaterMark });
    this.opcode = opcode;
    this.#flow = flow;
    this.#listenerFailed = listenerFailed;
    // The connection ending mid-message destroys the stream with that error (also in `closeInfo.error`): a
    // consumer that only reads must not crash the process with an unhandled 'error' event.
    this.on('error', ignoreError);
  }

  /** @internal A listener that throws is the consumer's failure, reported to the connection (onError, 1011). */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (this.#listenerFailed === null) return super.emit(event, ...args);
    try {
      return super.emit(event, ...args);
    } catch (error) {
      this.#listenerFailed(error);
      return true;
    }
  }

  /** True for a text message. */
  get isText(): boolean {
    return this.opcode === Opcode.TEXT;
  }

  /** True for a binary message. */
  get isBinary(): boolean {
    return this.opcode === Opcode.BINARY;
  }

  /** Payload bytes received so far (read or not). */
  get bytesReceived(): number {
    return this.#received;
  }

  /** True once the whole message has arrived. */
  get complete(): boolean {
    return this.#complete;
  }

  /** @internal More bytes of the message. */
  deliver(data: Buffer): void {
    this.#received += data.length;
    if (this.destroyed || data.length === 0) return;
    if (!this.push(data) && !this.#paused) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  /** @internal The message is complete, or (with an error) will never be. */
  finish(error?: Error): void {
    if (error === undefined) this.#complete = true;
    if (this.destroyed) return;
    if (error !== undefined) this.destroy(error);
    else this.push(null);
  }

  /** @internal */
  override _read(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#flow.resume();
  }

  /** @internal */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this._read();
    callback(error);
  }
}

/** Options of {@link MessageWriter}. */
export interface MessageWriterOptions extends SendOptions {
  /** Send a binary message (default: text, whose chunks must together be valid UTF-8). */
  binary?: boolean;
  /** Bytes the socket may hold before a write waits for it to drain (default 64 KiB). */
  highWaterMark?: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * Sends one message as a `Writable`: each chunk written goes out as one frame, the first with TEXT or BINARY, the
 * later ones CONTINUATION, and `end()` sends the last frame with FIN (an empty one). A write completes once the
 * socket holds at most the high-water mark, so `write()` returns false and `'drain'` follows as the peer reads:
 * memory stays bounded whatever the message size. Sends refused by the write limit (policy `'refuse'`) wait for
 * the socket to drain and are retried. While the message is open nothing else may be sent on the connection
 * (`sendText` would end it); destroying the writer before `end()` closes the connection with 1011, since a
 * message cannot be abandoned halfway.
 */
export class MessageWriter extends Writable {
  /** The connection. */
  readonly conn: Conn;
  readonly #binary: boolean;
  readonly #compress: boolean | undefined;
  #started = false;
  #ended = false;

  constructor(conn: Conn, options: MessageWriterOptions = {}) {
    super({ highWaterMark: options.highWaterMark ?? 64 * 1024, decodeStrings: true });
    this.conn = conn;
    this.#binary = options.binary === true;
    this.#compress = options.compress;
  }

  /** @internal */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk, false, callback);
  }

  /** @internal */
  override _final(callback: (error?: Error | null) => void): void {
    this.#send(EMPTY, true, callback);
  }

  #send(data: Buffer, fin: boolean, callback: (error?: Error | null) => void): void {
    const conn = this.conn;
    if (conn.state === 'connecting') {
      conn.waitUntilReady().then(() => this.#send(data, fin, callback), callback);
      return;
    }
    let sent: number;
    try {
      const options: { binary: boolean; fin: boolean; compress?: boolean } = { binary: this.#binary, fin };
      if (this.#compress !== undefined) options.compress = this.#compress;
      sent = conn.sendFragment(data, options);
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (
      !settleSend(conn, sent, data.length, this.writableHighWaterMark, () => this.#send(data, fin, callback), callback)
    )
      return;
    this.#started = true;
    if (fin) this.#ended = true;
  }

  /** @internal */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const conn = this.conn;
    if (this.#started && !this.#ended && (conn.state === 'open' || conn.state === 'connecting')) void conn.close(1011);
    callback(error);
  }
}
