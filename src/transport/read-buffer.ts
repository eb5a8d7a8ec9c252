/**
 * One read buffer for the whole process. By default Node allocates a fresh 64 KiB buffer for every read of every
 * socket (and shrinks it to the bytes read, a second allocation and a copy): at high rates that is most of the
 * garbage a WebSocket server makes, and the kernel copies into cold memory each time. Node can instead read a
 * socket into a buffer the application owns (`onread`, documented for sockets a program creates itself); this module
 * turns that on for a socket that already exists, such as one a server accepted, so every connection reads into the
 * same 256 KiB buffer, which stays in cache. Reads are handed over synchronously and the buffer is reused by the next
 * read, so the frame parser copies out whatever it keeps (`FrameParser.push` with `transient`); a masked payload is
 * unmasked as it is copied (in the WebAssembly memory the buffer lives in, when there is one: mask-simd.ts).
 *
 * Node offers no public switch for an accepted socket, so this uses the same internals `onread` uses (the socket's
 * handle and its read-callback slots), checks that each is there and of the expected kind, and otherwise leaves the
 * socket alone: TLS sockets, HTTP/2 streams, other runtimes and any Node that changed them read as before.
 * `NOPOLL_READ_BUFFER=0` in the environment turns it off for the process.
 * @packageDocumentation
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { simdReadBuffer } from '../protocol/mask-simd.js';

/** Called with each read: `this` is the socket, the bytes are `buffer[0, bytes)` and valid only during the call. */
export type SharedRead = (this: Duplex, bytes: number, buffer: Buffer) => boolean;

const SIZE = 256 * 1024;

// The socket's slots that `onread` fills (found by their names once, then reused), and the buffer.
interface Slots {
  buffer: symbol;
  callback: symbol;
}
let slots: Slots | null | undefined;
let shared: Buffer | null = null;
let enabled = process.env['NOPOLL_READ_BUFFER'] !== '0';

interface StreamHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
  reading?: boolean;
}

function slotsOf(socket: Socket): Slots | null {
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    if (symbol.description === 'kBuffer') buffer = symbol;
    else if (symbol.description === 'kBufferCb') callback = symbol;
  }
  return buffer !== undefined && callback !== undefined ? { buffer, callback } : null;
}

/**
 * Makes `stream` read into the shared buffer and hand each read to `onRead` instead of emitting 'data', when it is
 * a plain TCP or IPC `net.Socket` whose internals are as expected and nothing is buffered in it. Returns whether it
 * did; otherwise the stream is untouched and keeps emitting 'data'.
 */
export function readIntoSharedBuffer(stream: Duplex, onRead: SharedRead): boolean {
  if (!enabled || Object.getPrototypeOf(stream) !== Socket.prototype) return false;
  const socket = stream as Socket;
  const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function' || socket.readableLength !== 0) return false;
  if (slots === undefined) slots = slotsOf(socket);
  if (slots === null) return false;
  const own = socket as unknown as Record<symbol, unknown>;
  // Both slots exist (null) on every socket of this Node: anything else means internals we do not know.
  if (own[slots.buffer] !== null || own[slots.callback] !== null) return false;
  shared ??= simdReadBuffer() ?? Buffer.allocUnsafe(SIZE);
  own[slots.buffer] = shared;
  own[slots.callback] = onRead;
  handle.useUserBuffer(shared);
  // The stream machinery starts the socket's reads again (read(0), even while paused) whenever it thinks no read
  // is under way, which with a read callback it would think forever after the last 'data' chunk: one read(0)
  // now marks a read as under way for good, so only pause() and resume() start and stop the reads from here on.
  socket.read(0);
  // A socket paused so far only stopped emitting; with the buffer in place a pause has to stop the reads
  // themselves (net.Socket does that once the slot is set), or bytes would be handed over while paused.
  if (socket.isPaused()) socket.pause();
  return true;
}

/**
 * @internal Turns the shared read buffer on or off for sockets handed over from now on (tests compare both paths;
 * `NOPOLL_READ_BUFFER=0` sets the default). Returns the previous setting.
 */
export function setSharedReadBuffer(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}
