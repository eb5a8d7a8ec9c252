/**
 * Runs the programs of test/ws/programs (ws's README examples and examples/ folder, written against `ws`) as
 * child processes: as written, or with only the import changed to `nopoll/ws`. The copy runs from build/, inside
 * this package, so `nopoll/ws` resolves to the built package (dist/) through its "exports" and `ws` to
 * node_modules. Output is split into lines; every child is killed after its test.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AsyncQueue, withTimeout } from './ws-async.js';

// build/test/helpers/ws-programs.js -> the repository root.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const PROGRAMS = join(ROOT, 'test', 'ws', 'programs');

/** Which library a program runs against. */
export type Lib = 'ws' | 'nopoll/ws';
/** Both, `ws` first. */
export const LIBS: readonly Lib[] = ['ws', 'nopoll/ws'];

/** A running program. */
export interface Program {
  child: ChildProcessWithoutNullStreams;
  /** Every stdout line so far. */
  readonly output: string[];
  /** Everything written to stderr. */
  stderr(): string;
  /** The next stdout line not taken yet matching `pattern` (earlier non-matching lines are skipped). */
  line(pattern: RegExp, what?: string, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code or signal name. */
  exited: Promise<number | string>;
  /** SIGTERM (SIGKILL after 2 s); resolves once the process is gone. */
  stop(): Promise<void>;
}

/** The source of `name` for `lib`: unchanged, or with `from 'ws'` / `require('ws')` pointing at `nopoll/ws`. */
export function programSource(name: string, lib: Lib): string {
  const source = readFileSync(join(PROGRAMS, name), 'utf8');
  const imports = /(from\s+|require\()'ws'/g;
  assert.ok(imports.test(source), `${name} imports ws`);
  return lib === 'ws' ? source : source.replace(imports, `$1'nopoll/ws'`);
}

let runDir: string | null = null;

/** Starts `name` against `lib` with `env` (HOST 127.0.0.1 and PORT 0 by default). */
export function runProgram(t: TestContext, name: string, lib: Lib, env: Record<string, string> = {}): Program {
  if (runDir === null) {
    mkdirSync(join(ROOT, 'build', 'ws-programs'), { recursive: true });
    runDir = mkdtempSync(join(ROOT, 'build', 'ws-programs', 'run-'));
  }
  const dir = join(runDir, lib === 'ws' ? 'ws' : 'nopoll');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, programSource(name, lib));
  const child = spawn(process.execPath, [file], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const lines = new AsyncQueue<string>();
  let partial = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    partial += chunk;
    let at: number;
    while ((at = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, at);
      partial = partial.slice(at + 1);
      output.push(line);
      lines.push(line);
    }
  });
  child.stderr.on('data', (chunk: string) => (err += chunk));
  child.stdin.on('error', () => undefined);
  let ended = false;
  const exited = new Promise<number | string>((res) => child.once('exit', (code, signal) => res(code ?? signal ?? -1)));
  void exited.then(() => (ended = true));
  const stop = async (): Promise<void> => {
    if (ended) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await withTimeout(exited, 5000, `stopping ${name}`).catch(() => undefined);
    clearTimeout(timer);
  };
  t.after(stop);
  const line = async (pattern: RegExp, what = String(pattern), timeoutMs = 5000): Promise<RegExpExecArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${name} (${lib}): no line ${what}; output: ${JSON.stringify(output)}; stderr: ${err}`);
      const next = await lines.next(left, `${name} (${lib}): ${what}`).catch((error: unknown) => {
        throw new Error(`${String(error)}; output: ${JSON.stringify(output)}; stderr: ${err}`);
      });
      const match = pattern.exec(next);
      if (match !== null) return match;
    }
  };
  return { child, output, stderr: () => err, line, exited, stop };
}
