/**
 * The regression listener (noPoll's `nopoll-regression-listener`, `nopoll-api.md` §4.1): the server half of the
 * parity suite, answering the message commands noPoll's regression client sends. `nopoll listen` / `npm start`.
 * @packageDocumentation
 */
import { readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CloseCode, Context, Listener, Msg, type Conn, type PerMessageDeflateOptions } from '../index.js';
import { closeFileQuietly, makeFileDir, openInFileDir, removeFileDirIfEmpty } from './regression-files.js';
import { startRegressionTls, type RegressionTlsListeners, type RegressionTlsOptions } from './regression-tls.js';

/** Where the regression listener listens. Base ports are noPoll's; tests pass 0 for ephemeral ones. */
export interface RegressionOptions {
  /** IPv4 port (noPoll: 1234). */
  port4: number;
  /** IPv6 port on ::1 (noPoll: 2234); null to skip. */
  port6: number | null;
  /**
   * Address of the IPv4 ports, plain and TLS (default 127.0.0.1, loopback only; noPoll bound 0.0.0.0). A public
   * address lets anyone who can reach it run the test commands, `open-file` included.
   */
  host4?: string;
  /**
   * The directory `open-file: NAME` writes into (NAME must be a plain file name; see `regression-files.ts`).
   * Default: a fresh private directory under the system's temporary directory, removed on close if left empty.
   */
  fileDir?: string;
  /** File served by `get-file` (default: this package's LICENSE). */
  getFile?: string;
  /** permessage-deflate on every port, TLS ones included (default off, as any listener; `nopoll listen --deflate`). */
  deflate?: boolean | PerMessageDeflateOptions;
  /** noPoll's TLS ports (1235, 2235, 1238, 2238, 1239, 1240; see `regression-tls.ts`); none without this. */
  tls?: RegressionTlsOptions;
}

/** A running regression listener. */
export interface RegressionListener {
  ctx: Context;
  ipv4: Listener;
  ipv6: Listener | null;
  /** The TLS listeners by base port, or null when `tls` was not given. */
  tls: RegressionTlsListeners | null;
  /** Connections closed so far (what `get-connection-close-count` answers). */
  readonly closeCount: number;
  /** The directory the file commands write into. */
  readonly fileDir: string;
  close(): Promise<void>;
}

/**
 * The close code `close with message` sends. noPoll sends 1048, which RFC 6455 §7.4.2 reserves (1016-2999 may
 * not be sent), so a strict peer would fail the connection; we send the application-range 4048 instead.
 */
export const REGRESSION_CLOSE_CODE = 4048;
/** The reason `close with message` sends (noPoll test_28). */
export const REGRESSION_CLOSE_REASON = 'Hey, this is a very reasonable error message';

const DEFAULT_GET_FILE = fileURLToPath(new URL('../../../LICENSE', import.meta.url));
const DEFAULT_HOST4 = '127.0.0.1';

/** Per-connection state: a partially joined fragmented message, and an open-file target. */
interface ConnState {
  joined: Msg | null;
  fd: number | null;
}

/** Starts the regression listener's ports with noPoll's handlers. */
export async function startRegressionListener(options: RegressionOptions): Promise<RegressionListener> {
  const ctx = new Context();
  let closeCount = 0;
  const getFile = options.getFile ?? DEFAULT_GET_FILE;
  const host4 = options.host4 ?? DEFAULT_HOST4;
  const ownDir = options.fileDir === undefined;
  const fileDir = options.fileDir ?? makeFileDir();
  const close = async (): Promise<void> => {
    await ctx.close();
    if (ownDir) removeFileDirIfEmpty(fileDir);
  };
  // noPoll's on_open: count closes, refuse one Origin, map one subprotocol.
  ctx.onOpen = (conn) => {
    conn.onClose = () => {
      closeCount++;
      const state = conn.hook as ConnState | undefined;
      if (state?.fd != null) closeFileQuietly(state.fd);
    };
    conn.hook = { joined: null, fd: null } satisfies ConnState;
    if (conn.origin === 'http://deny.aspl.es') return false;
    // noPoll answers hello-protocol-response to hello-protocol; RFC 6455 §4.2.2 only allows a value the client
    // offered, so we do it when the client offered both.
    if (
      conn.requestedProtocols.includes('hello-protocol') &&
      conn.requestedProtocols.includes('hello-protocol-response')
    ) {
      conn.acceptedProtocol = 'hello-protocol-response';
    }
    return true;
  };
  ctx.onMessage = (conn, msg) => onMessage(conn, msg, { getFile, fileDir }, () => closeCount);
  let ipv4: Listener;
  try {
    ipv4 = await Listener.listen(ctx, {
      host: host4,
      port: options.port4,
      opts: { deliverFragments: true, perMessageDeflate: options.deflate ?? false },
    });
  } catch (error) {
    await close();
    throw error;
  }
  let ipv6: Listener | null = null;
  if (options.port6 !== null) {
    try {
      ipv6 = await Listener.listen(ctx, {
        host: '::1',
        port: options.port6,
        ipv6: true,
        opts: { deliverFragments: true, perMessageDeflate: options.deflate ?? false },
      });
    } catch (error) {
      process.emitWarning(`regression listener: no IPv6 listener (${(error as Error).message})`);
    }
  }
  let tls: RegressionTlsListeners | null = null;
  if (options.tls) {
    try {
      tls = await startRegressionTls(ctx, options.tls, host4, {
        deliverFragments: true,
        perMessageDeflate: options.deflate ?? false,
      });
    } catch (error) {
      await close();
      throw error;
    }
  }
  return {
    ctx,
    ipv4,
    ipv6,
    tls,
    get closeCount() {
      return closeCount;
    },
    fileDir,
    close,
  };
}

function onMessage(conn: Conn, msg: Msg, files: { getFile: string; fileDir: string }, closeCount: () => number): void {
  const state = conn.hook as ConnState;
  if (state.fd !== null) {
    // open-file mode: append every message until one starts with close-file.
    if (msg.payload.subarray(0, 10).toString('latin1') === 'close-file') {
      closeFileQuietly(state.fd);
      state.fd = null;
    } else {
      writeSync(state.fd, msg.payload);
    }
    return;
  }
  if (msg.isFragment) {
    state.joined = Msg.join(state.joined, msg);
    if (msg.isFinal && state.joined) {
      const whole = state.joined;
      state.joined = null;
      if (whole.opcode === 2) conn.sendBinary(whole.payload);
      else conn.sendText(whole.payload);
    }
    return;
  }
  const text = msg.payload.subarray(0, 64).toString('latin1');
  if (text.startsWith('open-file: ')) {
    // Only a plain file name inside the listener's own directory (noPoll opened any path the peer named).
    const opened = openInFileDir(files.fileDir, msg.payload.subarray(11).toString('utf8').trim());
    if (typeof opened === 'number') state.fd = opened;
    else void conn.close(CloseCode.POLICY_VIOLATION, opened);
  } else if (text.startsWith('close with message')) {
    void conn.close(REGRESSION_CLOSE_CODE, REGRESSION_CLOSE_REASON);
  } else if (text.startsWith('release-message')) {
    state.joined = null;
  } else if (text.startsWith('get-cookie')) {
    conn.sendText(conn.cookie ?? '');
  } else if (text.startsWith('set-broken-socket')) {
    conn.shutdown();
  } else if (text.startsWith('get-connection-close-count')) {
    conn.sendText(String(closeCount()));
  } else if (text.startsWith('1234-1) ')) {
    // noPoll blocks its whole loop for 100 ms here so the client's writes back up; we stop reading this one
    // connection for 100 ms instead, which backs up the same writes without stalling the others.
    const socket = conn.socket;
    socket?.pause();
    setTimeout(() => socket?.resume(), 100).unref();
  } else if (msg.size === 4 && text === 'ping') {
    conn.ping();
  } else if (msg.size === 8 && text === 'get-file') {
    // noPoll sends each 1024-byte piece as its own text message, which breaks UTF-8 where a piece ends inside a
    // character (§5.6); we send one text message in 1024-byte frames, which a stream reader sees the same way.
    const content = readFileSync(files.getFile);
    if (content.length <= 1024) conn.sendText(content);
    for (let at = 0; content.length > 1024 && at < content.length; at += 1024) {
      conn.sendFragment(content.subarray(at, at + 1024), { fin: at + 1024 >= content.length });
    }
  } else if (msg.opcode === 2) {
    // noPoll echoes binary as text; a strict peer would refuse non-UTF-8 text, so binary stays binary.
    conn.sendBinary(msg.payload);
  } else {
    conn.sendText(msg.payload);
  }
}
