/**
 * Wire constants of RFC 6455. Imports nothing.
 * @packageDocumentation
 */

/** Frame opcodes (RFC 6455 §5.2, §11.8). */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;
/** One of the opcodes defined by RFC 6455. */
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Registered close status codes (RFC 6455 §7.4.1, §11.7). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Local only: the close frame had no status code. Never sent. */
  NO_STATUS: 1005,
  /** Local only: the connection ended without a close frame. Never sent. */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  /** Local only: the TLS handshake failed. Never sent. */
  TLS_HANDSHAKE: 1015,
} as const;
/** One of the registered close codes. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The GUID appended to Sec-WebSocket-Key before hashing (RFC 6455 §1.3, §4.2.2). */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The only protocol version RFC 6455 defines (§4.1). */
export const WEBSOCKET_VERSION = 13;

/** Control frames carry at most 125 payload bytes (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** A close reason fits in a control frame after the 2-byte code (RFC 6455 §5.5.1). */
export const MAX_CLOSE_REASON_BYTES = 123;
