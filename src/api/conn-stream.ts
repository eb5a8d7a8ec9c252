/**
 * A Node `Duplex` stream over a WebSocket connection: each chunk written is sent as one message, and the payloads
 * of the messages received are read, as bytes or (in message mode) one payload per read. Backpressure holds both
 * ways: writes wait while the socket's buffer is above the writable high-water mark, and the socket stops being
 * read while the readable side is full, so TCP flow control slows the peer down.
 * @packageDocumentation
 */
import { Duplex } from 'node:stream';
import type { Conn } from './conn.js';
import type { OnMessageHandler } from './handlers.js';
import { settleSend } from './message-stream.js';

/** How the stream maps onto messages. */
export interface ConnStreamOptions {
  /** Type of the messages written: `'binary'` (default) or `'text'` (chunks must then be valid UTF-8). */
  writeAs?: 'binary' | 'text';
  /**
   * Reads give one message payload (a Buffer) each, instead of a byte stream in which message boundaries (and
   * empty messages) disappear. Default false.
   */
  messageMode?: boolean;
  /** Readable side's high-water mark: bytes, or payloads in message mode (Node's defaults otherwise). */
  readableHighWaterMark?: number;
  /** Writable side's high-water mark in bytes; also the socket buffer level above which writes wait. */
  writableHighWaterMark?: number;
}

/**
 * The stream. It takes over the connection's message delivery (it sets `conn.onMessage`, after reading what was
 * already queued). Ending the writable side starts the closing handshake (1000); the readable side ends when the
 * connection has closed, or the stream is destroyed with the error that failed the connection. Destroying the
 * stream closes the connection (1000; 1011 with an error other than the AbortError of a `for await` left early).
 */
export class ConnStream extends Duplex {
  /** The connection. */
  readonly conn: Conn;
  readonly #text: boolean;
  readonly #handler: OnMessageHandler;
  #paused = false;

  constructor(conn: Conn, options: ConnStreamOptions = {}) {
    const writeAs = options.writeAs ?? 'binary';
    if (writeAs !== 'binary' && writeAs !== 'text')
      throw new TypeError(`writeAs must be 'binary' or 'text', got ${String(writeAs)}`);
    super({
      allowHalfOpen: false,
      readableObjectMode: options.messageMode === true,
      decodeStrings: false,
      ...(options.readableHighWaterMark !== undefined ? { readableHighWaterMark: options.readableHighWaterMark } : {}),
      ...(options.writableHighWaterMark !== undefined ? { writableHighWaterMark: options.writableHighWaterMark } : {}),
    });
    this.conn = conn;
    this.#text = writeAs === 'text';
    this.#handler = (_conn, msg) => this.#deliver(msg.payload);
    conn.onMessage = this.#handler;
    for (let msg = conn.getMsg(); msg !== null; msg = conn.getMsg()) this.#deliver(msg.payload);
    void conn.closed.then((info) => {
      if (this.destroyed) return;
      if (info.error !== undefined && !info.wasClean) this.destroy(info.error);
      else this.push(null);
    });
  }

  #deliver(payload: Buffer): void {
    if (this.destroyed) return;
    if (!this.push(payload) && !this.#paused) {
      // The readable side is full: stop reading the socket until _read asks for more.
      this.#paused = true;
      this.conn.pause();
    }
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.conn.resume();
  }

  /** @internal */
  override _read(): void {
    this.#resume();
  }

  /** @internal */
  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const conn = this.conn;
    if (conn.state === 'connecting') {
      conn.waitUntilReady().then(() => this._write(chunk, encoding, callback), callback);
      return;
    }
    let sent: number;
    try {
      if (this.#text) sent = conn.sendText(chunk);
      else sent = conn.sendBinary(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    settleSend(
      conn,
      sent,
      chunk.length,
      this.writableHighWaterMark,
      () => this._write(chunk, encoding, callback),
      callback,
    );
  }

  /** @internal */
  override _final(callback: (error?: Error | null) => void): void {
    const conn = this.conn;
    if (conn.state === 'connecting') {
      conn.waitUntilReady().then(
        () => this._final(callback),
        () => callback(),
      );
      return;
    }
    if (conn.state === 'open') void conn.close(1000);
    callback();
  }

  /** @internal */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const conn = this.conn;
    if (conn.onMessage === this.#handler) conn.onMessage = null;
    this.#resume();
    // Leaving a `for await` loop early destroys the stream with an AbortError: a normal end, not a failure.
    const failed = error !== null && error.name !== 'AbortError';
    if (conn.state === 'open' || conn.state === 'connecting') void conn.close(failed ? 1011 : 1000);
    callback(error);
  }
}

/** A {@link ConnStream} over `conn` (like `ws`'s `createWebSocketStream`). */
export function createConnStream(conn: Conn, options?: ConnStreamOptions): ConnStream {
  return new ConnStream(conn, options);
}
