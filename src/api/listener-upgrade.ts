/**
 * The server side of the opening handshake of a listener's connection (RFC 6455 §4.2): the request read from the
 * socket and checked, then the application's decision (`onOpen`), the subprotocol and permessage-deflate choice,
 * and the answer that starts the session or refuses.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HandshakeError } from '../errors.js';
import { selectProtocol } from '../protocol/handshake/server-handshake.js';
import {
  readUpgradeRequest,
  socketAnswer,
  type PendingUpgrade,
  type UpgradeAnswer,
} from '../transport/server-accept.js';
import type { Conn } from './conn.js';
import { sessionSettings, type ConnOptsInit } from './conn-opts.js';
import type { Context } from './context.js';
import { serverDeflateSession } from './deflate-options.js';

/** Reads the upgrade request from `socket` (after `head`), checks it, then {@link answerUpgrade}; fails `conn` on a bad one. */
export function readUpgrade(ctx: Context, o: ConnOptsInit, conn: Conn, socket: Socket, head: Buffer | null): void {
  if (!conn.isOk) return;
  readUpgradeRequest(
    socket,
    head,
    {
      limits: { maxHeadBytes: ctx.maxHeadBytes, maxHeaderCount: ctx.maxHeaderCount },
      policy: { version: ctx.protocolVersion, requireOrigin: o.requireOrigin ?? false },
      timeoutMs: o.handshakeTimeoutMs ?? ctx.handshakeTimeoutMs,
    },
    (error, upgrade) => {
      if (error || !upgrade) {
        conn.fail(error ?? new HandshakeError('handshake failed'));
        return;
      }
      answerUpgrade(ctx, o, conn, socket, upgrade, socketAnswer(socket, upgrade.request.key!));
    },
  );
}

/**
 * A checked request (read from a socket, parsed by Node, or an HTTP/2 extended CONNECT): record it,
 * let onOpen decide, then answer (101, or 200 over HTTP/2) and start the session on `socket` (or refuse).
 */
export function answerUpgrade(
  ctx: Context,
  o: ConnOptsInit,
  conn: Conn,
  socket: Duplex,
  upgrade: PendingUpgrade,
  answer: UpgradeAnswer,
): void {
  if (!conn.isOk) return;
  const request = upgrade.request;
  conn.recordHandshake({
    requestedUrl: request.path,
    hostHeader: request.host,
    origin: request.origin,
    cookie: request.cookie,
    requestedProtocols: request.protocols,
    xRealIp: request.xRealIp,
    headers: request.headers,
  });
  const finish = (accepted: boolean, threw = false): void => {
    if (!conn.isOk) return;
    if (!accepted) {
      // `false` refuses (403); a throw or a rejection is the server's own failure (500).
      const status = threw ? 500 : 403;
      answer.reject(status, threw ? 'internal server error' : 'connection refused');
      conn.fail(new HandshakeError(threw ? 'the onOpen handler failed' : 'refused by the onOpen handler', status));
      return;
    }
    let protocol = conn.acceptedProtocol;
    if (protocol !== null && !request.protocols.includes(protocol)) {
      answer.reject(400, 'no acceptable subprotocol');
      conn.fail(new HandshakeError(`subprotocol ${protocol} was not requested by the client (RFC 6455 §4.2.2)`, 400));
      return;
    }
    // Default choice: the first requested one we support (all of them when no list is configured).
    protocol ??= selectProtocol(request.protocols, o.protocols ?? request.protocols);
    // permessage-deflate (RFC 7692 §5.1): the first acceptable offer, or none (declined offers are logged).
    const { deflate, declined } = serverDeflateSession(o.perMessageDeflate, request.extensions);
    if (declined.length > 0) ctx.log('debug', `permessage-deflate declined: ${declined.join('; ')}`);
    answer.accept({ protocol, extensions: deflate?.agreement.response ?? null });
    conn.start(socket, upgrade.rest, {
      deflate,
      acceptedProtocol: protocol,
      ...sessionSettings(o, ctx),
    });
  };
  if (ctx.onOpen !== null) {
    // The decision may be asynchronous: hold further bytes until it comes (acceptUpgrade resumes).
    socket.pause();
    conn.decide(ctx.onOpen, finish);
  } else {
    finish(true);
  }
}
