/**
 * Which proxy the environment names for a WebSocket server, as curl and undici read it: `ws_proxy` / `wss_proxy`
 * first (curl's WebSocket names), then `http_proxy` for `ws://` and `https_proxy` for `wss://`, then `all_proxy`;
 * each lowercase first, then uppercase. `no_proxy` / `NO_PROXY` lists the servers reached directly.
 * @packageDocumentation
 */
import { ipBytes, samePrefix } from './ip-address.js';

/** Environment variables, as `process.env` holds them. */
export type ProxyEnv = Readonly<Record<string, string | undefined>>;

const WS_NAMES = ['ws_proxy', 'WS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'] as const;
const WSS_NAMES = ['wss_proxy', 'WSS_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'] as const;

/**
 * The proxy URL the environment gives for a `ws://` (or, `secure`, a `wss://`) server at `host`:`port`, or null
 * when none is set or `NO_PROXY` excludes the server. Empty values count as unset. The URL is returned as written
 * (it may lack a scheme: the caller reads `host:port` as `http://host:port`, as curl does).
 */
export function proxyFromEnv(env: ProxyEnv, secure: boolean, host: string, port: number): string | null {
  let proxy: string | null = null;
  for (const name of secure ? WSS_NAMES : WS_NAMES) {
    const value = env[name]?.trim();
    if (value) {
      proxy = value;
      break;
    }
  }
  if (proxy === null) return null;
  const noProxy = env['no_proxy']?.trim() || env['NO_PROXY']?.trim();
  return noProxy && noProxyMatches(noProxy, host, port) ? null : proxy;
}

/**
 * True when a `NO_PROXY` list names this server. Entries are separated by commas or white space and compared
 * without case:
 * - `*` alone matches every server;
 * - a name matches itself and every name under it (`example.com` and `.example.com` and `*.example.com` all
 *   match `example.com` and `ws.example.com`, never `notexample.com`), as curl does;
 * - an IP address matches that address (IPv6 with or without brackets); `10.0.0.0/8` or `fd00::/8` a range (CIDR);
 * - any of these followed by `:port` (IPv6 bracketed: `[::1]:8080`) matches only that port, as undici does.
 */
export function noProxyMatches(list: string, host: string, port: number): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  const address = ipBytes(name);
  for (const raw of list.split(/[\s,]+/)) {
    if (raw === '') continue;
    if (raw === '*') return true;
    const parsed = splitPort(raw.toLowerCase());
    if (parsed === null || (parsed.port !== 0 && parsed.port !== port)) continue;
    const entry = parsed.host;
    const slash = entry.indexOf('/');
    if (slash >= 0) {
      const network = ipBytes(entry.slice(0, slash));
      const bits = /^\d{1,3}$/.test(entry.slice(slash + 1)) ? Number(entry.slice(slash + 1)) : -1;
      if (address !== null && network !== null && samePrefix(address, network, bits)) return true;
      continue;
    }
    if (address !== null) {
      const other = ipBytes(entry);
      if (other !== null && other.equals(address)) return true;
      continue;
    }
    const domain = entry.replace(/^\*?\./, '').replace(/\.$/, '');
    if (domain !== '' && (name === domain || name.endsWith(`.${domain}`))) return true;
  }
  return false;
}

// `host`, `host:port`, `[v6]`, `[v6]:port`; a bare IPv6 address (several colons) has no port. Null: unusable.
function splitPort(entry: string): { host: string; port: number } | null {
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    if (end < 0) return null;
    const after = entry.slice(end + 1);
    if (after === '') return { host: entry.slice(1, end), port: 0 };
    return /^:\d{1,5}$/.test(after) ? { host: entry.slice(1, end), port: Number(after.slice(1)) } : null;
  }
  const colon = entry.indexOf(':');
  if (colon < 0 || entry.indexOf(':', colon + 1) >= 0) return { host: entry, port: 0 };
  const port = entry.slice(colon + 1);
  return /^\d{1,5}$/.test(port) ? { host: entry.slice(0, colon), port: Number(port) } : null;
}
