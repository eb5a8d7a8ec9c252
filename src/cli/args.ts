/**
 * The command line's parsing, shared by every command: flags described once ({@link FlagSpec}) give the parser,
 * the help (usage.ts) and the error messages. A command plugs in with a {@link CommandSpec} and a `run` function
 * ({@link Command}), listed in main.ts. Every mistake is one line on standard error, `nopoll CMD: ...`, and exit
 * status 2 ({@link usageError}).
 * @packageDocumentation
 */
import { suggest } from './suggest.js';
import { formatHelp } from './usage.js';
import { versionLine } from './version.js';

/** One flag of a command. */
export interface FlagSpec {
  /** Long name without the dashes: `header` for `--header`. Parsed values are stored under it. */
  readonly name: string;
  /** One-letter form (`H` for `-H`). */
  readonly short?: string;
  /** Other long spellings accepted for the same flag (older names); the help shows them beside it, once. */
  readonly aliases?: readonly string[];
  /** Placeholder of its value in the help (`N`, `URL`); absent for a switch, which takes no value. */
  readonly value?: string;
  /** May be given several times; the values are kept in order. Otherwise the last one given counts. */
  readonly multiple?: boolean;
  /** What it does, one paragraph (the help wraps it). */
  readonly help: string;
}

/** A command's flags in help order; a string starts a titled group of them in the help. */
export type FlagList = readonly (FlagSpec | string)[];

/** What the parser and the help need to know about a command. */
export interface CommandSpec {
  /** The word after `nopoll`. */
  readonly name: string;
  /** One line for `nopoll --help`. */
  readonly summary: string;
  /** Synopsis lines, each after `nopoll NAME `. */
  readonly usage: readonly string[];
  /** What the command does (paragraphs separated by blank lines; the help wraps them). */
  readonly description: string;
  readonly flags: FlagList;
  /** How many positional arguments it takes at most. */
  readonly maxPositionals: number;
}

/** A command of `nopoll`: its description and what runs it (with the arguments after its name). */
export interface Command {
  readonly spec: CommandSpec;
  run(argv: string[]): Promise<void>;
}

/** Parsed flag values by long name: `true` for a switch given, a string, or a list for a repeatable flag. */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** The flags every command has. */
export const COMMON_FLAGS: readonly FlagSpec[] = [
  { name: 'help', short: 'h', help: 'print this help on standard output and exit' },
  { name: 'version', short: 'V', help: 'print the version of nopoll and exit' },
];

let prefix = 'nopoll';

/** Prints `nopoll CMD: message` on standard error and exits with status 2: the answer to every usage mistake. */
export function usageError(message: string): never {
  process.stderr.write(`${prefix}: ${message}\n`);
  process.exit(2);
}

/** Prints `nopoll CMD: message` on standard error and exits with status 1: a failure that is not a usage mistake. */
export function failure(message: string): never {
  process.stderr.write(`${prefix}: ${message}\n`);
  process.exit(1);
}

/** `unknown option X`, with the nearest known spelling when one is close. */
function unknownOption(shown: string, word: string, known: Iterable<string>, dashes: string): never {
  const near = suggest(word, known);
  usageError(`unknown option ${shown}${near === null ? '' : ` (did you mean ${dashes}${near}?)`}`);
}

/** Every flag of `list` (headings left out), the common ones last. */
export function flagsOf(list: FlagList): FlagSpec[] {
  return [...list.filter((f): f is FlagSpec => typeof f !== 'string'), ...COMMON_FLAGS];
}

/**
 * Parses `argv` for the command: `--name value`, `--name=value`, `-x value`, `-xvalue`, switches grouped (`-ab`),
 * `--` before positionals that start with a dash. `--help` prints the help on standard output and `--version` the
 * version, and both exit 0; a mistake (unknown flag, missing value, a value given to a switch, too many
 * positionals) is a {@link usageError}.
 */
export function parse(spec: CommandSpec, argv: readonly string[]): { values: Values; positionals: string[] } {
  prefix = `nopoll ${spec.name}`;
  const flags = flagsOf(spec.flags);
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const flag of flags) {
    for (const name of [flag.name, ...(flag.aliases ?? [])]) byLong.set(name, flag);
    if (flag.short !== undefined) byShort.set(flag.short, flag);
  }
  const values: Values = {};
  const positionals: string[] = [];
  const set = (flag: FlagSpec, value: string | true): void => {
    if (flag.multiple) {
      const list = values[flag.name];
      values[flag.name] = Array.isArray(list) ? [...list, value as string] : [value as string];
    } else values[flag.name] = value;
  };
  const valueOf = (flag: FlagSpec, shown: string, at: number): string => {
    const value = argv[at];
    if (value === undefined) usageError(`${shown} needs a value (${flag.value})`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const flag = byLong.get(name) ?? unknownOption(`--${name}`, name, byLong.keys(), '--');
      if (flag.value === undefined) {
        if (eq >= 0) usageError(`--${name} takes no value`);
        set(flag, true);
      } else set(flag, eq >= 0 ? arg.slice(eq + 1) : valueOf(flag, `--${name}`, ++i));
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const flag = byShort.get(arg[j]!);
        if (flag === undefined) {
          // `-header` for `--header`: suggest the long flag the whole word is close to.
          if (arg.length > 2) unknownOption(arg, arg.slice(1), byLong.keys(), '--');
          // One letter is close to every other: no guess.
          usageError(`unknown option ${arg}`);
        }
        if (flag.value === undefined) {
          set(flag, true);
          continue;
        }
        set(flag, j + 1 < arg.length ? arg.slice(j + 1) : valueOf(flag, `-${flag.short}`, ++i));
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  if (values['help'] === true) {
    process.stdout.write(formatHelp(spec, COMMON_FLAGS));
    process.exit(0);
  }
  if (values['version'] === true) {
    process.stdout.write(`${versionLine()}\n`);
    process.exit(0);
  }
  if (positionals.length > spec.maxPositionals)
    usageError(`unexpected argument ${JSON.stringify(positionals[spec.maxPositionals])}`);
  return { values, positionals };
}

/** The string value of a flag (the last one of a repeated flag), or undefined. */
export function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  if (Array.isArray(value)) return value[value.length - 1];
  return typeof value === 'string' ? value : undefined;
}

/** Every value of a repeatable flag, in order (empty when not given). */
export function listOption(values: Values, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

/** Reads a non-negative integer flag: `fallback` when absent, a {@link usageError} when not an integer. */
export function intOption(value: Values[string], name: string, fallback: number): number {
  if (value === undefined || typeof value === 'boolean') return fallback;
  const text = Array.isArray(value) ? value[value.length - 1]! : value;
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) usageError(`--${name} needs a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

/** Reads a duration in seconds (decimals allowed, `0.5`) as milliseconds; `fallback` (ms) when absent. */
export function secondsOption(values: Values, name: string, fallbackMs: number): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallbackMs;
  const seconds = /^\d+(\.\d+)?$|^\.\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(seconds) || seconds > 2_000_000)
    usageError(`--${name} needs a number of seconds, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

/** Complains when two flags that exclude each other were both given. */
export function exclusive(values: Values, a: string, b: string): void {
  if (values[a] !== undefined && values[b] !== undefined) usageError(`--${a} and --${b} exclude each other`);
}

/**
 * The URL as given, or with `ws://` in front when it names no scheme (`localhost:8080/chat`,
 * `[::1]:9001`), as wscat and browsers' address bars do.
 */
export function withScheme(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `ws://${url}`;
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0 (or 1 if stopping failed or took over 5 s). */
export function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/** `ws://host:port/` with IPv6 hosts bracketed. */
export function wsUrl(host: string, port: number): string {
  return `ws://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}
