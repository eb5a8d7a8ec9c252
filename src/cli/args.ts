/**
 * Shared CLI helpers: option parsing and clean shutdown on SIGTERM/SIGINT.
 * @packageDocumentation
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Parses `argv` with the given options; prints usage and exits 2 on a bad flag. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values['help']) {
      process.stdout.write(usage);
      process.exit(0);
    }
    return { values, positionals: parsed.positionals };
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
}

/** Reads an integer option, exiting 2 with a message when it is not one. */
export function intOption(value: string | boolean | undefined, name: string, fallback: number): number {
  if (value === undefined || typeof value === 'boolean') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${name} needs a non-negative integer, got ${value}\n`);
    process.exit(2);
  }
  return n;
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
