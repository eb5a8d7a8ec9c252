/**
 * SOCKS5 (RFC 1928) with no authentication or username/password (RFC 1929): over a socket connected to a SOCKS5
 * proxy, negotiates a method, authenticates, and asks for a TCP connection to the WebSocket server. The server's
 * name goes to the proxy as is (`socks5h://`, the proxy resolves it) or as the address resolved here (`socks5://`).
 * @packageDocumentation
 */
import { lookup } from 'node:dns';
import type { Duplex } from 'node:stream';
import { ConnectError, ProxyError } from '../errors.js';
import { ipBytes } from './ip-address.js';
import { holdStream } from './hold-stream.js';

/** One SOCKS5 CONNECT. */
export interface Socks5Options {
  /** The WebSocket server's host name or address. */
  host: string;
  /** Its port. */
  port: number;
  /** Let the proxy resolve `host` (`socks5h://`); otherwise it is resolved here first (`socks5://`). */
  remoteDns: boolean;
  /** Address family for a local resolution (0: any). */
  family?: 0 | 4 | 6;
  /** Credentials for username/password authentication (RFC 1929), each 1 to 255 bytes. */
  username?: string | undefined;
  password?: string | undefined;
  /** The proxy, credentials removed, for error messages. */
  proxy: string;
}

const VERSION = 0x05;
const NO_AUTH = 0x00;
const USER_PASS = 0x02;
const NO_ACCEPTABLE = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;

// RFC 1928 §6 reply codes, as the messages say them.
const REPLIES: Readonly<Record<number, string>> = {
  1: 'general SOCKS server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

/** Checks credentials before anything is sent: RFC 1929 carries each in 1 to 255 bytes. */
export function checkSocksCredentials(username: string | undefined, password: string | undefined): void {
  if (username === undefined && password === undefined) return;
  for (const [name, value] of [
    ['username', username ?? ''],
    ['password', password ?? ''],
  ] as const) {
    const bytes = Buffer.byteLength(value);
    if (bytes < 1 || bytes > 255) throw new RangeError(`a SOCKS5 ${name} must be 1 to 255 bytes, got ${bytes}`);
  }
}

/**
 * Runs the SOCKS5 exchange on `socket`; `done` is called once. On success, bytes that followed the proxy's reply
 * are put back into the socket. On failure the socket is left to the caller (which destroys it).
 */
export function socks5Connect(socket: Duplex, options: Socks5Options, done: (error: Error | null) => void): void {
  const address = ipBytes(options.host);
  if (address !== null || options.remoteDns) {
    run(socket, options, address, done);
    return;
  }
  lookup(options.host, { family: options.family ?? 0 }, (error, resolved) => {
    if (error) {
      done(new ConnectError(`cannot resolve ${options.host}: ${error.message}`, { cause: error }));
      return;
    }
    run(socket, options, ipBytes(resolved), done);
  });
}

/** The CONNECT request: a name (ATYP 3) when `address` is null, else the address (RFC 1928 §4, §5). */
function connectRequest(host: string, port: number, address: Buffer | null): Buffer {
  if (address === null) {
    const name = Buffer.from(host, 'utf8');
    if (name.length > 255) throw new RangeError(`host name of ${name.length} bytes; SOCKS5 carries at most 255`);
    const out = Buffer.alloc(7 + name.length);
    out.set([VERSION, CMD_CONNECT, 0, ATYP_DOMAIN, name.length]);
    name.copy(out, 5);
    out.writeUInt16BE(port, 5 + name.length);
    return out;
  }
  const out = Buffer.alloc(6 + address.length);
  out.set([VERSION, CMD_CONNECT, 0, address.length === 4 ? ATYP_IPV4 : ATYP_IPV6]);
  address.copy(out, 4);
  out.writeUInt16BE(port, 4 + address.length);
  return out;
}

// The exchange, one state per answer awaited: method choice (2 bytes), authentication status (2 bytes), reply
// (4 bytes, then an address whose length the 4th byte gives, then 2 port bytes). At most 262 bytes are held.
function run(
  socket: Duplex,
  options: Socks5Options,
  address: Buffer | null,
  done: (error: Error | null) => void,
): void {
  const proxy = options.proxy;
  const credentials = options.username !== undefined || options.password !== undefined;
  let request: Buffer;
  try {
    request = connectRequest(options.host, options.port, address);
  } catch (error) {
    done(error as Error);
    return;
  }
  let state: 'method' | 'auth' | 'reply' = 'method';
  let buffer: Buffer = Buffer.alloc(0);
  let finished = false;
  let release = (): void => {};
  const finish = (error: Error | null): void => {
    if (finished) return;
    finished = true;
    release();
    done(error);
  };
  // Ends the exchange with a ProxyError; returns 0 so that `step` can `return fail(...)`.
  const fail = (failure: 'auth' | 'refused' | 'protocol', message: string, socksReply = 0): number => {
    finish(new ProxyError(failure, proxy, `the SOCKS5 proxy ${proxy} ${message}`, { socksReply }));
    return 0;
  };
  const onData = (chunk: Buffer): void => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    while (!finished) {
      const used = step();
      if (used === 0) return;
      buffer = buffer.subarray(used);
    }
  };
  // Handles one complete answer at the head of `buffer`; returns the bytes it used (0: incomplete).
  const step = (): number => {
    if (buffer.length < 2) return 0;
    if (state === 'method') {
      if (buffer[0] !== VERSION)
        return fail('protocol', `answered with version ${buffer[0]} instead of 5 (not a SOCKS5 proxy?)`);
      const method = buffer[1];
      if (method === NO_ACCEPTABLE) {
        return fail(
          'auth',
          credentials ? 'accepted none of the authentication methods offered' : 'requires authentication',
          NO_ACCEPTABLE,
        );
      }
      if (method === USER_PASS && credentials) {
        const user = Buffer.from(options.username ?? '', 'utf8');
        const pass = Buffer.from(options.password ?? '', 'utf8');
        socket.write(Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]));
        state = 'auth';
        return 2;
      }
      if (method !== NO_AUTH) return fail('protocol', `chose authentication method ${method}, which was not offered`);
      socket.write(request);
      state = 'reply';
      return 2;
    }
    if (state === 'auth') {
      // RFC 1929 §2: version 1, status 0 for success.
      if (buffer[1] !== 0) return fail('auth', `refused the username and password (status ${buffer[1]})`);
      socket.write(request);
      state = 'reply';
      return 2;
    }
    if (buffer.length < 4) return 0;
    if (buffer[0] !== VERSION) return fail('protocol', `answered with version ${buffer[0]} instead of 5`);
    const reply = buffer[1]!;
    if (reply !== 0)
      return fail(
        'refused',
        `did not connect to ${options.host}:${options.port}: ${REPLIES[reply] ?? 'unknown failure'} (reply ${reply})`,
        reply,
      );
    const atyp = buffer[3];
    const length =
      atyp === ATYP_IPV4
        ? 4
        : atyp === ATYP_IPV6
          ? 16
          : atyp === ATYP_DOMAIN
            ? buffer.length < 5
              ? -1
              : 1 + buffer[4]!
            : -2;
    if (length === -2) return fail('protocol', `answered with address type ${atyp}`);
    if (length === -1 || buffer.length < 4 + length + 2) return 0;
    const rest = buffer.subarray(4 + length + 2);
    if (rest.length > 0) socket.unshift(rest);
    finish(null);
    return 0;
  };
  const onEnd = (): void => void fail('protocol', 'closed the connection before the tunnel was open');
  const onError = (error: Error): void => {
    finish(
      new ProxyError('connect', proxy, `the connection to the SOCKS5 proxy ${proxy} failed: ${error.message}`, {
        cause: error,
      }),
    );
  };
  release = holdStream(socket, onData, onEnd, onError);
  socket.write(Buffer.from(credentials ? [VERSION, 2, NO_AUTH, USER_PASS] : [VERSION, 1, NO_AUTH]));
}
