/**
 * Proxy flags shared by the client commands: `--proxy URL` (http://, https://, socks5://, socks5h://), else the
 * environment's proxy variables as curl reads them (ws_proxy / wss_proxy, http_proxy / HTTPS_PROXY, ALL_PROXY,
 * NO_PROXY), unless `--no-proxy`. See docs/client.md.
 * @packageDocumentation
 */
import { checkProxy, type ConnOptsInit } from '../index.js';
import { exclusive, usageError, type FlagSpec, type Values } from './args.js';

/** Flags of a client. */
export const CLIENT_PROXY_FLAGS: readonly FlagSpec[] = [
  {
    name: 'proxy',
    value: 'URL',
    help: 'connect through this proxy: http://[user:pass@]host:port (CONNECT), https://..., socks5://... (names resolved here) or socks5h://... (resolved by the proxy)',
  },
  {
    name: 'no-proxy',
    help: 'connect directly; by default the proxy comes from ws_proxy/wss_proxy, http_proxy, HTTPS_PROXY, ALL_PROXY (and NO_PROXY), as curl reads them',
  },
];

/** The client's proxy options from the flags. A usage error on an unusable proxy URL or `--proxy` with `--no-proxy`. */
export function clientProxyOptions(values: Values): Pick<ConnOptsInit, 'proxy' | 'proxyEnv'> {
  exclusive(values, 'proxy', 'no-proxy');
  if (values['no-proxy'] === true) return { proxy: false };
  const proxy = values['proxy'];
  if (typeof proxy !== 'string') return { proxyEnv: true };
  try {
    checkProxy(proxy);
  } catch (error) {
    usageError(`--proxy: ${(error as Error).message}`);
  }
  return { proxy };
}
