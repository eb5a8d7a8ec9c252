/**
 * Hostile peers for memory tests: a nopoll endpoint runs in a child process (memory-child.ts), and these helpers
 * start it, flood it with frames written in large pre-built batches (so the sender is never the bottleneck), and
 * read its memory figures.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { TestContext } from 'node:test';

/** What the child reports. */
export interface ChildReport {
  baseline: number;
  peak: number;
  now: number;
  budget: { limit: number; used: number; refused: number };
  closes: Array<{ code: number; error: string | null }>;
  conns: number;
}

/** A nopoll endpoint in a child process. */
export interface MemoryChild {
  child: ChildProcess;
  /** The port of a server child. */
  port: number;
  report(): Promise<ChildReport>;
  send(message: object): void;
}

const CHILD = new URL('./memory-child.js', import.meta.url);

/** Starts a child: `['server', options]` or `['client', url, options]`. Killed after the test. */
export async function startChild(t: TestContext, args: string[]): Promise<MemoryChild> {
  const child = fork(CHILD, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const first = await new Promise<{ port?: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the child did not start within 10 s')), 10_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as { port?: number });
    });
    child.once('exit', (code) => reject(new Error(`the child exited with ${code}`)));
  });
  return {
    child,
    port: first.port ?? 0,
    send: (message) => child.send(message),
    report: () =>
      new Promise<ChildReport>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no report from the child within 10 s')), 10_000);
        child.once('message', (m) => {
          clearTimeout(timer);
          resolve(m as ChildReport);
        });
        child.send({ report: true });
      }),
  };
}

/**
 * Writes `data` as one message cut into frames of `fragment` bytes (at most 125): the first with `opcode` (and
 * `rsv`), the rest CONTINUATION, FIN on the last; masked with a zero key as a client sends (the payload bytes stay
 * as they are), or unmasked as a server does. Frames are packed into 64 KiB writes, and 'drain' is awaited, so the
 * writer is never the bottleneck nor a memory hog.
 */
export async function writeFragments(
  socket: Socket,
  opcode: number,
  data: Buffer,
  fragment: number,
  options: { masked: boolean; rsv?: number },
): Promise<void> {
  if (fragment < 1 || fragment > 125) throw new RangeError('fragments of 1 to 125 bytes');
  const head = options.masked ? 6 : 2;
  const batch = Buffer.alloc(64 * 1024);
  let used = 0;
  for (let at = 0; at < data.length || at === 0; at += fragment) {
    const size = Math.min(fragment, data.length - at);
    if (used + head + size > batch.length) {
      await write(socket, Buffer.from(batch.subarray(0, used)));
      used = 0;
    }
    const last = at + fragment >= data.length;
    batch[used] = (last ? 0x80 : 0) | (at === 0 ? opcode | (options.rsv ?? 0) : 0);
    batch[used + 1] = (options.masked ? 0x80 : 0) | size;
    if (options.masked) batch.fill(0, used + 2, used + 6);
    data.copy(batch, used + head, at, at + size);
    used += head + size;
    if (data.length === 0) break;
  }
  await write(socket, Buffer.from(batch.subarray(0, used)));
}

function write(socket: Socket, bytes: Buffer): Promise<void> {
  if (socket.write(bytes)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onClose = (): void => reject(new Error('the socket closed while writing'));
    socket.once('close', onClose);
    socket.once('drain', () => {
      socket.off('close', onClose);
      resolve();
    });
  });
}

// JavaScriptCore (Bun) collects garbage later than V8, so its peak RSS for the same work runs higher (1.1x to 1.6x
// of Node's bounds in these tests, from run to run, still in proportion to the bytes); the bounds are Node's,
// doubled there. Still far below what these tests catch: memory per fragment grew by gigabytes.
const RUNTIME_SLACK = process.versions['bun'] !== undefined ? 2 : 1;

/** Asserts that a child's peak RSS grew by less than `limit` bytes (on Bun, twice that), with the figure as a diagnostic. */
export function assertPeakBelow(t: TestContext, report: ChildReport, limit: number, what: string): void {
  const grew = report.peak - report.baseline;
  t.diagnostic(`${what}: peak RSS +${(grew / (1024 * 1024)).toFixed(1)} MiB`);
  assert.ok(grew < limit * RUNTIME_SLACK, `${what}: grew by ${grew} bytes, more than ${limit * RUNTIME_SLACK}`);
}
