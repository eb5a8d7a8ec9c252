/**
 * The `EventTarget` side of `nopoll/ws`'s `WebSocket`, as `ws` 8 offers it: `addEventListener` /
 * `removeEventListener` and the `onopen` / `onmessage` / `onerror` / `onclose` attributes, for the four WHATWG
 * events only, delivered as small event objects built from the `EventEmitter` events.
 * @packageDocumentation
 */
import type { EventEmitter } from 'node:events';
import type { Data } from './options.js';
import type { WebSocket } from './websocket.js';

/** An event delivered through `addEventListener` or an `on...` attribute. */
export class Event {
  /** `'open'`, `'message'`, `'error'` or `'close'`. */
  readonly type: string;
  /** The socket the event is about. */
  readonly target: WebSocket;
  constructor(type: string, target: WebSocket) {
    this.type = type;
    this.target = target;
  }
}

/** A message: `data` is a string for text, and for binary what `binaryType` asks (a Buffer by default). */
export class MessageEvent extends Event {
  readonly data: Data;
  constructor(target: WebSocket, data: Data) {
    super('message', target);
    this.data = data;
  }
}

/** The end of the connection. */
export class CloseEvent extends Event {
  /** The peer's close code; 1005 when its close frame had none, 1006 when there was no close frame. */
  readonly code: number;
  readonly reason: string;
  /** Close frames went both ways. */
  readonly wasClean: boolean;
  constructor(target: WebSocket, code: number, reason: string, wasClean: boolean) {
    super('close', target);
    this.code = code;
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

/** A failure; `close` follows. */
export class ErrorEvent extends Event {
  readonly error: Error;
  readonly message: string;
  constructor(target: WebSocket, error: Error) {
    super('error', target);
    this.error = error;
    this.message = error.message;
  }
}

/** The event object of each event type. */
export interface WebSocketEventMap {
  open: Event;
  error: ErrorEvent;
  close: CloseEvent;
  message: MessageEvent;
}

/** A listener: a function called with the socket as `this`, or an object with `handleEvent`. */
export type EventListenerLike<E> = ((this: WebSocket, event: E) => void) | { handleEvent(event: E): void };

/** Options of `addEventListener`. */
export interface EventListenerOptions {
  /** Remove the listener after its first call. */
  once?: boolean | undefined;
}

type Emitted = Parameters<EventEmitter['on']>[1];
type Listener = EventListenerLike<never>;
// Each EventEmitter listener added here remembers the user's listener and whether it is an `on...` attribute.
// (Not in a property named `listener`: EventEmitter's listeners() would take that for a once() wrapper's.)
interface Wrapper extends Emitted {
  handler: Listener;
  attribute: boolean;
}

// Whether the closing handshake completed, recorded by the socket before it emits 'close'.
const cleanClose = new WeakMap<object, boolean>();

/** @internal The socket records how it closed, for `CloseEvent.wasClean`. */
export function recordClean(ws: object, wasClean: boolean): void {
  cleanClose.set(ws, wasClean);
}

function call(listener: Listener, target: WebSocket, event: Event): void {
  if (typeof listener === 'function') (listener as (this: WebSocket, event: Event) => void).call(target, event);
  else (listener as { handleEvent(event: Event): void }).handleEvent(event);
}

function wrap(type: string, listener: Listener, attribute: boolean): Wrapper | null {
  let wrapper: Emitted;
  switch (type) {
    case 'message':
      wrapper = function (this: WebSocket, data: Data, isBinary: boolean) {
        call(listener, this, new MessageEvent(this, isBinary ? data : String(data)));
      } as Emitted;
      break;
    case 'close':
      wrapper = function (this: WebSocket, code: number, reason: Buffer) {
        call(listener, this, new CloseEvent(this, code, reason.toString(), cleanClose.get(this) ?? false));
      } as Emitted;
      break;
    case 'error':
      wrapper = function (this: WebSocket, error: Error) {
        call(listener, this, new ErrorEvent(this, error));
      } as Emitted;
      break;
    case 'open':
      wrapper = function (this: WebSocket) {
        call(listener, this, new Event('open', this));
      } as Emitted;
      break;
    default:
      return null; // `ws` ignores other types
  }
  return Object.assign(wrapper, { handler: listener, attribute });
}

function wrappers(emitter: EventEmitter, type: string): Wrapper[] {
  return emitter.listeners(type).filter((l): l is Wrapper => typeof (l as Partial<Wrapper>).attribute === 'boolean');
}

/** `addEventListener`: adding the same listener twice does nothing; unknown types are ignored. */
export function addListener(
  ws: EventEmitter,
  type: string,
  listener: Listener,
  options: EventListenerOptions,
  attribute = false,
): void {
  if (!attribute && wrappers(ws, type).some((w) => w.handler === listener && !w.attribute)) return;
  const wrapper = wrap(type, listener, attribute);
  if (wrapper === null) return;
  if (options.once === true) ws.once(type, wrapper);
  else ws.on(type, wrapper);
}

/** `removeEventListener`: removes a listener added with `addEventListener` (never an `on...` attribute). */
export function removeListener(ws: EventEmitter, type: string, listener: Listener): void {
  const found = wrappers(ws, type).find((w) => w.handler === listener && !w.attribute);
  if (found !== undefined) ws.removeListener(type, found);
}

/** The listener set through the `on<type>` attribute, or null. */
export function getAttribute(ws: EventEmitter, type: string): Listener | null {
  return wrappers(ws, type).find((w) => w.attribute)?.handler ?? null;
}

/** Sets (or with a non-function, clears) the `on<type>` attribute. */
export function setAttribute(ws: EventEmitter, type: string, listener: unknown): void {
  const old = wrappers(ws, type).find((w) => w.attribute);
  if (old !== undefined) ws.removeListener(type, old);
  if (typeof listener === 'function') addListener(ws, type, listener as Listener, {}, true);
}
