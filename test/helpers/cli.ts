/**
 * Running the `nopoll` command as users do (`node bin/nopoll.js ...`, the built package) from tests: output split
 * into lines, exit codes, and a free-port probe. Every child still running after its test is killed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AsyncQueue, withTimeout } from './ws-async.js';

// build/test/helpers/cli.js -> the repository root.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(ROOT, 'bin', 'nopoll.js');

/**
 * The command line that runs `nopoll` in a terminal (tmux): this Node binary and bin/nopoll.js. Under Bun, the
 * `node` on PATH: the command is a Node program (its shebang says so).
 */
export function nopollArgv(...args: string[]): string[] {
  return [process.versions['bun'] ? 'node' : process.execPath, BIN, ...args];
}

/** A running `nopoll` process with its output split into lines. */
export interface Cli {
  child: ChildProcessWithoutNullStreams;
  lines: AsyncQueue<string>;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process ended. */
  exited: Promise<number | string>;
}

/** Spawns `node bin/nopoll.js ...args` (with `env` added to the environment); kills it after the test if still running. */
export function nopoll(t: TestContext, args: string[], env?: Readonly<Record<string, string>>): Cli {
  assert.ok(
    existsSync(join(ROOT, 'dist', 'esm', 'cli', 'main.js')),
    'the package must be built (scripts/test.mjs builds dist/)',
  );
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  let out = '';
  let err = '';
  let partial = '';
  const lines = new AsyncQueue<string>();
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    let at: number;
    while ((at = partial.indexOf('\n')) >= 0) {
      lines.push(partial.slice(0, at));
      partial = partial.slice(at + 1);
    }
  });
  child.stderr.on('data', (chunk: string) => (err += chunk));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number | string>((res) => child.once('exit', (code, signal) => res(code ?? signal ?? -1)));
  let ended = false;
  void exited.then(() => (ended = true));
  t.after(async () => {
    if (!ended) {
      child.kill('SIGKILL');
      await withTimeout(exited, 5000, 'killing the CLI').catch(() => undefined);
    }
  });
  return { child, lines, stdout: () => out, stderr: () => err, exited };
}

/** The next stdout line, which must match `pattern`; fails early (with stderr) if the process exits first. */
export async function expectLine(cli: Cli, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  const exitedEarly = cli.exited.then((code) => {
    throw new Error(`nopoll exited with ${code} before printing ${pattern}; stderr: ${cli.stderr()}`);
  });
  const line = await Promise.race([cli.lines.next(timeoutMs, `waiting for ${pattern}`), exitedEarly]);
  const match = line.match(pattern);
  assert.ok(match, `stdout line ${JSON.stringify(line)} does not match ${pattern}`);
  return match;
}

/** Polls (every 20 ms) until standard error matches `pattern`; fails with what was printed after `timeoutMs`. */
export async function expectStderr(cli: Cli, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = cli.stderr().match(pattern);
    if (match) return match;
    if (Date.now() > deadline)
      throw new Error(`no ${pattern} on stderr within ${timeoutMs} ms; stderr: ${cli.stderr()}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Waits for the exit code, at most `timeoutMs`. */
export function exitCode(cli: Cli, timeoutMs = 10_000): Promise<number | string> {
  return withTimeout(cli.exited, timeoutMs, 'waiting for nopoll to exit');
}

/** True when a TCP port can be bound on `host` now (the probe is closed again). */
export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((res) => {
    const probe: Server = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      res(error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT'),
    );
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => res(true)));
  });
}

/** A `nopoll listen` that started on a free `--offset-port`. */
export interface ListenCli {
  cli: Cli;
  offset: number;
  /** The stdout lines printed up to and including the one matching `ready`. */
  printed: string[];
}

/**
 * Runs `nopoll listen --offset-port N ...args` on an offset where every base port of `bases` is free on `hosts`
 * (tried a few times: a port may be taken between the probe and the bind), reading stdout until a line matches
 * `ready` (default: the last base port's line).
 */
export async function listenOnFreeOffset(
  t: TestContext,
  args: string[],
  options: { bases?: readonly number[]; hosts?: readonly string[]; ready?: RegExp } = {},
): Promise<ListenCli> {
  const bases = options.bases ?? [1234, 2234];
  const hosts = options.hosts ?? ['127.0.0.1', '::1'];
  for (let attempt = 0; attempt < 8; attempt++) {
    const offset = 20_000 + Math.floor(Math.random() * 20_000);
    let free = true;
    for (const base of bases) for (const host of hosts) free &&= await portFree(base + offset, host);
    if (!free) continue;
    const ready = options.ready ?? new RegExp(`:${bases[bases.length - 1]! + offset}/`);
    const cli = nopoll(t, ['listen', '--offset-port', String(offset), ...args]);
    const printed: string[] = [];
    try {
      for (;;) {
        const line = (await expectLine(cli, /^listening on .*$/))[0];
        printed.push(line);
        if (ready.test(line)) return { cli, offset, printed };
      }
    } catch (error) {
      if (!/EADDRINUSE|address already in use/i.test(cli.stderr())) throw error;
    }
  }
  throw new Error('no free --offset-port found in 8 attempts');
}
