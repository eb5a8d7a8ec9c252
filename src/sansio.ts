/**
 * `nopoll/sansio`: nopoll's protocol core with no I/O at all (RFC 6455 and RFC 7692's wire rules), for those who
 * bring their own sockets, event loop or runtime. Bytes go in, events and bytes come out:
 *
 * - the opening handshake: {@link buildClientRequest} / {@link checkServerResponse} for a client,
 *   {@link HttpHeadParser} + {@link checkClientRequest} + {@link buildAcceptResponse} for a server;
 * - then a {@link Session} per connection: `receive(bytes)` reports messages, pings, pongs and the close through
 *   your {@link SessionHandler}, whose `sessionWrite` gets every byte to send (pongs and close echoes included);
 *   `sendData`, `ping`, `pong` and `close` frame what you send.
 *
 * Nothing here opens a socket, sets a timer or runs zlib: timeouts, backpressure and compression are yours (see
 * `ARCHITECTURE.md` for how nopoll's own transport does them). See `docs/sansio.md` for a complete example.
 * @packageDocumentation
 */
export { Session, SessionState, type Role, type SessionHandler, type SessionOptions } from './protocol/session.js';
export { FrameParser, type FrameParserOptions, type FrameSink } from './protocol/frame-parser.js';
export {
  FrameMode,
  MessageAssembler,
  type AssemblerOptions,
  type AssemblerOwner,
  type MessageOutput,
} from './protocol/message-assembler.js';
export { MessageBuffer, type InboundBudget } from './protocol/message-buffer.js';
export { OutgoingMessages } from './protocol/outgoing.js';
export { encodeFrameHeader, frameHeaderSize, RSV1, RSV2, RSV3, writeFrameHeader } from './protocol/frame-header.js';
export { applyMask, randomMaskSource, type MaskSource } from './protocol/mask.js';
export { isValidUtf8, Utf8Validator } from './protocol/utf8.js';
export { encodeCloseBody, isValidCloseCode, parseCloseBody, type CloseBody } from './protocol/close.js';
export {
  CloseCode,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONTROL_PAYLOAD,
  Opcode,
  WEBSOCKET_GUID,
  WEBSOCKET_VERSION,
} from './protocol/constants.js';
export { DEFAULT_LIMITS, type Limits } from './protocol/limits.js';
export { classifyFirstBytes, type SniffClass } from './protocol/first-bytes.js';
export { acceptKeyFor, generateKey, isValidKey } from './protocol/handshake/accept-key.js';
export {
  buildClientRequest,
  checkServerResponse,
  type ClientHandshakeResult,
  type ClientRequestOptions,
} from './protocol/handshake/client-handshake.js';
export {
  buildAcceptResponse,
  buildRejectResponse,
  checkClientRequest,
  selectProtocol,
  type ServerCheckResult,
  type ServerHandshakePolicy,
  type ServerRequestInfo,
} from './protocol/handshake/server-handshake.js';
export {
  HttpHeadParser,
  type HeadLimits,
  type HeadParseResult,
  type RequestHead,
  type ResponseHead,
} from './protocol/handshake/http-head-parser.js';
export { HeaderList } from './protocol/handshake/headers.js';
export { formatExtensions, parseExtensions, type ExtensionOffer } from './protocol/handshake/extension-header.js';
export {
  buildDeflateOffer,
  checkDeflateResponse,
  deflateDirections,
  PERMESSAGE_DEFLATE,
  selectDeflateOffer,
  type DeflateAgreement,
  type DeflateDirections,
  type DeflateParams,
} from './protocol/extensions/deflate-params.js';
export {
  COMPRESSED_RSV,
  finishCompressed,
  INFLATE_TAIL,
  zlibWindowBits,
} from './protocol/extensions/deflate-framing.js';
export {
  InvalidPayloadError,
  MessageTooBigError,
  NopollError,
  PolicyViolationError,
  ProtocolError,
  type ErrorCode,
} from './errors.js';
