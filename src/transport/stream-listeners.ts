/**
 * How a transport listens to its byte stream. Every listener is one function shared by all connections (they find
 * their transport through a property of the stream), so an idle connection holds no closures of its own, and the
 * stream keeps as few listener records as Node allows: read-buffer.ts hands a plain socket's reads over without a
 * 'data' listener record doing the work, and a net.Socket's own 'end' listener is replaced by one that runs it and
 * then ours (Node stores one listener as a function, two as an array: 64 bytes on every idle connection).
 * @packageDocumentation
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { readIntoSharedBuffer, type SharedRead } from './read-buffer.js';

/** @internal The shared listeners of a transport's stream. */
export interface StreamListeners {
  data(this: Duplex, chunk: Buffer): void;
  /** A read into the shared buffer (plain sockets, read-buffer.ts): used instead of 'data' when it applies. */
  sharedRead: SharedRead;
  error(this: Duplex, error: Error): void;
  close(this: Duplex): void;
  /** The peer ended its side (a half-closed connection: RFC 6455 §7.1.5). */
  end(this: Duplex): void;
}

// net.Socket's own 'end' listener (one function shared by every socket), found on a socket made for the purpose;
// null when this runtime's sockets have none or several.
let socketEnd: ((this: Duplex) => void) | null | undefined;
// For each set of listeners, its 'end' listener run after net.Socket's own.
const endsAfterSocket = new WeakMap<StreamListeners, (this: Duplex) => void>();

/** @internal Attaches `listeners` to `stream` (see the module comment). */
export function listenToStream(stream: Duplex, listeners: StreamListeners): void {
  stream.on('data', listeners.data);
  readIntoSharedBuffer(stream, listeners.sharedRead);
  stream.on('error', listeners.error);
  stream.on('close', listeners.close);
  if (socketEnd === undefined) {
    const own = new Socket().listeners('end');
    socketEnd = own.length === 1 ? (own[0] as (this: Duplex) => void) : null;
  }
  if (socketEnd !== null && stream instanceof Socket) {
    const present = stream.listeners('end');
    if (present.length === 1 && present[0] === socketEnd) {
      let end = endsAfterSocket.get(listeners);
      if (end === undefined) {
        const own = socketEnd;
        const ours = listeners.end;
        // Its work first, then ours: the order the two ran in before.
        end = function (this: Duplex): void {
          own.call(this);
          ours.call(this);
        };
        endsAfterSocket.set(listeners, end);
      }
      stream.removeListener('end', socketEnd);
      stream.on('end', end);
      return;
    }
  }
  stream.on('end', listeners.end);
}
