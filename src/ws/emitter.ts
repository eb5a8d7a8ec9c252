/**
 * What `nopoll/ws`'s `WebSocket` adds to `EventEmitter` before any socket logic: `ws`'s `EventTarget` emulation
 * (`addEventListener`, `removeEventListener`, the `on...` attributes, see events.ts) and the typed signatures of its
 * `EventEmitter` events (as `@types/ws` types them).
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import type { ClientRequest, IncomingMessage } from 'node:http';
import {
  addListener,
  getAttribute,
  removeListener,
  setAttribute,
  type EventListenerLike,
  type EventListenerOptions,
  type WebSocketEventMap,
} from './events.js';
import type { RawData } from './options.js';
import type { WebSocket } from './websocket.js';

type EmitterListener = Parameters<EventEmitter['on']>[1];
type Attribute<K extends keyof WebSocketEventMap> = ((this: WebSocket, event: WebSocketEventMap[K]) => void) | null;

/** The base of {@link WebSocket}: its event interfaces. */
export class WebSocketEmitter extends EventEmitter {
  /** Adds a listener for `'open'`, `'message'`, `'error'` or `'close'`, called with an event object. */
  addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: EventListenerLike<WebSocketEventMap[K]>,
    options: EventListenerOptions = {},
  ): void {
    addListener(this, type, listener as EventListenerLike<never>, options);
  }

  /** Removes a listener added with {@link addEventListener} (never an `on...` attribute). */
  removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: EventListenerLike<WebSocketEventMap[K]>,
  ): void {
    removeListener(this, type, listener as EventListenerLike<never>);
  }

  /** The `open` listener attribute (one at a time; `null` removes it). */
  get onopen(): Attribute<'open'> {
    return getAttribute(this, 'open') as Attribute<'open'>;
  }
  set onopen(listener: Attribute<'open'>) {
    setAttribute(this, 'open', listener);
  }
  /** The `message` listener attribute: a `MessageEvent` whose `data` is a string for text. */
  get onmessage(): Attribute<'message'> {
    return getAttribute(this, 'message') as Attribute<'message'>;
  }
  set onmessage(listener: Attribute<'message'>) {
    setAttribute(this, 'message', listener);
  }
  /** The `error` listener attribute: an `ErrorEvent`. */
  get onerror(): Attribute<'error'> {
    return getAttribute(this, 'error') as Attribute<'error'>;
  }
  set onerror(listener: Attribute<'error'>) {
    setAttribute(this, 'error', listener);
  }
  /** The `close` listener attribute: a `CloseEvent`. */
  get onclose(): Attribute<'close'> {
    return getAttribute(this, 'close') as Attribute<'close'>;
  }
  set onclose(listener: Attribute<'close'>) {
    setAttribute(this, 'close', listener);
  }
}

/** The events of `WebSocket`, with their arguments. */
export interface WebSocketEmitter {
  on(event: 'close', listener: (this: WebSocket, code: number, reason: Buffer) => void): this;
  on(event: 'error', listener: (this: WebSocket, error: Error) => void): this;
  on(event: 'upgrade', listener: (this: WebSocket, response: IncomingMessage) => void): this;
  on(event: 'message', listener: (this: WebSocket, data: RawData, isBinary: boolean) => void): this;
  on(event: 'open', listener: (this: WebSocket) => void): this;
  on(event: 'ping' | 'pong', listener: (this: WebSocket, data: Buffer) => void): this;
  on(event: 'redirect', listener: (this: WebSocket, url: string, request: ClientRequest) => void): this;
  on(
    event: 'unexpected-response',
    listener: (this: WebSocket, request: ClientRequest, response: IncomingMessage) => void,
  ): this;
  on(event: string | symbol, listener: EmitterListener): this;
  once(event: 'close', listener: (this: WebSocket, code: number, reason: Buffer) => void): this;
  once(event: 'error', listener: (this: WebSocket, error: Error) => void): this;
  once(event: 'upgrade', listener: (this: WebSocket, response: IncomingMessage) => void): this;
  once(event: 'message', listener: (this: WebSocket, data: RawData, isBinary: boolean) => void): this;
  once(event: 'open', listener: (this: WebSocket) => void): this;
  once(event: 'ping' | 'pong', listener: (this: WebSocket, data: Buffer) => void): this;
  once(event: 'redirect', listener: (this: WebSocket, url: string, request: ClientRequest) => void): this;
  once(
    event: 'unexpected-response',
    listener: (this: WebSocket, request: ClientRequest, response: IncomingMessage) => void,
  ): this;
  once(event: string | symbol, listener: EmitterListener): this;
  off(event: 'close', listener: (this: WebSocket, code: number, reason: Buffer) => void): this;
  off(event: 'error', listener: (this: WebSocket, error: Error) => void): this;
  off(event: 'message', listener: (this: WebSocket, data: RawData, isBinary: boolean) => void): this;
  off(event: string | symbol, listener: EmitterListener): this;
  addListener(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  addListener(event: 'error', listener: (error: Error) => void): this;
  addListener(event: 'message', listener: (data: RawData, isBinary: boolean) => void): this;
  addListener(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  addListener(event: string | symbol, listener: EmitterListener): this;
  removeListener(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  removeListener(event: 'error', listener: (error: Error) => void): this;
  removeListener(event: 'message', listener: (data: RawData, isBinary: boolean) => void): this;
  removeListener(event: string | symbol, listener: EmitterListener): this;
}
