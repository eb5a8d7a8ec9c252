/**
 * nopoll: a WebSocket toolkit for Node.js, a TypeScript port of noPoll that follows RFC 6455 to the letter.
 * @packageDocumentation
 */
export { Context, type ContextOptions, type LoopWaitResult } from './api/context.js';
export { Listener } from './api/listener.js';
export type { ListenOptions } from './api/listener-bind.js';
export {
  DEFAULT_HTTP2_MAX_STREAMS,
  DEFAULT_HTTP2_SESSION_WINDOW,
  DEFAULT_HTTP2_STREAM_WINDOW,
  type Http2ListenOptions,
  type Http2Mode,
} from './api/http2-options.js';
export {
  Conn,
  type CloseInfo,
  type ConnRole,
  type ConnState,
  type HandshakeInfo,
  type WaitOptions,
} from './api/conn.js';
export { connect } from './api/conn.js';
export type { ConnectTarget } from './api/client.js';
export { checkProxy, type ProxyOption, type ProxyOptions } from './api/proxy.js';
export type { ProxyEnv } from './transport/proxy-env.js';
export {
  backoffDelay,
  isTransientFailure,
  ReconnectingConn,
  type ReconnectAttempt,
  type ReconnectPolicy,
  type ReconnectState,
  type ReconnectTarget,
} from './api/reconnect.js';
export { ConnOpts, type ConnOptsInit, type ConnOptsLike } from './api/conn-opts.js';
export { Msg } from './api/msg.js';
export {
  SslProtocol,
  type PemSource,
  type PostTlsCheckHandler,
  type TlsContextCreator,
  type TlsContextInfo,
  type TlsOptions,
  type TlsVersion,
} from './api/tls-options.js';
export type { CertificateEntry, CertificateInput } from './api/certificate-store.js';
export type { SendOptions } from './api/conn.js';
export { DEFAULT_DEFLATE_THRESHOLD, type PerMessageDeflateOptions } from './api/deflate-options.js';
export type { DeflateAgreement, DeflateParams } from './protocol/extensions/deflate-params.js';
export { deflateConcurrency, deflateStats, setDeflateConcurrency, trimDeflatePool } from './transport/zlib-codec.js';
export { DEFAULT_INBOUND_BUDGET, inboundBudgetStats, setInboundBudget } from './transport/inbound-budget.js';
export { DEFAULT_MESSAGE_RATE_WINDOW_MS, DEFAULT_MIN_MESSAGE_RATE } from './transport/rate-guard.js';
export {
  sharePort,
  sniff,
  type ProtocolDetector,
  type SharedPort,
  type SharePortOptions,
  type SniffOptions,
  type SniffResult,
} from './api/port-sharing.js';
export { attach, UpgradeRouter, type EndpointTarget, type UpgradeRouterOptions } from './api/attach.js';
export { ConnStream, createConnStream, type ConnStreamOptions } from './api/conn-stream.js';
export { DEFAULT_MAX_PENDING_WRITE_BYTES, type OnMessageStreamHandler } from './api/conn.js';
export { READ_HIGH_WATER, type ReadOptions } from './api/conn-read.js';
export {
  MESSAGE_STREAM_HIGH_WATER,
  MessageStream,
  MessageWriter,
  type MessageWriterOptions,
} from './api/message-stream.js';
export {
  CloseEvent,
  WebSocket,
  type BinaryType,
  type CloseEventInit,
  type WebSocketData,
  type WebSocketEventHandler,
  type WebSocketEventMap,
  type WebSocketInit,
  type WebSocketListener,
  type WebSocketMessageData,
} from './api/websocket.js';
export { classifyFirstBytes, type SniffClass } from './protocol/first-bytes.js';
export {
  PubSub,
  PUBSUB_DEFAULTS,
  type Presence,
  type PublishOptions,
  type PubSubOptions,
  type PubSubStats,
  type Recovery,
  type SlowSubscriberPolicy,
  type SubscribeOptions,
  type SubscriberStats,
} from './api/pubsub.js';
export type {
  Backplane,
  BackplaneHost,
  BackplaneMessage,
  BackplanePresence,
  GapInfo,
  HistoryResult,
  Position,
} from './api/backplane.js';
export {
  formatPosition,
  parseEnvelope,
  parsePosition,
  PUBSUB_PROTOCOL,
  type PubSubFrame,
} from './api/pubsub-envelope.js';
export { PubSubClient, type PubSubClientOptions, type TopicMessage } from './api/pubsub-client.js';
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
