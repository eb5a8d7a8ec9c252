/**
 * Shared fixtures of the error tests (test/api/errors-*.test.ts): recorded contexts, servers and raw peers that
 * close after their test, and the assertions on typed errors, log lines and errors escaping to the process.
 */
import { after, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { Conn } from '../../src/api/conn.js';
import type { ConnOptsInit } from '../../src/api/conn-opts.js';
import { Context, type ContextOptions } from '../../src/api/context.js';
import type { LogLevel } from '../../src/api/handlers.js';
import { Listener } from '../../src/api/listener.js';
import type { CloseInfo } from '../../src/api/conn.js';
import { NopollError, type ErrorCode } from '../../src/errors.js';
import { OP, RawServer, parseClose, rawClient, type RawPeer } from './raw-peer.js';
import { AsyncQueue, delay, withTimeout } from './ws-async.js';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

export type LogLine = { level: LogLevel; text: string };

/** A context whose log lines and handler errors are recorded, closed after the test. */
export interface Recorded {
  ctx: Context;
  logs: LogLine[];
  handlerErrors: unknown[];
}

export function recordedContext(t: TestContext, options: ContextOptions = {}): Recorded {
  const logs: LogLine[] = [];
  const handlerErrors: unknown[] = [];
  // Raw peers do not answer close frames: a short close timeout keeps teardown quick.
  const ctx = new Context({ log: (level, text) => logs.push({ level, text }), closeTimeoutMs: 300, ...options });
  ctx.onError = (error) => {
    handlerErrors.push(error);
  };
  t.after(() => withTimeout(ctx.close(), 10_000, 'closing a context'));
  return { ctx, logs, handlerErrors };
}

/** Our listener on 127.0.0.1 that echoes; connections are queued when ready and when ended. */
export interface Server extends Recorded {
  listener: Listener;
  port: number;
  url: string;
  ready: AsyncQueue<Conn>;
  ended: AsyncQueue<{ conn: Conn; info: CloseInfo }>;
}

export async function startServer(
  t: TestContext,
  opts: ConnOptsInit = {},
  options: ContextOptions = {},
): Promise<Server> {
  const rec = recordedContext(t, options);
  const ready = new AsyncQueue<Conn>();
  const ended = new AsyncQueue<{ conn: Conn; info: CloseInfo }>();
  rec.ctx.onReady = (conn) => {
    ready.push(conn);
  };
  rec.ctx.onClose = (conn, info) => ended.push({ conn, info });
  rec.ctx.onMessage = (conn, msg) => {
    if (msg.isText) conn.sendText(msg.payload);
    else conn.sendBinary(msg.payload);
  };
  const listener = await Listener.listen(rec.ctx, { host: '127.0.0.1', port: 0, opts });
  return { ...rec, listener, port: listener.port, url: `ws://127.0.0.1:${listener.port}/`, ready, ended };
}

/** A raw TCP server answering upgrades by hand, closed after the test. */
export async function rawServer(t: TestContext): Promise<RawServer> {
  const raw = await RawServer.start();
  t.after(() => raw.close());
  return raw;
}

/** A raw client upgraded against `port`, destroyed after the test. */
export async function rawPeer(t: TestContext, port: number, headers: string[] = []): Promise<RawPeer> {
  const { peer } = await rawClient(port, { extraHeaders: headers });
  t.after(() => peer.destroy());
  return peer;
}

/** The code of the next close frame `peer` receives (other frames are skipped); null for a close without a code. */
export async function nextCloseCode(peer: RawPeer, timeoutMs = 3000): Promise<number | null> {
  for (;;) {
    const frame = await peer.nextFrame(timeoutMs);
    if (frame.opcode === OP.CLOSE) return parseClose(frame.payload).code;
  }
}

/** Asserts the class, the stable code and the fields of an error, and returns it typed. */
export function assertError<T extends NopollError>(
  error: unknown,
  type: abstract new (...args: never[]) => T,
  code: ErrorCode,
  fields: Partial<Record<'closeCode' | 'status' | 'phase' | 'limit' | 'reason', number | string>> = {},
): T {
  assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
  assert.ok(error instanceof NopollError);
  assert.equal(error.code, code, String(error));
  assert.equal(error.name, error.constructor.name);
  for (const [name, value] of Object.entries(fields))
    assert.equal((error as unknown as Record<string, unknown>)[name], value, `${name} of ${String(error)}`);
  return error;
}

/** The rejection of `promise` (fails when it resolves), within `timeoutMs`. */
export async function rejection(promise: Promise<unknown>, timeoutMs = 5000): Promise<unknown> {
  return withTimeout(
    promise.then(
      (value) => assert.fail(`expected a rejection, got ${String(value)}`),
      (error: unknown) => error,
    ),
    timeoutMs,
    'waiting for a rejection',
  );
}

/** A log line at `level` whose text contains `part`. */
export function assertLogged(logs: readonly LogLine[], level: LogLevel, part: string): void {
  assert.ok(
    logs.some((line) => line.level === level && line.text.includes(part)),
    `no ${level} line with ${JSON.stringify(part)} in ${JSON.stringify(logs)}`,
  );
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Replaces the console methods for the test; returns what they were asked to print. */
export function captureConsole(t: TestContext): string[] {
  const printed: string[] = [];
  const names = ['log', 'error', 'warn', 'info', 'debug'] as const;
  const saved = names.map((name) => console[name]);
  for (const name of names)
    console[name] = (...args: unknown[]) => void printed.push(`${name}: ${args.map(String).join(' ')}`);
  t.after(() => names.forEach((name, i) => (console[name] = saved[i]!)));
  return printed;
}

// Anything that escapes to the process fails the test that caused it (the runner would also notice).
const escaped: unknown[] = [];
const onEscape = (error: unknown): void => void escaped.push(error);
/** Records what escapes to the process while this file's tests run (call once at the top of a test file). */
export function trackEscapes(): void {
  before(() => {
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
  });
  after(() => {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  });
}
export async function assertNothingEscaped(): Promise<void> {
  await delay(20); // let nextTick throws and rejections surface
  assert.deepEqual(escaped.splice(0), [], 'an error escaped to the process');
}
