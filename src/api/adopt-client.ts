/**
 * A client connection on a socket another HTTP client upgraded: `nopoll/ws` runs its client handshake with Node's
 * `http.request`, as `ws` does, then hands the upgraded socket here. The response is checked as `Conn.connect`
 * checks it (RFC 6455 §4.1, RFC 7692 §5) and the session starts with the same code.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import { PERMESSAGE_DEFLATE } from '../protocol/extensions/deflate-params.js';
import { checkServerResponse } from '../protocol/handshake/client-handshake.js';
import type { ResponseHead } from '../protocol/handshake/http-head-parser.js';
import { startClientSession } from './client.js';
import { Conn } from './conn.js';
import { optsValues, sessionSettings, type ConnOptsLike } from './conn-opts.js';
import type { Context } from './context.js';
import { clientDeflateOffer } from './deflate-options.js';
import type { OnReadyHandler } from './handlers.js';

/** @internal A client handshake another HTTP client ran. */
export interface UpgradedClient {
  /** Host and port connected to, path and `Host` value sent. */
  host: string;
  port: number;
  path: string;
  hostHeader: string;
  origin: string | null;
  /** Subprotocols offered, and the `Sec-WebSocket-Key` sent. */
  protocols: string[];
  key: string;
  /** Whether the socket is TLS. */
  tls: boolean;
  /** The socket after the response head, the response head, and the bytes that followed it. */
  socket: Socket;
  response: ResponseHead;
  rest: Buffer;
}

/**
 * @internal The client connection on `h.socket`, open or failed (see `conn.closeInfo.error`). The compression
 * offer is the one `clientDeflateOffer(opts.perMessageDeflate)` made. `onReady` becomes the connection's handler,
 * so it runs before any message is delivered.
 */
export function adoptUpgradedClient(
  ctx: Context,
  h: UpgradedClient,
  opts?: ConnOptsLike,
  onReady?: OnReadyHandler,
): Conn {
  const o = optsValues(opts);
  const deflateOffer = clientDeflateOffer(o.perMessageDeflate);
  const conn = new Conn(ctx, null, h.host, h.port, o.maxFrameSize ?? ctx.maxFrameSize);
  if (onReady !== undefined) conn.onReady = onReady;
  conn.recordHandshake({
    requestedUrl: h.path,
    hostHeader: h.hostHeader,
    origin: h.origin,
    requestedProtocols: h.protocols,
  });
  conn.attach(h.socket, h.tls);
  const checked = checkServerResponse(h.response, h.key, {
    protocols: h.protocols,
    extensionsOffered: deflateOffer !== null ? [PERMESSAGE_DEFLATE] : [],
  });
  if (!checked.ok) conn.fail(checked.error);
  else
    startClientSession(
      conn,
      { socket: h.socket, result: checked.result, response: h.response, rest: h.rest },
      deflateOffer,
      sessionSettings(o, ctx),
    );
  return conn;
}
