/**
 * The data of `nopoll/ws`'s sockets. What is sent, as bytes: `ws` accepts strings, Buffers, typed arrays,
 * ArrayBuffers, arrays and objects `Buffer.from` takes, and Blobs, which are read asynchronously (sends made
 * meanwhile wait behind them so that messages keep their order); close reasons. What is delivered: binary messages
 * per `binaryType`.
 * @packageDocumentation
 */
import { isValidUtf8 } from '../protocol/utf8.js';
import type { RawData } from './options.js';

/** How binary messages are delivered: one Buffer (default), an ArrayBuffer, a Blob, or an array of Buffers. */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';

/** The bytes of `data`, without copying when it already is binary; `Buffer.from` for anything else (`TypeError`). */
export function toBytes(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer))
    return Buffer.from(data);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return (Buffer.from as (value: unknown) => Buffer)(data);
}

function sizeOf(data: unknown): number {
  if (data === null || data === undefined) return 0;
  if (data instanceof Blob) return data.size;
  if (typeof data === 'string') return Buffer.byteLength(data);
  return (data as { byteLength?: number; length?: number }).byteLength ?? (data as { length?: number }).length ?? 0;
}

interface Pending {
  data: unknown;
  run: (data: unknown) => void;
}

/** Sends (and a close) waiting behind a Blob, run in order once it has been read. */
export class SendQueue {
  readonly #items: Pending[] = [];
  readonly #onEmpty: () => void;
  readonly #onError: (error: Error) => void;
  #reading = false;
  /** Bytes waiting, for `bufferedAmount`. */
  bytes = 0;

  /** `onEmpty` runs once everything has gone; `onError` receives what a send threw once it was its turn. */
  constructor(onEmpty: () => void, onError: (error: Error) => void) {
    this.#onEmpty = onEmpty;
    this.#onError = onError;
  }

  /** Queues `run(data)`; a Blob is read first and `run` gets its bytes. */
  push(data: unknown, run: (data: unknown) => void): void {
    this.#items.push({ data, run });
    this.bytes += sizeOf(data);
    if (!this.#reading) this.#drain();
  }

  #drain(): void {
    const items = this.#items;
    while (items.length > 0) {
      const item = items[0]!;
      if (item.data instanceof Blob) {
        this.#reading = true;
        item.data.arrayBuffer().then(
          (buffer) => this.#done(item, Buffer.from(buffer)),
          () => this.#done(item, undefined),
        );
        return;
      }
      this.#done(item, item.data, false);
    }
    this.#onEmpty();
  }

  #done(item: Pending, data: unknown, resume = true): void {
    this.#items.shift();
    this.bytes -= sizeOf(item.data);
    this.#reading = false;
    try {
      // A Blob that could not be read is dropped.
      if (data !== undefined || !(item.data instanceof Blob)) item.run(data);
    } catch (error) {
      this.#onError(error as Error);
    }
    if (resume) this.#drain();
  }
}

/** A binary message's payload as `binaryType` asks. */
export function binaryData(payload: Buffer, type: BinaryType): RawData | Blob {
  if (type === 'fragments') return [payload]; // nopoll assembles messages: one fragment
  if (type === 'blob') return new Blob([payload]);
  if (payload.byteOffset === 0 && payload.length === payload.buffer.byteLength) return payload.buffer as ArrayBuffer;
  return payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.length) as ArrayBuffer;
}

/** A close reason: text, or bytes that must be UTF-8 (RFC 6455 §5.5.1), at most 123 bytes (§5.5). ws's errors. */
export function closeReason(reason: unknown): string {
  const bytes = typeof reason === 'string' ? Buffer.byteLength(reason) : (reason as { length: number }).length;
  if (bytes > 123) throw new RangeError('The message must not be greater than 123 bytes');
  if (typeof reason === 'string') return reason;
  if (!(reason instanceof Uint8Array)) throw new TypeError('Second argument must be a string or a Uint8Array');
  if (!isValidUtf8(reason)) throw new TypeError('The close reason must be valid UTF-8');
  return Buffer.from(reason.buffer, reason.byteOffset, reason.length).toString('utf8');
}
