/**
 * The servers under test, and starting/stopping them. Each runs as its own process, spawned directly with the
 * same Node binary and no extra flags, so its PID is the one whose CPU and memory /proc reports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ScenarioId } from './scenarios.js';
import { BENCH_BUILD, REPO_ROOT } from './paths.js';

export type ServerId = 'ws' | 'ws-js' | 'nopoll' | 'nopoll-ws' | 'nopoll-ct' | 'ceiling' | 'floor';

export interface ServerSpec {
  id: ServerId;
  label: string;
  kind: 'ws' | 'tcp';
  /** Script and arguments, run as `node <script> <args>` from the repository root. */
  script: string;
  args: string[];
  /** Variables set for this server (anything not listed here that affects ws is removed). */
  env: Record<string, string>;
  /** Scenarios it takes part in (null: all of them). */
  scenarios: readonly ScenarioId[] | null;
  /** Extra arguments that turn permessage-deflate on (deflate scenarios); null when it cannot compress. */
  deflateArgs: string[] | null;
}

/** Path of the nopoll CLI: bin/nopoll.js, or NOPOLL_BENCH_BIN to benchmark another build of it. */
function nopollScript(): string {
  return process.env['NOPOLL_BENCH_BIN'] ?? join(REPO_ROOT, 'bin', 'nopoll.js');
}

export function serverSpecs(): ServerSpec[] {
  const bench = (file: string): string => join(BENCH_BUILD, 'servers', file);
  return [
    {
      id: 'ws',
      label: 'ws + bufferutil',
      kind: 'ws',
      script: bench('ws-echo.js'),
      args: [],
      env: {},
      scenarios: null,
      deflateArgs: ['--deflate'],
    },
    {
      id: 'ws-js',
      label: 'ws, no bufferutil',
      kind: 'ws',
      script: bench('ws-echo.js'),
      args: [],
      env: { WS_NO_BUFFER_UTIL: '1' },
      scenarios: null,
      // bufferutil plays no part in compression; leaving this one out keeps the default run short.
      deflateArgs: null,
    },
    {
      id: 'nopoll',
      label: 'nopoll',
      kind: 'ws',
      script: nopollScript(),
      args: ['echo-server', '--port', '0', '--host', '127.0.0.1'],
      env: {},
      scenarios: null,
      deflateArgs: ['--deflate'],
    },
    {
      // The same echo server as `ws`'s row, written against nopoll/ws (the ws API over nopoll, issue 13).
      id: 'nopoll-ws',
      label: 'nopoll/ws (ws API)',
      kind: 'ws',
      script: bench('nopoll-ws-echo.js'),
      args: [],
      env: {},
      scenarios: ['64b', '16k', '1m'],
      deflateArgs: null,
    },
    {
      // The configuration before issue 17 (nopoll's default is now no context takeover either way): zlib state kept
      // between messages, for the memory it costs beside the default.
      id: 'nopoll-ct',
      label: 'nopoll, context takeover',
      kind: 'ws',
      script: nopollScript(),
      args: ['echo-server', '--port', '0', '--host', '127.0.0.1'],
      env: {},
      scenarios: ['deflate-idle', 'deflate-used', 'deflate-1k', 'deflate-16k'],
      deflateArgs: ['--deflate', '--deflate-context-takeover'],
    },
    {
      id: 'ceiling',
      label: 'raw net RFC 6455 (JS ceiling, not nopoll)',
      kind: 'ws',
      script: bench('net-echo.js'),
      args: ['--port', '0', '--host', '127.0.0.1'],
      env: {},
      scenarios: null,
      deflateArgs: null,
    },
    {
      id: 'floor',
      label: 'bare net TCP (idle floor, no WebSocket)',
      kind: 'tcp',
      script: bench('tcp-echo.js'),
      args: ['--port', '0', '--host', '127.0.0.1'],
      env: {},
      scenarios: ['idle'],
      deflateArgs: null,
    },
  ];
}

export const SERVER_IDS: readonly ServerId[] = ['ws', 'ws-js', 'nopoll', 'nopoll-ws', 'nopoll-ct', 'ceiling', 'floor'];

// Every child process of the harness, so that any way out (normal exit, error, Ctrl-C) kills them.
const children = new Set<ChildProcess>();

export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Kills every tracked child right now (SIGKILL); safe to call from an 'exit' handler. */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** What it takes to start a server process (a ServerSpec, or a pub/sub server of bench/pubsub). */
export type ServerLaunch = Pick<ServerSpec, 'script' | 'args' | 'env'>;

export interface RunningServer {
  spec: ServerLaunch;
  pid: number;
  host: string;
  port: number;
  /** The remark after the ready line, e.g. which masking code ws loaded. */
  remark: string;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  stop(): Promise<void>;
  /** Last lines of stderr, for error messages. */
  stderrTail(): string;
}

const READY = /^listening on (?:ws|tcp):\/\/([^\s/]+):(\d+)\/(?:\s+\((.*)\))?/m;

/** Starts a server and waits for its ready line; rejects (with its stderr) if it exits or stays silent. */
export function startServer(spec: ServerLaunch, timeoutMs = 10_000): Promise<RunningServer> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env['WS_NO_BUFFER_UTIL'];
  delete env['WS_NO_UTF_8_VALIDATE'];
  Object.assign(env, spec.env);
  const child = spawn(process.execPath, [spec.script, ...spec.args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
  };
  const stderrTail = (): string =>
    stderr
      .trim()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(-6)
      .join('\n');

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop().then(() => {
        const tail = stderrTail();
        reject(new Error(tail === '' ? reason : `${reason}\n${tail}`));
      });
    };
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (error) => fail(`cannot start: ${error.message}`));
    child.once('exit', (code, signal) => fail(`exited during startup (${signal ?? `code ${code}`})`));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      if (settled) return; // keep draining so a chatty server never blocks on a full pipe
      stdout = (stdout + text).slice(-4000);
      const match = READY.exec(stdout);
      if (match === null) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        spec,
        pid: child.pid!,
        host: match[1]!,
        port: Number(match[2]),
        remark: match[3] ?? '',
        stop,
        stderrTail,
      });
    });
  });
}
