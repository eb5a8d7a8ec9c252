/**
 * Typed handler signatures: noPoll's on_accept, on_open, on_ready, on_msg and on_close, plus the error hook.
 * A handler that throws (or rejects) never takes the process down: the error goes to the context's `onError`.
 * @packageDocumentation
 */
import type { CloseInfo } from './conn-core.js';
import type { Conn } from './conn.js';
import type { Msg } from './msg.js';

/** Return value of a deciding handler: `false` refuses; anything else accepts. A Promise is awaited. */
export type Decision = boolean | void | Promise<boolean | void>;

/** Server, right after the TCP accept, before any handshake byte is read (noPoll's on_accept). */
export type OnAcceptHandler = (conn: Conn) => Decision;
/**
 * Server, when a valid handshake request arrived and before the 101 answer (noPoll's on_open). Inspect
 * `conn.requestedUrl`, `origin`, `cookie`, `requestedProtocols`, set `conn.acceptedProtocol`; `false` answers 403.
 */
export type OnOpenHandler = (conn: Conn) => Decision;
/** Both sides, when the handshake completed (noPoll's on_ready). `false` closes the connection. */
export type OnReadyHandler = (conn: Conn) => Decision;
/** A message arrived (noPoll's on_msg). */
export type OnMessageHandler = (conn: Conn, msg: Msg) => void | Promise<void>;
/** The connection ended; called exactly once per connection that was registered (noPoll's on_close). */
export type OnCloseHandler = (conn: Conn, info: CloseInfo) => void;
/** A user handler threw or rejected. */
export type OnErrorHandler = (error: unknown, conn: Conn | null) => void;
/** Log levels, as noPoll's `noPollDebugLevel`. */
export type LogLevel = 'debug' | 'warning' | 'critical';
/** Receives log lines (noPoll's `nopoll_log_set_handler`). */
export type LogHandler = (level: LogLevel, text: string) => void;
