/**
 * The TLS step of a `wss://` client (noPoll's `nopoll_conn_tls_new`): the options checked and the default context
 * built before the connection starts, then the handshake over the connected socket, the context creator and the
 * post-handshake check, and failures reported as TlsError or TimeoutError('tls').
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import { TimeoutError, TlsError } from '../errors.js';
import { describeTlsError, isTlsLayerError, secureContextOptions, startClientTls } from '../transport/tls.js';
import type { Conn } from './conn.js';
import type { Context } from './context.js';
import { H2_ALPN } from './listener-tls.js';
import {
  buildContext,
  createContext,
  postCheck,
  resolveTls,
  type TlsContextInfo,
  type TlsOptions,
} from './tls-options.js';

/** A `wss://` client's TLS step, prepared before the connection exists. */
export interface ClientTlsPlan {
  /**
   * Binds the plan to its connection: the `upgrade` for `connectClient` and the error mapping for its result.
   * For an HTTP/2 session (`http2`), ALPN offers `h2` and `http/1.1` and the TLS socket is not attached to the
   * connection: it carries the session, shared by several connections.
   */
  bind(
    conn: Conn,
    timeoutMs: number,
    http2?: boolean,
  ): {
    upgrade: (socket: Socket, done: (error: Error | null, upgraded?: Socket) => void) => void;
    /** The error to report for a failed attempt: TLS-stage failures become TlsError or TimeoutError('tls'). */
    explain(error: Error): Error;
  };
}

/**
 * Checks a client's TLS options, loads their PEM inputs and builds the default context (so mistakes throw from
 * `connect()`).
 * @throws TypeError / RangeError for unusable options; TlsError for an unreadable file or unusable PEM.
 */
export function prepareClientTls(ctx: Context, options: TlsOptions | undefined, host: string): ClientTlsPlan {
  const resolved = resolveTls(options);
  const defaults = secureContextOptions(resolved.material);
  const builtIn = ctx.tlsContextCreator === null ? buildContext(defaults, 'client TLS options') : null;
  return {
    bind(conn, timeoutMs, http2 = false) {
      let tcpConnected = false;
      let secure = false;
      return {
        upgrade(socket, done) {
          tcpConnected = true;
          const info: TlsContextInfo = { isClient: true, listener: null, options: options ?? {}, defaults };
          createContext(ctx, conn, info, (error, created) => {
            if (error) return done(error);
            let context: SecureContext;
            try {
              context = created ?? builtIn ?? buildContext(defaults, 'client TLS options');
            } catch (failure) {
              return done(failure as Error);
            }
            if (socket.destroyed) return done(new TlsError('the connection closed before the TLS handshake'));
            try {
              startClientTls(
                socket,
                {
                  host,
                  serverName: resolved.serverName,
                  secureContext: context,
                  verifyPeer: resolved.verifyPeer ?? true,
                  checkServerIdentity: resolved.checkServerIdentity,
                  alpnProtocols: http2 ? H2_ALPN : resolved.alpnProtocols,
                },
                postCheck(ctx, conn),
                (failure, ok) => {
                  if (ok) secure = true;
                  done(failure, ok);
                  // Attached once connectClient listens on it, so that its view of an early close comes first, as
                  // on a plain connection. Until then `conn.socket` is the TCP socket, which carries the TLS one.
                  if (ok && conn.isOk && !http2) conn.attach(ok, true);
                },
              );
            } catch (failure) {
              done(new TlsError(`cannot start TLS: ${(failure as Error).message}`, { cause: failure }));
            }
          });
        },
        explain(error) {
          if (error instanceof TlsError) return error;
          if (tcpConnected && !secure) {
            if (error instanceof TimeoutError)
              return new TimeoutError('tls', `no TLS handshake within ${timeoutMs} ms`);
            return new TlsError(`the TLS handshake did not complete: ${error.message}`, { cause: error });
          }
          // After the handshake, the TLS layer can still refuse: a TLS 1.3 server rejects a client certificate
          // with an alert that arrives once the client has sent its request.
          const cause = (error as { cause?: unknown }).cause;
          if (secure && (isTlsLayerError(cause) || isTlsLayerError(error))) {
            const source = isTlsLayerError(cause) ? (cause as Error) : error;
            return new TlsError(`the TLS peer refused the connection: ${describeTlsError(source)}`, { cause: source });
          }
          return error;
        },
      };
    },
  };
}

/**
 * @internal The TLS step to an `https://` proxy (docs/client.md): plain client TLS with the proxy's own options,
 * verified against `host` by default. The context creator and post-handshake check are not run: they are for the
 * WebSocket server, whose TLS runs later, inside the tunnel.
 * @throws TypeError / RangeError for unusable options; TlsError for unusable PEM.
 */
export function prepareProxyTls(
  options: TlsOptions | undefined,
  host: string,
): (socket: Socket, done: (error: Error | null, secured?: TLSSocket) => void) => void {
  const resolved = resolveTls(options);
  const context = buildContext(secureContextOptions(resolved.material), 'proxy TLS options');
  return (socket, done) => {
    try {
      startClientTls(
        socket,
        {
          host,
          serverName: resolved.serverName,
          secureContext: context,
          verifyPeer: resolved.verifyPeer ?? true,
          checkServerIdentity: resolved.checkServerIdentity,
          alpnProtocols: resolved.alpnProtocols,
        },
        null,
        done,
      );
    } catch (failure) {
      done(new TlsError(`cannot start TLS: ${(failure as Error).message}`, { cause: failure }));
    }
  };
}
