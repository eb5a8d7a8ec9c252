/**
 * `nopoll/ws`: the public API of the `ws` package (version 8, as its doc/ws.md documents it) over nopoll's own
 * connections. Moving from `ws` is a one-line change of the import; see docs/ws-migration.md for what differs and
 * how to reach nopoll's extras (`websocket.conn`, `server.listener`, `server.context`, the `nopoll` option).
 * @packageDocumentation
 */
import { WebSocketServer } from './server.js';
import { createWebSocketStream } from './stream.js';
import { WebSocket } from './websocket.js';

// As in ws, the default export carries the other names (`require('ws').Server`, `WebSocket.WebSocketServer`...).
Object.assign(WebSocket, { WebSocket, WebSocketServer, Server: WebSocketServer, createWebSocketStream });

export { WebSocket, WebSocketServer, WebSocketServer as Server, createWebSocketStream };
export default WebSocket;
export type { BinaryType, SendCallback, SendOptions } from './websocket.js';
export type {
  CloseEvent,
  ErrorEvent,
  Event,
  EventListenerLike,
  EventListenerOptions,
  MessageEvent,
  WebSocketEventMap,
} from './events.js';
export type {
  CertMeta,
  ClientOptions,
  Data,
  FinishRequestCallback,
  NopollOptions,
  PerMessageDeflateOptions,
  RawData,
  ServerOptions,
  VerifyClientCallbackAsync,
  VerifyClientCallbackSync,
  VerifyClientInfo,
} from './options.js';
export type { WsError } from './errors.js';
/** The address of a server bound to an IP socket (`server.address()`). */
export type { AddressInfo } from 'node:net';
