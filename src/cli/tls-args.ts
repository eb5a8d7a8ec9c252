/**
 * TLS flags shared by the commands: `echo-server --tls --cert F --key F [--ca F --verify-peer]`, and for the
 * clients (`echo-client`, `connect`) with a `wss://` URL, `--ca F`, `--cert F --key F`, `--insecure`.
 * @packageDocumentation
 */
import type { TlsOptions } from '../index.js';

/** Flags of a TLS listener, for `parse`. */
export const SERVER_TLS_FLAGS = {
  tls: { type: 'boolean' },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  'verify-peer': { type: 'boolean' },
} as const;

/** Usage lines for {@link SERVER_TLS_FLAGS}. */
export const SERVER_TLS_USAGE = `  --tls                 serve wss:// (needs --cert and --key)
  --cert F --key F      the server certificate (PEM, leaf first, chain after it) and its private key
  --ca F                CA certificates (PEM) that client certificates must chain to
  --verify-peer         require a client certificate signed by --ca (mutual TLS)
`;

/** Flags of a TLS client, for `parse`. */
export const CLIENT_TLS_FLAGS = {
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean' },
} as const;

/** Usage lines for {@link CLIENT_TLS_FLAGS}. */
export const CLIENT_TLS_USAGE = `  --ca F                trust these CA certificates (PEM) for a wss:// server instead of the system's
  --cert F --key F      present this client certificate and key (mutual TLS)
  --insecure            do not verify the server's certificate (testing only)
`;

type Values = Record<string, string | boolean | undefined>;

function usageError(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** The listener TLS options from the flags, or null without `--tls`. Exits 2 on an unusable combination. */
export function serverTlsOptions(values: Values): TlsOptions | null {
  const tls = values['tls'] === true;
  const cert = values['cert'];
  const key = values['key'];
  const ca = values['ca'];
  if (!tls) {
    if (cert !== undefined || key !== undefined || ca !== undefined || values['verify-peer'] !== undefined) {
      usageError('--cert, --key, --ca and --verify-peer need --tls');
    }
    return null;
  }
  if (typeof cert !== 'string' || typeof key !== 'string') usageError('--tls needs --cert F and --key F');
  if (values['verify-peer'] === true && typeof ca !== 'string') usageError('--verify-peer needs --ca F');
  return {
    cert: { file: cert },
    key: { file: key },
    ...(typeof ca === 'string' ? { ca: { file: ca } } : {}),
    ...(values['verify-peer'] === true ? { verifyPeer: true } : {}),
  };
}

/** The client TLS options from the flags (undefined when none was given). Exits 2 on an unusable combination. */
export function clientTlsOptions(values: Values, url: string): TlsOptions | undefined {
  const ca = values['ca'];
  const cert = values['cert'];
  const key = values['key'];
  const insecure = values['insecure'] === true;
  if (ca === undefined && cert === undefined && key === undefined && !insecure) return undefined;
  if (!/^(wss|https|wss\+unix):/i.test(url)) usageError('--ca, --cert, --key and --insecure are for wss:// URLs');
  if ((typeof cert === 'string') !== (typeof key === 'string')) usageError('--cert and --key go together');
  return {
    ...(typeof ca === 'string' ? { ca: { file: ca } } : {}),
    ...(typeof cert === 'string' && typeof key === 'string' ? { cert: { file: cert }, key: { file: key } } : {}),
    ...(insecure ? { verifyPeer: false } : {}),
  };
}
