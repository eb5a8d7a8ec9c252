/**
 * `nopoll connect`'s input and output. On a terminal (standard input and output both TTYs): a prompt with line
 * editing and history (node:readline), kept in memory or, with `--history-file`, in a file; what arrives is printed
 * above the line being typed, which is drawn again after it. Otherwise: lines read from standard input, no prompt.
 * @packageDocumentation
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';

/** Entries kept in the history (in memory and in the file). */
export const HISTORY_SIZE = 500;

/** The input of the session and the lines it prints. */
export interface Prompt {
  /** True when reading a terminal with line editing and a prompt. */
  readonly terminal: boolean;
  /** Prints a line on standard output (`'out'`) or standard error (`'err'`), above the prompt. */
  print(stream: 'out' | 'err', line: string): void;
  /** Stops reading (backpressure); lines already read may still come. */
  pause(): void;
  resume(): void;
  /** Stops reading for good and gives the terminal back. */
  close(): void;
}

/** What the prompt calls. */
export interface PromptHandlers {
  line(line: string): void;
  /** End of input: Ctrl-D on an empty line, or the end of piped input. */
  end(): void;
  /** Ctrl-C at the prompt. */
  interrupt(): void;
}

/** The last {@link HISTORY_SIZE} entries of the history file, newest first (readline's order); none if unreadable. */
function loadHistory(file: string): string[] {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    return [];
  }
  const kept = lines.slice(-HISTORY_SIZE);
  // Keep the file from growing without end: rewritten with the entries kept once it holds twice as many.
  if (lines.length > 2 * HISTORY_SIZE) {
    try {
      writeFileSync(file, `${kept.join('\n')}\n`, { mode: 0o600 });
    } catch {
      // Read-only: the history still works in memory.
    }
  }
  return kept.reverse();
}

/**
 * Opens the prompt. `historyFile` (terminal only) is read at start and each line entered is appended to it
 * (created with mode 0600: it may hold secrets typed at the prompt).
 */
export function openPrompt(
  handlers: PromptHandlers,
  options: { historyFile?: string; prompt: string; warn: (line: string) => void },
): Prompt {
  const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const historyFile = terminal ? options.historyFile : undefined;
  const rl: Interface = createInterface({
    input: process.stdin,
    ...(terminal ? { output: process.stdout } : {}),
    terminal,
    prompt: options.prompt,
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    ...(historyFile !== undefined ? { history: loadHistory(historyFile) } : {}),
  });
  let open = true;
  let historyBroken = false;
  rl.on('line', (line) => {
    if (historyFile !== undefined && line !== '' && !historyBroken) {
      try {
        appendFileSync(historyFile, `${line}\n`, { mode: 0o600 });
      } catch (error) {
        historyBroken = true;
        options.warn(`history not saved: ${(error as Error).message}`);
      }
    }
    handlers.line(line);
    if (open && terminal) rl.prompt();
  });
  const clearPromptLine = (): void => {
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
  };
  rl.on('close', () => {
    if (!open) return;
    open = false;
    // Ctrl-D: what is printed next starts where the prompt was.
    if (terminal) clearPromptLine();
    handlers.end();
  });
  rl.on('SIGINT', () => handlers.interrupt());
  if (terminal) rl.prompt();
  return {
    terminal,
    print(stream, line) {
      const out = stream === 'out' ? process.stdout : process.stderr;
      if (!terminal || !open) {
        out.write(`${line}\n`);
        return;
      }
      // Over the prompt line, then the prompt and what was typed so far again, the cursor where it was.
      clearPromptLine();
      out.write(`${line}\n`);
      rl.prompt(true);
    },
    pause: () => rl.pause(),
    resume: () => rl.resume(),
    close() {
      if (!open) return;
      open = false;
      if (terminal) clearPromptLine();
      rl.close();
    },
  };
}

/** Output only, no input read (`connect -x`): lines printed as they come. */
export function printOnly(): Prompt {
  return {
    terminal: false,
    print: (stream, line) => void (stream === 'out' ? process.stdout : process.stderr).write(`${line}\n`),
    pause: () => undefined,
    resume: () => undefined,
    close: () => undefined,
  };
}
