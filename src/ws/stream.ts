/**
 * `createWebSocketStream`: a Node `Duplex` over a `nopoll/ws` `WebSocket`, with `ws` 8's semantics. Each chunk
 * written is sent as one message; each message received is pushed as a chunk (text as a string in object mode).
 * A full readable side pauses the socket. Ending the writable side closes the WebSocket (closing handshake);
 * destroying the stream terminates it; the readable side ends when the WebSocket closes, and a WebSocket error
 * destroys the stream with it.
 * @packageDocumentation
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import type { RawData } from './options.js';
import type { WebSocket } from './websocket.js';

type Callback = (error?: Error | null) => void;

/** A `Duplex` stream over `websocket`; `options` go to the `Duplex` constructor (its object modes are forced off, except `readableObjectMode`). */
export function createWebSocketStream(websocket: WebSocket, options?: DuplexOptions): Duplex {
  let terminateOnDestroy = true;
  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
  });

  websocket.on('message', (data: RawData, isBinary: boolean) => {
    const chunk = !isBinary && duplex.readableObjectMode ? String(data) : data;
    if (!duplex.push(chunk)) websocket.pause();
  });
  websocket.once('error', (error: Error) => {
    if (duplex.destroyed) return;
    // The WebSocket is already closing with the right code: terminating it now could cut that close frame.
    terminateOnDestroy = false;
    duplex.destroy(error);
  });
  websocket.once('close', () => {
    if (!duplex.destroyed) duplex.push(null);
  });

  duplex._destroy = (error: Error | null, callback: Callback): void => {
    if (websocket.readyState === websocket.CLOSED) {
      callback(error);
      process.nextTick(() => duplex.emit('close'));
      return;
    }
    let called = false;
    websocket.once('error', (err: Error) => {
      called = true;
      callback(err);
    });
    websocket.once('close', () => {
      if (!called) callback(error);
      process.nextTick(() => duplex.emit('close'));
    });
    if (terminateOnDestroy) websocket.terminate();
  };

  duplex._final = (callback: Callback): void => {
    if (websocket.readyState === websocket.CONNECTING) {
      websocket.once('open', () => duplex._final(callback));
      return;
    }
    // A client whose handshake failed has no socket: its 'error' destroys the stream.
    const socket = websocket.conn?.socket;
    if (socket == null) return;
    if (socket.writableFinished) {
      callback();
      if (duplex.readableEnded) duplex.destroy();
      return;
    }
    // The readable side ends when the WebSocket closes, after this 'finish'.
    socket.once('finish', () => callback());
    websocket.close();
  };

  duplex._read = (): void => {
    if (websocket.isPaused) websocket.resume();
  };

  duplex._write = (chunk: Buffer | string, encoding: BufferEncoding, callback: Callback): void => {
    if (websocket.readyState === websocket.CONNECTING) {
      websocket.once('open', () => duplex._write(chunk, encoding, callback));
      return;
    }
    websocket.send(chunk, callback);
  };

  duplex.on('end', () => {
    if (!duplex.destroyed && duplex.writableFinished) duplex.destroy();
  });
  // An error destroys the stream. It is not rethrown when nobody else listens (ws rethrows it): a peer's protocol
  // violation must not be able to end the process.
  duplex.on('error', () => duplex.destroy());
  return duplex;
}
