/**
 * The session of `nopoll connect`, as a client and in listen mode: how what arrives is shown (data messages on
 * standard output, `< text` or `< binary N bytes: HEX`; pings, pongs, closes and notices on standard error, all
 * escaped for the terminal) and how a line's action (slash-commands.ts) is carried out on the connection(s).
 * @packageDocumentation
 */
import type { CloseInfo, Conn } from '../index.js';
import type { Values } from './args.js';
import { openPrompt, printOnly, type Prompt, type PromptHandlers } from './prompt.js';
import { SLASH_HELP, type LineAction } from './slash-commands.js';
import { describePayload, escapeText, hexPreview, palette, type Palette } from './terminal-text.js';

/** Where and how the session prints. */
export interface View {
  /** Replaced once connected: output only before, the prompt after. */
  prompt: Prompt;
  /** Colours of standard output. */
  readonly out: Palette;
  /** Colours of standard error. */
  readonly err: Palette;
}

/**
 * The prompt and colours of either mode; with `handlers` null, output only (standard input is not read).
 */
export function sessionView(values: Values, handlers: PromptHandlers | null): View {
  const noColor = values['no-color'] === true;
  const out = palette(process.stdout, noColor);
  const err = palette(process.stderr, noColor);
  const historyFile = typeof values['history-file'] === 'string' ? values['history-file'] : undefined;
  const prompt =
    handlers === null
      ? printOnly()
      : openPrompt(handlers, {
          ...(historyFile !== undefined ? { historyFile } : {}),
          prompt: out.prompt('> '),
          warn: (line) => process.stderr.write(`${err.error(line)}\n`),
        });
  return { prompt, out, err };
}

/** A notice on standard error (`kind` picks its colour). */
export function notice(view: View, line: string, kind: 'event' | 'close' | 'error' = 'event'): void {
  view.prompt.print('err', view.err[kind](line));
}

/** `CODE REASON` of a close, the reason escaped, with why it was not clean when it was not. */
export function describeClose(info: CloseInfo): string {
  const reason = info.reason === '' ? '' : ` ${escapeText(info.reason)}`;
  const unclean = info.wasClean ? '' : ` (unclean${info.error ? `: ${escapeText(info.error.message)}` : ''})`;
  return `${info.code}${reason}${unclean}`;
}

/** Shows what `conn` receives, each line after `label` (`#3 ` in listen mode, nothing for a client). */
export function showTraffic(conn: Conn, view: View, label: string): void {
  conn.onMessage = (_conn, msg) => {
    if (msg.isText) view.prompt.print('out', `${label}< ${escapeText(msg.text, view.out.escape)}`);
    else view.prompt.print('out', `${label}< binary ${msg.size} bytes: ${hexPreview(msg.payload)}`);
  };
  conn.onPing = (_conn, payload) => notice(view, `${label}< ping${describePayload(payload)}`);
  conn.onPong = (_conn, payload) => notice(view, `${label}< pong${describePayload(payload)}`);
}

/**
 * Carries out `action` on every connection of `conns` (a client's one, or listen mode's clients); `label` names a
 * connection in what is printed. Returns `'quit'` for `/quit`. Mistakes and refusals are printed, never thrown.
 */
export function perform(
  action: LineAction,
  conns: readonly Conn[],
  view: View,
  label: (conn: Conn) => string,
): 'quit' | undefined {
  switch (action.kind) {
    case 'mistake':
      notice(view, action.message, 'error');
      return undefined;
    case 'help':
      for (const line of SLASH_HELP) notice(view, line);
      return undefined;
    case 'quit':
      return 'quit';
    default:
  }
  if (conns.length === 0) notice(view, 'no client connected', 'error');
  for (const conn of conns) {
    const failed = (message: string): void => notice(view, `${label(conn)}${message}`, 'error');
    try {
      switch (action.kind) {
        case 'text':
          if (conn.sendText(action.text) < 0) failed('not sent: the connection is closing');
          break;
        case 'binary':
          if (conn.sendBinary(action.bytes) < 0) failed('not sent: the connection is closing');
          break;
        case 'ping':
          if (!conn.ping(action.data)) failed('not sent: the connection is not open');
          break;
        case 'pong':
          if (!conn.pong(action.data)) failed('not sent: the connection is not open');
          break;
        case 'close':
          conn.close(action.code, action.reason).catch((error: Error) => failed(error.message));
          if (conn.state === 'closing')
            notice(
              view,
              `${label(conn)}> close ${action.code}${action.reason === '' ? '' : ` ${escapeText(action.reason)}`}`,
              'close',
            );
          break;
      }
    } catch (error) {
      failed((error as Error).message);
    }
  }
  return undefined;
}
