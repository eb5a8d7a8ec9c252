/**
 * nopoll: a WebSocket toolkit for Node.js, a TypeScript port of noPoll that follows RFC 6455 to the letter.
 * @packageDocumentation
 */
export { Context, type ContextOptions, type LoopWaitResult } from './api/context.js';
export { Listener, type ListenOptions } from './api/listener.js';
export { Conn, type CloseInfo, type ConnRole, type ConnState, type HandshakeInfo, type WaitOptions } from './api/conn.js';
export { connect, type ConnectTarget } from './api/connect.js';
export { ConnOpts, type ConnOptsInit, type ConnOptsLike } from './api/conn-opts.js';
export { Msg } from './api/msg.js';
export type {
  Decision,
  LogHandler,
  LogLevel,
  OnAcceptHandler,
  OnCloseHandler,
  OnErrorHandler,
  OnMessageHandler,
  OnOpenHandler,
  OnReadyHandler,
} from './api/handlers.js';
export * from './errors.js';
export { CloseCode, Opcode, WEBSOCKET_GUID, WEBSOCKET_VERSION } from './protocol/constants.js';
export { isValidCloseCode } from './protocol/close.js';
export { applyMask } from './protocol/mask.js';
export { acceptKeyFor } from './protocol/handshake/accept-key.js';
export { HeaderList } from './protocol/handshake/headers.js';
export { DEFAULT_LIMITS, type Limits } from './protocol/limits.js';
