/**
 * The help of a command, made from its {@link CommandSpec}: the synopsis, the description, then each flag once,
 * its one-letter form and older spellings beside it.
 * @packageDocumentation
 */
import type { CommandSpec, FlagSpec } from './args.js';

const WIDTH = 100;
// The help column starts after the longest flag, up to this far in.
const MAX_COLUMN = 36;

/** `text` cut into lines of at most `width` characters at spaces (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** `-H, --header NAME:VALUE` (a flag without a short form is indented to line up with those that have one). */
export function flagLabel(flag: FlagSpec): string {
  const long = `--${flag.name}${flag.value === undefined ? '' : ` ${flag.value}`}`;
  return flag.short === undefined ? `    ${long}` : `-${flag.short}, ${long}`;
}

function flagLines(flag: FlagSpec, column: number): string[] {
  const label = `  ${flagLabel(flag)}`;
  const notes = [
    ...(flag.multiple ? ['repeatable'] : []),
    ...(flag.aliases?.length ? [`also spelled ${flag.aliases.map((a) => `--${a}`).join(', ')}`] : []),
  ];
  const help = notes.length > 0 ? `${flag.help} (${notes.join('; ')})` : flag.help;
  const text = wrap(help, WIDTH - column);
  const pad = ' '.repeat(column);
  const lines = label.length < column - 1 ? [`${label.padEnd(column)}${text.shift() ?? ''}`] : [label];
  for (const rest of text) lines.push(`${pad}${rest}`);
  return lines;
}

/** The whole help of a command, as `--help` prints it: its own flags, then `common` (help, version). */
export function formatHelp(spec: CommandSpec, common: readonly FlagSpec[]): string {
  const all = [...spec.flags.filter((f): f is FlagSpec => typeof f !== 'string'), ...common];
  const column = Math.min(MAX_COLUMN, Math.max(...all.map((f) => flagLabel(f).length)) + 4);
  const lines: string[] = [];
  spec.usage.forEach((synopsis, i) => lines.push(`${i === 0 ? 'usage:' : '      '} nopoll ${spec.name} ${synopsis}`));
  for (const paragraph of spec.description.split(/\n\s*\n/)) {
    lines.push('', ...wrap(paragraph, WIDTH));
  }
  // Flags before the first group title get a title of their own.
  if (typeof spec.flags[0] !== 'string') lines.push('', 'Options:');
  for (const item of spec.flags) {
    if (typeof item === 'string') lines.push('', `${item}:`);
    else lines.push(...flagLines(item, column));
  }
  lines.push('');
  for (const flag of common) lines.push(...flagLines(flag, column));
  return `${lines.join('\n')}\n`;
}
