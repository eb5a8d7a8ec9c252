/**
 * Proxy flags shared by the client commands: `--proxy URL` (http://, https://, socks5://, socks5h://), else the
 * environment's proxy variables as curl reads them (ws_proxy / wss_proxy, http_proxy / HTTPS_PROXY, ALL_PROXY,
 * NO_PROXY), unless `--no-proxy`. See docs/client.md.
 * @packageDocumentation
 */
import { checkProxy, type ConnOptsInit } from '../index.js';

/** Flags of a client, for `parse`. */
export const CLIENT_PROXY_FLAGS = {
  proxy: { type: 'string' },
  'no-proxy': { type: 'boolean' },
} as const;

/** Usage lines for {@link CLIENT_PROXY_FLAGS}. */
export const CLIENT_PROXY_USAGE = `  --proxy URL           connect through this proxy: http://[user:pass@]host:port (CONNECT), https://...,
                        socks5://... (names resolved here) or socks5h://... (resolved by the proxy)
  --no-proxy            connect directly; by default the proxy comes from ws_proxy/wss_proxy, http_proxy,
                        HTTPS_PROXY, ALL_PROXY (and NO_PROXY), as curl reads them
`;

type Values = Record<string, string | boolean | undefined>;

/** The client's proxy options from the flags. Exits 2 on an unusable proxy URL or `--proxy` with `--no-proxy`. */
export function clientProxyOptions(values: Values): Pick<ConnOptsInit, 'proxy' | 'proxyEnv'> {
  const proxy = values['proxy'];
  if (values['no-proxy'] === true) {
    if (proxy !== undefined) usageError('--proxy and --no-proxy exclude each other');
    return { proxy: false };
  }
  if (typeof proxy !== 'string') return { proxyEnv: true };
  try {
    checkProxy(proxy);
  } catch (error) {
    usageError(`--proxy: ${(error as Error).message}`);
  }
  return { proxy };
}

function usageError(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}
