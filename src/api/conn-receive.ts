/**
 * Receiving on a connection: messages go to the connection's or the context's `onMessage`, else wait in an inbox
 * for `getMsg`/`nextMsg`/`for await`; or, streamed, to `onMessageStream` or to the stream view (`read`). Every
 * queue of received data stops the input when it holds enough, so a connection nobody reads slows its peer down
 * through TCP and its memory stays bounded.
 * @packageDocumentation
 */
import { InvalidStateError } from '../errors.js';
import { Opcode } from '../protocol/constants.js';
import { inboundBudget } from '../transport/inbound-budget.js';
import { messageIterator } from './conn-iter.js';
import { ReadBuffer, type InputFlow, type ReadOptions } from './conn-read.js';
import { ConnFlag, NO_RARE, type OnMessageStreamHandler } from './conn-core.js';
import { ConnSending } from './conn-send.js';
import type { Conn } from './conn.js';
import { MessageStream } from './message-stream.js';
import { Msg } from './msg.js';
import { wait, type WaitOptions } from './wait.js';

// Unread-message queue bounds (no handler installed): stop reading at 64 messages or 1 MiB, read again below 16
// messages and 256 KiB.
const INBOX_PAUSE = 64;
const INBOX_PAUSE_BYTES = 1024 * 1024;
const INBOX_RESUME = 16;
const INBOX_RESUME_BYTES = 256 * 1024;
const EMPTY = Buffer.alloc(0);

/** Receiving; see {@link Conn}. */
export abstract class ConnReceiving extends ConnSending {
  /** @internal A handler threw or rejected: reported, and the connection closed with 1011 (RFC 6455 §7.4.1). */
  protected handlerFailed(error: unknown): void {
    this.ctx.handlerError(error, this as unknown as Conn);
    if (this._state === 'open') void this.close(1011);
  }

  /** @internal The shared rejection handler of async handlers. */
  protected get rejected(): (error: unknown) => void {
    return (this.own().rejected ??= (error) => this.handlerFailed(error));
  }

  // ---- TransportEvents ----

  /** @internal A message, or in frame mode one frame. */
  transportMessage(opcode: number, payload: Buffer, fin: boolean): void {
    // Streaming: a compressed message, inflated whole, goes where streamed messages go.
    if ((this._flags & ConnFlag.STREAMING) !== 0) {
      if (payload.length > 0) this.transportStream(opcode, payload, false);
      if (fin) this.transportStream(opcode, EMPTY, true);
      return;
    }
    const msg =
      (this._flags & ConnFlag.FRAMES) !== 0
        ? new Msg(opcode, payload, fin, !fin || opcode === Opcode.CONTINUATION)
        : new Msg(opcode, payload, true, false);
    const handler = this.onMessage ?? this.ctx.onMessage;
    if (handler === null) return this.enqueue(msg);
    try {
      const result = handler(this as unknown as Conn, msg);
      if (result instanceof Promise) result.then(undefined, this.rejected);
    } catch (error) {
      this.handlerFailed(error);
    }
  }

  /** @internal Streaming: bytes of the message being received. */
  transportStream(opcode: number, data: Buffer, end: boolean): void {
    const rare = this._rare;
    if (rare.reader !== null) return rare.reader.push(data);
    let stream = rare.current;
    if (stream === null) {
      const handler = rare.onMessageStream;
      // No consumer (the handler was removed while a message was under way): the rest of it is dropped.
      if (handler === null) return;
      stream = new MessageStream(opcode, this.inputFlow(), undefined, this.rejected);
      rare.current = stream;
      try {
        const result: unknown = handler(this as unknown as Conn, stream);
        // An async consumer's rejection is a handler failure too, never an unhandled rejection.
        if (result instanceof Promise) result.then(undefined, this.rejected);
      } catch (error) {
        this.handlerFailed(error);
      }
    }
    if (data.length > 0) stream.deliver(data);
    if (end) {
      rare.current = null;
      stream.finish();
    }
  }

  /** @internal */
  transportPing(payload: Buffer): void {
    if (this.onPing !== null) this.safely(this.onPing, payload);
  }

  /** @internal */
  transportPong(payload: Buffer): void {
    if (this.onPong !== null) this.safely(this.onPong, payload);
  }

  /** @internal */
  private safely(handler: (conn: Conn, payload: Buffer) => void, payload: Buffer): void {
    const conn = this as unknown as Conn;
    try {
      const result: unknown = handler(conn, payload);
      if (result instanceof Promise) result.then(undefined, (error: unknown) => this.ctx.handlerError(error, conn));
    } catch (error) {
      this.ctx.handlerError(error, conn);
    }
  }

  // ---- the inbox ----

  /** @internal */
  private enqueue(msg: Msg): void {
    const inbox = (this._inbox ??= []);
    inbox.push(msg);
    const rare = this.own();
    rare.inboxBytes += msg.size;
    inboundBudget.hold(msg.size);
    // Nobody reads: stop reading the socket rather than buffering without bound.
    if (inbox.length >= INBOX_PAUSE || rare.inboxBytes >= INBOX_PAUSE_BYTES) this._transport?.pauseInput();
    const waiters = rare.inboxWaiters;
    if (waiters !== null && waiters.length > 0) waiters.shift()!.resolve();
  }

  /**
   * Returns the next message that no handler took, or null (`nopoll_conn_get_msg`, never blocking). Messages are
   * queued only when neither the connection nor the context has an `onMessage` handler.
   */
  getMsg(): Msg | null {
    const inbox = this._inbox;
    if (inbox === null) return null;
    const msg = inbox.shift()!;
    if (inbox.length === 0) this._inbox = null;
    const rare = this._rare;
    rare.inboxBytes -= msg.size;
    inboundBudget.give(msg.size);
    if (inbox.length < INBOX_RESUME && rare.inboxBytes < INBOX_RESUME_BYTES && this._transport?.inputPaused)
      this._transport.resumeInput();
    return msg;
  }

  /** @internal The connection ended: queued messages no longer count against the inbound budget. */
  protected releaseInbox(): void {
    if (this._rare !== NO_RARE && this._rare.inboxBytes > 0) {
      inboundBudget.give(this._rare.inboxBytes);
      this._rare.inboxBytes = 0;
    }
  }

  /** Resolves with the next message that no handler took. Rejects with ConnectionClosedError when the connection ends first. */
  nextMsg(options: WaitOptions = {}): Promise<Msg> {
    const queued = this.getMsg();
    if (queued !== null) return Promise.resolve(queued);
    if (this._state === 'closed') return Promise.reject(this.endError());
    return wait<Msg>(options, 'read', (resolve, reject) => {
      const waiter = {
        resolve: (): void => {
          const msg = this.getMsg();
          if (msg !== null) resolve(msg);
          else reject(this.endError());
        },
        reject,
      };
      (this.own().inboxWaiters ??= []).push(waiter);
      return () => {
        const list = this._rare.inboxWaiters;
        if (list) list.splice(list.indexOf(waiter) >>> 0, 1);
      };
    });
  }

  /**
   * The messages no handler took, as an async iterator (`for await (const msg of conn.messages({ signal }))`).
   * It ends once the connection has closed and every queued message was read; it throws when the handshake
   * fails or `signal` aborts. Like {@link nextMsg}, it sees messages only while no `onMessage` handler is set.
   */
  messages(options: { signal?: AbortSignal } = {}): AsyncGenerator<Msg, void, undefined> {
    return messageIterator(this as unknown as Conn, options);
  }

  /** `for await (const msg of conn)`: {@link messages} without a signal. */
  [Symbol.asyncIterator](): AsyncGenerator<Msg, void, undefined> {
    return messageIterator(this as unknown as Conn);
  }

  // ---- stream reads ----

  /**
   * The stream view (`nopoll_conn_read`): up to `n` payload bytes of the data messages received, across frame and
   * message boundaries, including bytes of a frame that has only partly arrived. By default it waits until `n`
   * bytes are there, the connection ends or `timeoutMs` passes, and resolves with what it has then (fewer than `n`,
   * possibly an empty Buffer on a timeout); `{ block: false }` resolves at once with what is there. null means the
   * connection ended and every byte was read. The first call switches the connection to stream reading for good:
   * messages queued for `getMsg()` become bytes to read, and later data goes to the reads only, never to
   * `onMessage`, `getMsg()` or `nextMsg()`.
   * @throws InvalidStateError when an `onMessage` handler (the connection's or the context's) or `onMessageStream`
   * is set: message handlers and stream reads are exclusive, as in noPoll.
   */
  read(n: number, options: ReadOptions = {}): Promise<Buffer | null> {
    return this.streamReader(n).read(n, options);
  }

  /** {@link read} without waiting: up to `n` bytes now, or null when none are there. */
  tryRead(n: number): Buffer | null {
    return this.streamReader(n).take(n);
  }

  /**
   * Bytes received and not read yet (`nopoll_conn_read_pending`): those waiting for {@link read} or, before the
   * first read, the payloads of the messages queued for {@link getMsg}.
   */
  get readPending(): number {
    if (this._rare.reader !== null) return this._rare.reader.bytes;
    return this._rare.inboxBytes;
  }

  /** @internal */
  private streamReader(n: number): ReadBuffer {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`read size must be a positive integer, got ${String(n)}`);
    const existing = this._rare.reader;
    if (existing !== null) return existing;
    if ((this.onMessage ?? this.ctx.onMessage) !== null || this._rare.onMessageStream !== null) {
      throw new InvalidStateError(
        'stream reads and message handlers are exclusive: this connection has a message handler',
      );
    }
    const reader = new ReadBuffer(this.inputFlow());
    const rare = this.own();
    rare.reader = reader;
    const inbox = this._inbox;
    this._inbox = null;
    this.releaseInbox();
    if (inbox !== null) for (const msg of inbox) reader.push(msg.payload);
    this._flags |= ConnFlag.STREAMING;
    this._transport?.setStreaming(true, rare.maxStreamBytes);
    if (this._transport?.inputPaused && reader.bytes < 1024 * 1024) this._transport.resumeInput();
    if (this._state === 'closed') reader.end();
    return reader;
  }

  /**
   * Receives each data message as a {@link MessageStream} (a `Readable`) as soon as its first bytes arrive, with
   * backpressure down to the socket, so a message of any size passes in bounded memory. While it is set, messages
   * are not assembled: `maxFrameSize` and `maxMessageSize` do not apply (`maxStreamBytes` does); set back to null,
   * messages are assembled and delivered as usual again from the next one. Compressed messages are inflated whole
   * first.
   * @throws InvalidStateError once `read()` was used.
   */
  get onMessageStream(): OnMessageStreamHandler | null {
    return this._rare.onMessageStream;
  }
  set onMessageStream(handler: OnMessageStreamHandler | null) {
    if (handler !== null && this._rare.reader !== null)
      throw new InvalidStateError('this connection is in stream-read mode (read() was used)');
    if (handler === null && this._rare === NO_RARE) return;
    const rare = this.own();
    rare.onMessageStream = handler;
    this._flags = handler !== null ? this._flags | ConnFlag.STREAMING : this._flags & ~ConnFlag.STREAMING;
    this._transport?.setStreaming(handler !== null, rare.maxStreamBytes);
  }

  /**
   * Stops reading from the peer (ws's `pause()`): messages stop arriving and TCP slows the peer down. Pings are
   * not answered meanwhile either. Call {@link resume} to read again.
   */
  pause(): void {
    this._transport?.pauseInput();
  }

  /** Reads from the peer again after {@link pause}. */
  resume(): void {
    this._transport?.resumeInput();
  }

  /** True while {@link pause} holds the input. */
  get isPaused(): boolean {
    return this._transport?.inputPaused ?? false;
  }

  /** @internal */
  private inputFlow(): InputFlow {
    return {
      pause: () => this._transport?.pauseInput(),
      resume: () => this._transport?.resumeInput(),
    };
  }
}
