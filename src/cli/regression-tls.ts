/**
 * The regression listener's TLS ports (`nopoll-api.md` §4.1), opened on the listener's context so they share its
 * handlers:
 *
 * | Base port | Listens on | TLS |
 * |---|---|---|
 * | 1235 | IPv4 | the listener's own certificate (noPoll: `nopoll_listener_set_certificate`) |
 * | 2235 | IPv6 `::1` | same |
 * | 1238 | IPv4 | TLS 1.2 only, certificate from the context store (noPoll pinned TLS 1.1, which nopoll refuses) |
 * | 2238 | IPv6 `::1` | same |
 * | 1239 | IPv4 | mutual TLS: clients must present a certificate signed by the test CA (noPoll's root.pem) |
 * | 1240 | IPv4 | TLS 1.3 only, certificate from the context store (noPoll pinned TLS 1.2) |
 *
 * The server certificate is also the context store's default entry, as in noPoll. noPoll's SSLv23 (1236) and
 * SSLv3 (1237) ports are not opened: those protocols are refused.
 * @packageDocumentation
 */
import { Listener, SslProtocol, type ConnOptsInit, type Context, type PemSource } from '../index.js';

/** The regression listener's TLS base ports. */
export type RegressionTlsPort = 1235 | 2235 | 1238 | 2238 | 1239 | 1240;

/** Certificates and ports of the TLS listeners. */
export interface RegressionTlsOptions {
  /** Server certificate (the tests use test/fixtures/tls/server.crt: localhost, 127.0.0.1, ::1). */
  cert: PemSource;
  /** Its private key. */
  key: PemSource;
  /** The CA that client certificates must chain to on the mutual-TLS port (test/fixtures/tls/ca.crt). */
  ca: PemSource;
  /** Port to listen on for each base port (tests pass 0 everywhere); an IPv6 one may be null to skip it. */
  ports: { 1235: number; 2235: number | null; 1238: number; 2238: number | null; 1239: number; 1240: number };
}

/** The TLS listeners, by base port; an IPv6 one is null when skipped or unavailable. */
export type RegressionTlsListeners = Record<RegressionTlsPort, Listener | null>;

/**
 * Opens the TLS ports on `ctx` with the given listener options (the regression listener's; their `tls` is replaced).
 * @param host4 the IPv4 address to bind (noPoll: 0.0.0.0).
 */
export async function startRegressionTls(
  ctx: Context,
  options: RegressionTlsOptions,
  host4: string,
  opts: ConnOptsInit,
): Promise<RegressionTlsListeners> {
  ctx.setCertificate(null, options.cert, options.key);
  const certificate = { cert: options.cert, key: options.key };
  const tls12 = { ...opts, tls: { sslProtocol: SslProtocol.TLSV1_2 } };
  const tls13 = { ...opts, tls: { sslProtocol: SslProtocol.TLSV1_3 } };
  const mutual = { ...opts, tls: { cert: options.cert, key: options.key, ca: options.ca, verifyPeer: true } };
  const ipv6 = async (
    port: number | null,
    listenOpts: ConnOptsInit,
    withCertificate: boolean,
  ): Promise<Listener | null> => {
    if (port === null) return null;
    try {
      return await Listener.listen(ctx, {
        host: '::1',
        port,
        ipv6: true,
        tls: true,
        opts: listenOpts,
        ...(withCertificate ? { certificate } : {}),
      });
    } catch (error) {
      process.emitWarning(`regression listener: no IPv6 TLS listener (${(error as Error).message})`);
      return null;
    }
  };
  const p = options.ports;
  return {
    1235: await Listener.listen(ctx, { host: host4, port: p[1235], tls: true, certificate, opts }),
    2235: await ipv6(p[2235], opts, true),
    1238: await Listener.listen(ctx, { host: host4, port: p[1238], tls: true, opts: tls12 }),
    2238: await ipv6(p[2238], tls12, false),
    1239: await Listener.listen(ctx, { host: host4, port: p[1239], tls: true, opts: mutual }),
    1240: await Listener.listen(ctx, { host: host4, port: p[1240], tls: true, opts: tls13 }),
  };
}

/** What each TLS port is, for the lines the `listen` command prints. */
export const REGRESSION_TLS_NOTES: Readonly<Record<RegressionTlsPort, string>> = {
  1235: 'TLS',
  2235: 'TLS',
  1238: 'TLS 1.2 only',
  2238: 'TLS 1.2 only',
  1239: 'TLS, client certificate required',
  1240: 'TLS 1.3 only',
};
