/**
 * `require('nopoll/ws')`: as `require('ws')`, the module is the `WebSocket` class, which also carries
 * `WebSocketServer`, `Server`, `WebSocket` and `createWebSocketStream`; the types are reachable as
 * `WebSocket.RawData`, `WebSocket.ServerOptions`... (or by name with `import { RawData } from 'nopoll/ws'`).
 * @packageDocumentation
 */
import api = require('./index.js');

const WebSocket = api.WebSocket;
type WebSocket = api.WebSocket;
namespace WebSocket {
  export type WebSocketServer = api.WebSocketServer;
  export type Server = api.WebSocketServer;
  export type RawData = api.RawData;
  export type Data = api.Data;
  export type CertMeta = api.CertMeta;
  export type BinaryType = api.BinaryType;
  export type SendOptions = api.SendOptions;
  export type SendCallback = api.SendCallback;
  export type ClientOptions = api.ClientOptions;
  export type ServerOptions = api.ServerOptions;
  export type PerMessageDeflateOptions = api.PerMessageDeflateOptions;
  export type NopollOptions = api.NopollOptions;
  export type VerifyClientInfo = api.VerifyClientInfo;
  export type VerifyClientCallbackSync = api.VerifyClientCallbackSync;
  export type VerifyClientCallbackAsync = api.VerifyClientCallbackAsync;
  export type FinishRequestCallback = api.FinishRequestCallback;
  export type Event = api.Event;
  export type MessageEvent = api.MessageEvent;
  export type CloseEvent = api.CloseEvent;
  export type ErrorEvent = api.ErrorEvent;
  export type WebSocketEventMap = api.WebSocketEventMap;
  export type EventListenerOptions = api.EventListenerOptions;
  export type AddressInfo = api.AddressInfo;
  export type WsError = api.WsError;
}
export = WebSocket;
