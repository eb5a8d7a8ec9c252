/**
 * The errors `nopoll/ws` reports, worded as `ws` 8 words them (its `WS_ERR_*` codes and messages), built from the
 * failures nopoll's own checks report. nopoll's error stays reachable as `cause`.
 * @packageDocumentation
 */
import { NopollError, ProtocolError } from '../errors.js';

/** A `ws`-style error: an `Error` (or `RangeError`) with `ws`'s `code`, and nopoll's error as `cause`. */
export interface WsError extends Error {
  /** `ws`'s error code (`WS_ERR_INVALID_UTF8`...), or nopoll's own code where `ws` has none. */
  code: string;
}

function wsError(kind: typeof Error, message: string, code: string, cause: unknown): WsError {
  const error = new kind(message, { cause }) as WsError;
  error.code = code;
  return error;
}

const FRAME = 'Invalid WebSocket frame: ';

/**
 * Why a connection failed, as `ws` would emit it: a peer's protocol violation or an oversized message becomes the
 * `ws` error with the same meaning; other nopoll errors (write limit...) are returned as they are.
 */
export function wsFailure(error: Error): Error {
  if (!(error instanceof ProtocolError)) return error;
  const number = /(\d+)/.exec(error.message)?.[1] ?? '';
  switch (error.code) {
    case 'NOPOLL_ERR_INVALID_OPCODE':
      return wsError(RangeError, `${FRAME}invalid opcode ${number}`, 'WS_ERR_INVALID_OPCODE', error);
    case 'NOPOLL_ERR_UNEXPECTED_CONTINUATION':
      return wsError(RangeError, `${FRAME}invalid opcode 0`, 'WS_ERR_INVALID_OPCODE', error);
    case 'NOPOLL_ERR_EXPECTED_CONTINUATION':
      return wsError(RangeError, `${FRAME}invalid opcode`, 'WS_ERR_INVALID_OPCODE', error);
    case 'NOPOLL_ERR_UNEXPECTED_RSV':
      // nopoll's parser does not say which RSV bit was set; RSV1 is the one an extension could have used.
      return wsError(RangeError, `${FRAME}RSV1 must be clear`, 'WS_ERR_UNEXPECTED_RSV_1', error);
    case 'NOPOLL_ERR_MASK_REQUIRED':
      return wsError(RangeError, `${FRAME}MASK must be set`, 'WS_ERR_EXPECTED_MASK', error);
    case 'NOPOLL_ERR_UNEXPECTED_MASK':
      return wsError(RangeError, `${FRAME}MASK must be clear`, 'WS_ERR_UNEXPECTED_MASK', error);
    case 'NOPOLL_ERR_FRAGMENTED_CONTROL':
      return wsError(RangeError, `${FRAME}FIN must be set`, 'WS_ERR_EXPECTED_FIN', error);
    case 'NOPOLL_ERR_CONTROL_FRAME_TOO_LONG':
      return wsError(
        RangeError,
        `${FRAME}invalid payload length ${number}`,
        'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
        error,
      );
    case 'NOPOLL_ERR_INVALID_CLOSE_BODY':
      return wsError(RangeError, `${FRAME}invalid payload length 1`, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', error);
    case 'NOPOLL_ERR_INVALID_CLOSE_CODE':
      return wsError(RangeError, `${FRAME}invalid status code ${number}`, 'WS_ERR_INVALID_CLOSE_CODE', error);
    case 'NOPOLL_ERR_INVALID_UTF8':
      return wsError(Error, `${FRAME}invalid UTF-8 sequence`, 'WS_ERR_INVALID_UTF8', error);
    case 'NOPOLL_ERR_INVALID_LENGTH':
      return wsError(
        RangeError,
        'Unsupported WebSocket frame: payload length > 2^53 - 1',
        'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
        error,
      );
    case 'NOPOLL_ERR_MESSAGE_TOO_BIG':
      return wsError(RangeError, 'Max payload size exceeded', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', error);
    default:
      return error;
  }
}

/** Whether `ws` reports this way a connection ends with an `'error'` event (it does not for resets and timeouts). */
export function isReported(error: Error): boolean {
  return error instanceof ProtocolError || !(error instanceof NopollError);
}

/**
 * `ws`'s wording for a refused upgrade request, from the failure nopoll's request check reported (the checks
 * `ws` does not make, such as `Host` or `Connection`, keep nopoll's wording).
 */
export function wsRequestMessage(message: string, status: number): string {
  if (status === 405) return 'Invalid HTTP method';
  if (message.startsWith('missing Upgrade')) return 'Invalid Upgrade header';
  if (message.includes('Sec-WebSocket-Key')) return 'Missing or invalid Sec-WebSocket-Key header';
  if (message.includes('Sec-WebSocket-Version') || message.startsWith('WebSocket version'))
    return 'Missing or invalid Sec-WebSocket-Version header';
  if (message.includes('Sec-WebSocket-Protocol')) return 'Invalid Sec-WebSocket-Protocol header';
  if (message.includes('Sec-WebSocket-Extensions')) return 'Invalid or unacceptable Sec-WebSocket-Extensions header';
  return message;
}

/**
 * `ws`'s wording for a 101 response nopoll's response check refused (see `checkServerResponse`); `offered` tells
 * whether compression was offered.
 */
export function wsResponseMessage(error: Error, offered: boolean): string {
  const m = error.message;
  if (m.includes('Upgrade: websocket')) return 'Invalid Upgrade header';
  if (m.includes('Sec-WebSocket-Accept')) return 'Invalid Sec-WebSocket-Accept header';
  if (m.includes('although none was offered')) return 'Server sent a subprotocol but none was requested';
  if (m.includes('subprotocol')) return 'Server sent an invalid subprotocol';
  if (m.includes('extension that was not offered')) {
    return offered
      ? 'Server indicated an extension that was not requested'
      : 'Server sent a Sec-WebSocket-Extensions header but no extension was requested';
  }
  if (/xtensions|deflate|window_bits|context_takeover/.test(m)) return 'Invalid Sec-WebSocket-Extensions header';
  return m;
}

/** The error `send`, `ping` and `pong` throw before the handshake completed, or pass to a callback after it ended. */
export function notOpenError(readyState: number): Error {
  const name = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'][readyState] ?? 'CLOSED';
  return new Error(`WebSocket is not open: readyState ${readyState} (${name})`);
}
