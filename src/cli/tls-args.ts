/**
 * TLS flags shared by the commands: `echo-server --tls --cert F --key F [--ca F --verify-peer]`, and for the
 * clients (`echo-client`, `connect`) with a `wss://` URL, `--ca F`, `--cert F --key F`, `--insecure`.
 * @packageDocumentation
 */
import type { TlsOptions } from '../index.js';
import { usageError, type FlagSpec, type Values } from './args.js';

/** Flags of a TLS listener. */
export const SERVER_TLS_FLAGS: readonly FlagSpec[] = [
  { name: 'tls', help: 'serve wss:// (needs --cert and --key)' },
  { name: 'cert', value: 'F', help: 'with --tls: the server certificate (PEM, leaf first, chain after it)' },
  { name: 'key', value: 'F', help: 'with --tls: the private key of --cert (PEM)' },
  { name: 'ca', value: 'F', help: 'with --tls: CA certificates (PEM) that client certificates must chain to' },
  { name: 'verify-peer', help: 'with --tls: require a client certificate signed by --ca (mutual TLS)' },
];

/** Flags of a TLS client. */
export const CLIENT_TLS_FLAGS: readonly FlagSpec[] = [
  { name: 'ca', value: 'F', help: "trust these CA certificates (PEM) for a wss:// server instead of the system's" },
  {
    name: 'cert',
    value: 'F',
    help: 'present this client certificate (PEM) to a wss:// server (mutual TLS; needs --key)',
  },
  { name: 'key', value: 'F', help: 'the private key of --cert (PEM)' },
  { name: 'insecure', help: "do not verify the wss:// server's certificate (testing only)" },
];

/** The listener TLS options from the flags, or null without `--tls`. A usage error on an unusable combination. */
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

/** The client TLS options from the flags (undefined when none was given). A usage error on an unusable combination. */
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
