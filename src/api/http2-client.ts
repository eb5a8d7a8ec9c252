/**
 * Client connections over HTTP/2 (RFC 8441): WebSockets to one origin share HTTP/2 connections, kept per context
 * and per set of TLS options, opened on demand (a second one when the first is at the server's stream limit) and
 * closed when their last WebSocket ends. With `http2: 'auto'`, an origin that does not offer WebSockets over
 * HTTP/2 is remembered for a while and reached over HTTP/1.1.
 * @packageDocumentation
 */
import { HandshakeError, TimeoutError } from '../errors.js';
import { PERMESSAGE_DEFLATE } from '../protocol/extensions/deflate-params.js';
import { buildExtendedConnect, checkExtendedConnectResponse } from '../protocol/handshake/extended-connect.js';
import { H2ClientSession, type H2ConnectOutcome } from '../transport/h2-client.js';
import type { ClientPlan } from './client.js';
import type { Conn } from './conn.js';
import type { Context } from './context.js';
import { clientDeflateSession } from './deflate-options.js';
import { DEFAULT_HTTP2_SESSION_WINDOW, DEFAULT_HTTP2_STREAM_WINDOW } from './http2-options.js';

/** One HTTP/2 connection of the pool: being opened (`waiters`) or open (`session`). */
interface Entry {
  key: string;
  session: H2ClientSession | null;
  waiters: Array<(outcome: H2ConnectOutcome) => void> | null;
}

// Per context: the connections by origin key, and the origins found without WebSockets over HTTP/2 (until when).
const pools = new WeakMap<Context, Map<string, Entry[]>>();
const withoutH2 = new WeakMap<Context, Map<string, number>>();
/** How long `'auto'` remembers that an origin does not offer WebSockets over HTTP/2. */
const NO_H2_MEMORY_MS = 5 * 60_000;
const NO_H2_LIMIT = 1024;
// Waiters one connection being opened takes before a second is opened (the server's limit is not known yet).
const PENDING_STREAMS = 100;

const tlsIds = new WeakMap<object, number>();
let nextTlsId = 1;

// Connections are shared only between WebSockets that would have made the same one: scheme, address, port, family,
// local address, and the very same TLS options object (no TLS options at all being one such set).
function poolKey(plan: ClientPlan): string {
  let tls = 0;
  if (plan.tlsOptions !== undefined) {
    tls = tlsIds.get(plan.tlsOptions) ?? 0;
    if (tls === 0) tlsIds.set(plan.tlsOptions, (tls = nextTlsId++));
  }
  return `${plan.secure ? 'https' : 'http'}|${plan.host}|${plan.port}|${plan.ipv6 ? 6 : 0}|${plan.localAddress ?? ''}|${tls}`;
}

/**
 * @internal Starts `conn` over HTTP/2: on a shared connection, or a new one. `fallback` starts it over HTTP/1.1
 * instead, for `'auto'`.
 * @throws TypeError for request fields HTTP/2 cannot carry (checked before anything starts).
 */
export function startHttp2Client(conn: Conn, plan: ClientPlan, fallback: (conn: Conn, plan: ClientPlan) => void): void {
  const ctx = conn.ctx;
  let fields: Array<[string, string]>;
  try {
    fields = buildExtendedConnect({
      scheme: plan.secure ? 'https' : 'http',
      host: plan.hostHeader,
      path: plan.path,
      version: ctx.protocolVersion,
      origin: plan.origin,
      protocols: plan.protocols,
      ...(plan.cookie !== undefined ? { cookie: plan.cookie } : {}),
      ...(plan.offerHeader !== undefined ? { extensions: plan.offerHeader } : {}),
      extraHeaders: plan.extraHeaders,
    });
  } catch (error) {
    ctx.unregister(conn);
    throw error;
  }
  const key = poolKey(plan);
  const deadline = Date.now() + plan.timeoutMs;
  // One time limit for the whole handshake: waiting for a connection, then the extended CONNECT.
  const timer = setTimeout(() => {
    if (conn.state === 'connecting')
      conn.fail(new TimeoutError('handshake', `no WebSocket handshake within ${plan.timeoutMs} ms`));
  }, plan.timeoutMs);
  const fallBack = (): void => {
    clearTimeout(timer);
    if (!conn.isOk) return;
    try {
      fallback(conn, { ...plan, timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (error) {
      conn.fail(error as Error);
    }
  };
  if (plan.http2 === 'auto' && knownWithoutH2(ctx, key)) return fallBack();
  const entries = poolOf(ctx, key);
  const open = entries.find((e) => e.session !== null && e.session.usable);
  if (open !== undefined) return request(conn, plan, open, fields, deadline, timer);
  const pending = entries.find((e) => e.waiters !== null && e.waiters.length < PENDING_STREAMS);
  const entry = pending ?? openEntry(conn, plan, key, entries);
  entry.waiters!.push((outcome) => {
    if (!conn.isOk) return clearTimeout(timer);
    if (outcome.kind === 'error') {
      clearTimeout(timer);
      return conn.fail(outcome.error);
    }
    if (outcome.kind === 'session' && outcome.session.acceptsWebSockets) {
      // Another waiter may have filled it: then this one goes to another connection.
      if (outcome.session.usable) return request(conn, plan, entry, fields, deadline, timer);
      clearTimeout(timer);
      return startHttp2Client(conn, { ...plan, timeoutMs: Math.max(1, deadline - Date.now()) }, fallback);
    }
    const why =
      outcome.kind === 'no-h2'
        ? outcome.reason
        : 'the server did not enable extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3)';
    if (plan.http2 === 'auto') {
      rememberWithoutH2(ctx, key);
      ctx.log(
        'debug',
        `conn ${conn.id}: no WebSockets over HTTP/2 at ${plan.host}:${plan.port} (${why}); using HTTP/1.1`,
      );
      return fallBack();
    }
    clearTimeout(timer);
    conn.fail(new HandshakeError(`no WebSockets over HTTP/2 at ${plan.host}:${plan.port}: ${why}`));
  });
}

// Opens a new HTTP/2 connection for `plan` (its TLS step is the one of `conn`, the connection that asked first).
function openEntry(conn: Conn, plan: ClientPlan, key: string, entries: Entry[]): Entry {
  const ctx = conn.ctx;
  const entry: Entry = { key, session: null, waiters: [] };
  entries.push(entry);
  const tls = plan.tlsPlan?.bind(conn, plan.timeoutMs, true) ?? null;
  H2ClientSession.connect(
    {
      host: plan.host,
      port: plan.port,
      family: plan.ipv6 ? 6 : 0,
      localAddress: plan.localAddress,
      upgrade: tls?.upgrade,
      timeoutMs: plan.timeoutMs,
      streamWindowBytes: DEFAULT_HTTP2_STREAM_WINDOW,
      sessionWindowBytes: DEFAULT_HTTP2_SESSION_WINDOW,
      maxHeaderListBytes: ctx.maxHeadBytes,
    },
    (outcome) => {
      const waiters = entry.waiters!;
      entry.waiters = null;
      if (outcome.kind === 'session' && outcome.session.acceptsWebSockets) {
        entry.session = outcome.session;
        outcome.session.session.once('close', () => drop(ctx, entry));
        outcome.session.session.once('goaway', () => drop(ctx, entry));
      } else {
        drop(ctx, entry);
        if (outcome.kind === 'session') outcome.session.close();
      }
      const told: H2ConnectOutcome =
        outcome.kind === 'error' && tls !== null ? { kind: 'error', error: tls.explain(outcome.error) } : outcome;
      for (const waiter of waiters) waiter(told);
      // Every waiter went away meanwhile: nobody needs the connection.
      if (entry.session !== null && entry.session.streams === 0) closeIdle(ctx, entry);
    },
  );
  return entry;
}

// Opens the WebSocket's stream on an open connection and runs the handshake on it.
function request(
  conn: Conn,
  plan: ClientPlan,
  entry: Entry,
  fields: Array<[string, string]>,
  deadline: number,
  timer: NodeJS.Timeout,
): void {
  const session = entry.session!;
  let stream: ReturnType<H2ClientSession['request']>;
  try {
    stream = session.request(
      fields,
      Math.max(1, deadline - Date.now()),
      (error, answer) => {
        clearTimeout(timer);
        if (!conn.isOk) return;
        if (error || !answer) return conn.fail(error ?? new HandshakeError('extended CONNECT failed'));
        const checked = checkExtendedConnectResponse(answer.status, answer.headers, {
          protocols: plan.protocols,
          extensionsOffered: plan.deflateOffer !== null ? [PERMESSAGE_DEFLATE] : [],
        });
        if (!checked.ok) return conn.fail(checked.error);
        conn.recordHandshake({ headers: checked.result.headers });
        // RFC 7692 §5: an acceptance of permessage-deflate with invalid parameters fails the connection.
        const deflate = clientDeflateSession(plan.deflateOffer, checked.result.extensions);
        if (!deflate.ok) return conn.fail(new HandshakeError(deflate.error, answer.status));
        conn.start(stream, EMPTY, {
          deflate: deflate.deflate,
          acceptedProtocol: checked.result.protocol,
          ...plan.settings,
        });
      },
      () => {
        if (session.streams === 0) closeIdle(conn.ctx, entry);
      },
    );
  } catch (error) {
    // Node refused the fields or the session went away between the check and the request.
    clearTimeout(timer);
    conn.fail(error as Error);
    return;
  }
  conn.attach(stream, plan.secure, true);
}

// The last WebSocket of a connection ended: close it, unless one arrives in this same turn of the event loop.
function closeIdle(ctx: Context, entry: Entry): void {
  setImmediate(() => {
    const session = entry.session;
    if (session === null || session.streams > 0) return;
    drop(ctx, entry);
    session.close();
  });
}

function drop(ctx: Context, entry: Entry): void {
  const map = pools.get(ctx);
  const entries = map?.get(entry.key);
  if (entries === undefined) return;
  const at = entries.indexOf(entry);
  if (at >= 0) entries.splice(at, 1);
  if (entries.length === 0) map!.delete(entry.key);
}

function poolOf(ctx: Context, key: string): Entry[] {
  let map = pools.get(ctx);
  if (map === undefined) pools.set(ctx, (map = new Map()));
  let entries = map.get(key);
  if (entries === undefined) map.set(key, (entries = []));
  return entries;
}

function knownWithoutH2(ctx: Context, key: string): boolean {
  const map = withoutH2.get(ctx);
  const until = map?.get(key);
  if (until === undefined) return false;
  if (until > Date.now()) return true;
  map!.delete(key);
  return false;
}

function rememberWithoutH2(ctx: Context, key: string): void {
  let map = withoutH2.get(ctx);
  if (map === undefined) withoutH2.set(ctx, (map = new Map()));
  if (map.size >= NO_H2_LIMIT) map.clear();
  map.set(key, Date.now() + NO_H2_MEMORY_MS);
}

const EMPTY = Buffer.alloc(0);
