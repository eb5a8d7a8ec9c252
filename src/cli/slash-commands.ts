/**
 * What a line typed at `nopoll connect`'s prompt (or given with `-x`) asks for: a text message, or a slash command
 * (`/ping [data]`, `/pong [data]`, `/close [code] [reason]`, `/binary HEX`, `/help`, `/quit`). `//text` sends
 * `/text`. Parsing only: session.ts carries them out.
 * @packageDocumentation
 */
import { suggest } from './suggest.js';

/** A line, understood. */
export type LineAction =
  | { kind: 'text'; text: string }
  | { kind: 'binary'; bytes: Buffer }
  | { kind: 'ping' | 'pong'; data: string }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'mistake'; message: string };

/** The help `/help` prints, one command a line. */
export const SLASH_HELP: readonly string[] = [
  '/ping [data]            send a ping (data: at most 125 bytes)',
  '/pong [data]            send an unsolicited pong',
  '/close [code] [reason]  start the closing handshake (default 1000)',
  '/binary HEX             send a binary message (hex digits, spaces allowed: 00ff 1b5b)',
  '/help                   this list',
  '/quit                   close with 1000 and exit',
  '//text                  send a text message that starts with /',
];

const COMMANDS = ['ping', 'pong', 'close', 'binary', 'help', 'quit'];

/** Bytes from hex digits (spaces between them allowed); null when they are not an even number of hex digits. */
export function parseHex(text: string): Buffer | null {
  const digits = text.replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(digits)) return null;
  return Buffer.from(digits, 'hex');
}

/**
 * What `line` asks for. With `slash` false every line is a text message as it is (piped input); with it, a line
 * starting with `/` is a command.
 */
export function parseLine(line: string, slash: boolean): LineAction {
  if (!slash || !line.startsWith('/')) return { kind: 'text', text: line };
  if (line.startsWith('//')) return { kind: 'text', text: line.slice(1) };
  const match = /^\/(\S*)\s*(.*)$/s.exec(line)!;
  const name = match[1]!;
  const rest = match[2]!;
  switch (name) {
    case 'ping':
    case 'pong':
      return { kind: name, data: rest };
    case 'binary': {
      const bytes = parseHex(rest);
      return bytes === null
        ? { kind: 'mistake', message: `/binary needs hex digits in pairs (00ff1b), got ${JSON.stringify(rest)}` }
        : { kind: 'binary', bytes };
    }
    case 'close': {
      const [, code, reason] = /^(\S*)\s*(.*)$/s.exec(rest)!;
      if (code === '') return { kind: 'close', code: 1000, reason: '' };
      if (!/^\d{1,4}$/.test(code!))
        return { kind: 'mistake', message: `/close needs a close code (1000, 3000-4999), got ${JSON.stringify(code)}` };
      return { kind: 'close', code: Number(code), reason: reason! };
    }
    case 'help':
    case 'quit':
      return { kind: name };
    default: {
      const near = suggest(name, COMMANDS);
      return {
        kind: 'mistake',
        message: `unknown command /${name}${near === null ? '' : ` (did you mean /${near}?)`}; /help lists them, //text sends /text`,
      };
    }
  }
}
