/**
 * A real terminal for the interactive CLI tests: a command run in a tmux pane of a fixed size, keys sent to it,
 * the screen read back (`capture-pane -p`, what a user sees: escape sequences are acted on, not shown). Each
 * session runs on a tmux server of its own (`-L` with a unique name, no user configuration), killed after the test.
 * tmux is Debian's package (.ci/run installs it); without it the test is skipped, or fails under CI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { needBinary } from './proxies.js';
import { delay } from './ws-async.js';

const TMUX = '/usr/bin/tmux';
let sessions = 0;

/** A command running in a tmux pane. */
export interface TmuxPane {
  /** The session's name (unique per run). */
  readonly name: string;
  /** Types `text` as it is (no key names), then Enter. */
  typeLine(text: string): void;
  /** Sends tmux key names (`Up`, `Enter`, `C-d`). */
  keys(...names: string[]): void;
  /**
   * The screen now, one string per row, trailing blanks removed; with `attributes`, the colours and other
   * attributes as SGR escape sequences (`capture-pane -e`).
   */
  screen(attributes?: boolean): string[];
  /** The pane's title (what OSC 0/2 sequences set). */
  title(): string;
  /** The exit status once the command ended (sh prints `[exit N]` under its output), else null. */
  exitStatus(): number | null;
  /**
   * Polls the screen every 50 ms until `check` accepts it (a row matching a RegExp, or a predicate on all
   * rows); fails with the screen after `timeoutMs`.
   */
  waitFor(check: RegExp | ((rows: string[]) => boolean), what: string, timeoutMs?: number): Promise<string[]>;
}

/** True when tmux is installed (else the test is skipped, or fails under CI). */
export const needTmux = (t: TestContext): boolean => needBinary(t, TMUX, 'tmux');

/**
 * Runs `argv` in a new detached tmux session of `width` x `height` cells, with the environment of this process
 * plus `env` (a value of null removes a variable). The pane stays after the command ends, so its last screen and
 * exit status can be read.
 */
export function startPane(
  t: TestContext,
  argv: readonly string[],
  options: { width?: number; height?: number; env?: Record<string, string | null> } = {},
): TmuxPane {
  const name = `nopoll-test-${process.pid}-${++sessions}-${Math.random().toString(36).slice(2, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'nopoll-tmux-'));
  const conf = join(dir, 'tmux.conf');
  // No status line (every row is the pane's), the pane kept after its command exits.
  writeFileSync(conf, 'set -g status off\nset -g remain-on-exit on\nset -g history-limit 2000\n');
  const env: NodeJS.ProcessEnv = { ...process.env, TMUX: undefined };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === null) delete env[key];
    else env[key] = value;
  }
  const tmux = (...args: string[]): string =>
    execFileSync(TMUX, ['-L', name, '-f', conf, ...args], { env, encoding: 'utf8', timeout: 5000 });
  t.after(() => {
    try {
      tmux('kill-session', '-t', name);
      tmux('kill-server');
    } catch {
      // Already gone.
    }
    rmSync(dir, { recursive: true, force: true });
  });
  // Run by sh, which prints the exit status on the screen: tmux's own record of it (#{pane_dead_status}) stays
  // empty when tmux is started from under the test runner.
  const wrapped = ['sh', '-c', '"$@"; echo "[exit $?]"', 'sh', ...argv];
  tmux(
    'new-session',
    '-d',
    '-s',
    name,
    '-x',
    String(options.width ?? 100),
    '-y',
    String(options.height ?? 30),
    '--',
    ...wrapped,
  );
  const screen = (attributes = false): string[] =>
    tmux('capture-pane', '-p', ...(attributes ? ['-e'] : []), '-t', name)
      .split('\n')
      .map((row) => row.trimEnd());
  const pane: TmuxPane = {
    name,
    typeLine(text) {
      tmux('send-keys', '-t', name, '-l', text);
      tmux('send-keys', '-t', name, 'Enter');
    },
    keys(...names) {
      tmux('send-keys', '-t', name, ...names);
    },
    screen,
    title: () => tmux('display-message', '-p', '-t', name, '#{pane_title}').trim(),
    exitStatus() {
      for (const row of screen()) {
        const match = /^\[exit (\d+)\]$/.exec(row);
        if (match) return Number(match[1]);
      }
      return null;
    },
    async waitFor(check, what, timeoutMs = 10_000) {
      const accepts = typeof check === 'function' ? check : (rows: string[]) => rows.some((row) => check.test(row));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const rows = screen();
        if (accepts(rows)) return rows;
        if (Date.now() > deadline)
          throw new Error(`tmux: no ${what} within ${timeoutMs} ms ; the screen:\n${rows.join('\n')}`);
        await delay(50);
      }
    },
  };
  return pane;
}
