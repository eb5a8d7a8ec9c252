/**
 * A listener's TLS (`nopoll_listener_tls_new`, `nopoll_listener_set_certificate`, manual §3): which certificate
 * it presents (its options', then its own, then the context's store, SNI picking a named store entry), the secure
 * contexts built from them, and the server side of the TLS handshake before the WebSocket accept.
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import type { SecureContext, SecureContextOptions, TLSSocket } from 'node:tls';
import { TimeoutError, TlsError } from '../errors.js';
import { acceptTls, secureContextOptions } from '../transport/tls.js';
import { certificateEntry, type CertificateEntry, type CertificateInput } from './certificate-store.js';
import type { Conn } from './conn.js';
import type { Listener } from './listener.js';
import {
  buildContext,
  createContext,
  postCheck,
  resolveTls,
  type ResolvedTls,
  type TlsContextInfo,
  type TlsOptions,
} from './tls-options.js';

/** A TLS listener prepared before its socket is bound (so bad options fail the `listen` call). */
export interface PreparedListenerTls {
  resolved: ResolvedTls;
  certificate: CertificateEntry | null;
}

/**
 * @internal Checks a listener's TLS options and loads its certificate files.
 * @throws TypeError / RangeError / TlsError for unusable options or files.
 */
export function prepareListenerTls(
  options: TlsOptions | undefined,
  certificate: CertificateInput | undefined,
): PreparedListenerTls {
  return { resolved: resolveTls(options), certificate: certificate ? certificateEntry(certificate) : null };
}

type Contexts = {
  key: string;
  context: SecureContext | null;
  defaults: SecureContextOptions;
  sni: Map<CertificateEntry, SecureContext>;
};

/** @internal One listener's TLS state: a field of the Listener. */
export class ListenerTls {
  /** Listens for wss:// (accepted sockets are wrapped). Detached listeners are false but can still accept TLS. */
  enabled = false;
  /** Its certificate (`nopoll_listener_set_certificate`). */
  #certificate: CertificateEntry | null = null;
  #certificateGeneration = 0;
  /** The listener options' TLS part, resolved once. */
  #resolved: ResolvedTls | null = null;
  /** The built-in contexts, valid while their key matches. */
  #cache: Contexts | null = null;

  /** Makes the listener a TLS one. */
  enable(prepared: PreparedListenerTls): void {
    this.enabled = true;
    this.#resolved = prepared.resolved;
    this.#certificate = prepared.certificate;
    this.#certificateGeneration++;
  }

  /** The listener's own certificate, or null. */
  get certificate(): CertificateEntry | null {
    return this.#certificate;
  }

  /** Sets the listener's certificate (applies to connections accepted afterwards). */
  setCertificate(certificate: CertificateInput): void {
    this.#certificate = certificateEntry(certificate);
    this.#certificateGeneration++;
  }

  // The built-in context options and contexts, rebuilt when a certificate changed.
  #contexts(listener: Listener): Contexts {
    const store = listener.ctx.certificateStore;
    const key = `${store.generation}/${this.#certificateGeneration}`;
    if (this.#cache !== null && this.#cache.key === key) return this.#cache;
    const resolved = (this.#resolved ??= resolveTls(listener.opts.tls));
    const own = resolved.material.cert !== undefined;
    const chosen: { cert: string | Buffer; key: string | Buffer; chain: string | Buffer | null } | null = own
      ? { cert: resolved.material.cert!, key: resolved.material.key!, chain: resolved.material.chain ?? null }
      : (this.#certificate ?? store.find(null));
    const defaults = secureContextOptions({
      ...resolved.material,
      cert: chosen?.cert,
      key: chosen?.key,
      chain: chosen?.chain ?? undefined,
    });
    const context = chosen === null ? null : buildContext(defaults, 'listener certificate');
    this.#cache = { key, context, defaults, sni: new Map() };
    return this.#cache;
  }

  /**
   * Runs the TLS side of an accept (noPoll's `nopoll_conn_accept_complete` with TLS on): wraps `socket` (after
   * putting `head` back), presents the certificate, verifies the client when the listener's `verifyPeer` is on,
   * runs the post-handshake check, then hands the secured socket to `proceed` for the WebSocket handshake. On a
   * failure the connection fails with a TlsError or a TimeoutError (phase `'tls'`).
   */
  accept(
    listener: Listener,
    conn: Conn,
    socket: Socket,
    head: Buffer | null,
    proceed: (secured: TLSSocket) => void,
  ): void {
    this.#accept(listener, conn, socket, head, null, proceed);
  }

  /**
   * The TLS side of an accept on a listener that serves HTTP/2 (RFC 8441): as {@link accept}, with ALPN offering
   * `h2` and `http/1.1`, before any connection exists (an HTTP/2 connection carries many). `proceed` reads
   * `secured.alpnProtocol`. The post-handshake check is left to each connection ({@link checkAcceptedTls}); a
   * context creator, which is given a connection, cannot run here: with one set the socket is refused (fail
   * closed). Failures are logged and the socket destroyed.
   */
  acceptForHttp2(listener: Listener, socket: Socket, head: Buffer | null, proceed: (secured: TLSSocket) => void): void {
    this.#accept(listener, null, socket, head, H2_ALPN, proceed);
  }

  // The server TLS accept for a connection (`conn`), or for a socket that has none yet (HTTP/2, `conn` null).
  #accept(
    listener: Listener,
    conn: Conn | null,
    socket: Socket,
    head: Buffer | null,
    alpn: readonly string[] | null,
    proceed: (secured: TLSSocket) => void,
  ): void {
    const ctx = listener.ctx;
    const peer =
      conn !== null ? `${conn.host}:${conn.port}` : `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    const isOk = (): boolean => (conn !== null ? conn.isOk : !socket.destroyed);
    const fail = (error: Error): void => {
      if (conn !== null) return conn.fail(error);
      ctx.log('debug', `TLS accept from ${peer} failed: ${error.message}`);
      socket.destroy();
    };
    if (head !== null && head.length > 0) {
      socket.pause();
      socket.unshift(head);
    }
    let contexts: Contexts;
    try {
      contexts = this.#contexts(listener);
    } catch (error) {
      ctx.log('critical', `TLS listener ${listener.host}:${listener.port}: ${(error as Error).message}`);
      fail(error instanceof TlsError ? error : new TlsError((error as Error).message, { cause: error }));
      return;
    }
    const resolved = this.#resolved!;
    const info: TlsContextInfo = {
      isClient: false,
      listener,
      options: listener.opts.tls ?? {},
      defaults: contexts.defaults,
    };
    // One time limit for the context creator, the handshake and the post-handshake check.
    const timeoutMs = listener.opts.handshakeTimeoutMs ?? ctx.handshakeTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const creatorTimer =
      ctx.tlsContextCreator === null
        ? null
        : setTimeout(
            () => fail(new TimeoutError('tls', `the TLS context creator did not answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
    const withContext = (error: Error | null, created: SecureContext | null): void => {
      if (creatorTimer !== null) clearTimeout(creatorTimer);
      if (!isOk()) return;
      if (error) return fail(error);
      const secureContext = created ?? contexts.context;
      if (secureContext === null) {
        ctx.log('critical', `TLS listener ${listener.host}:${listener.port} has no certificate`);
        return fail(
          new TlsError(
            'no certificate for this TLS listener: set tls.cert in its options, listener.setCertificate() or ctx.setCertificate()',
          ),
        );
      }
      const store = ctx.certificateStore;
      // SNI picks a named store entry, unless the context creator chose the context.
      const sni =
        created === null && store.hasNamed
          ? (name: string): SecureContext | undefined => {
              const entry = store.match(name);
              if (entry === null) return undefined;
              let context = contexts.sni.get(entry);
              if (context === undefined) {
                context = buildContext(
                  secureContextOptions({
                    ...resolved.material,
                    cert: entry.cert,
                    key: entry.key,
                    chain: entry.chain ?? undefined,
                  }),
                  `store certificate for ${entry.serverName}`,
                );
                contexts.sni.set(entry, context);
              }
              return context;
            }
          : undefined;
      let secured: TLSSocket;
      try {
        secured = acceptTls(
          socket,
          {
            secureContext,
            verifyPeer: resolved.verifyPeer ?? false,
            sni,
            alpnProtocols: alpn ?? resolved.alpnProtocols,
            timeoutMs: Math.max(1, deadline - Date.now()),
          },
          conn !== null ? postCheck(ctx, conn) : null,
          (failure, ok) => {
            if (failure || !ok) {
              ctx.log('debug', `TLS accept from ${peer} failed: ${failure?.message}`);
              fail(failure ?? new TlsError('TLS handshake failed'));
              return;
            }
            if (isOk()) proceed(ok);
          },
        );
      } catch (failure) {
        // Node refused to wrap the socket (it may have gone meanwhile): end this connection, not the process.
        fail(new TlsError(`cannot start TLS: ${(failure as Error).message}`, { cause: failure }));
        return;
      }
      conn?.attach(secured, true);
    };
    if (conn === null) {
      if (ctx.tlsContextCreator !== null) {
        ctx.log(
          'critical',
          `TLS listener ${listener.host}:${listener.port}: a TLS context creator cannot serve an HTTP/2 listener; connection refused`,
        );
        return withContext(new TlsError('the TLS context creator is not supported on an HTTP/2 listener'), null);
      }
      return withContext(null, null);
    }
    createContext(ctx, conn, info, withContext);
  }
}

/**
 * @internal Runs the post-handshake check for a connection that arrived over a TLS socket accepted by
 * `acceptForHttp2`, then `proceed`; a refusal fails the connection with a TlsError.
 */
export function checkAcceptedTls(conn: Conn, socket: TLSSocket, proceed: () => void): void {
  postCheck(conn.ctx, conn)(socket, (accepted) => {
    if (!conn.isOk) return;
    if (accepted && !socket.destroyed) proceed();
    else conn.fail(new TlsError('refused by the post-handshake check'));
  });
}

/** ALPN of HTTP/2 with HTTP/1.1 beside it (RFC 9113 §3.2), in preference order. */
export const H2_ALPN: readonly string[] = ['h2', 'http/1.1'];
