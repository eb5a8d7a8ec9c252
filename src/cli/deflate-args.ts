/**
 * permessage-deflate flags shared by the commands: listeners turn it on with `--deflate` (and tune it), clients
 * offer it unless given `--no-deflate`.
 * @packageDocumentation
 */
import type { PerMessageDeflateOptions } from '../index.js';
import { intOption } from './args.js';

/** Flags of a listener, for `parse`. */
export const SERVER_DEFLATE_FLAGS = {
  deflate: { type: 'boolean' },
  'deflate-level': { type: 'string' },
  'deflate-threshold': { type: 'string' },
  'deflate-no-context-takeover': { type: 'boolean' },
  'deflate-context-takeover': { type: 'boolean' },
} as const;

/** Usage lines for {@link SERVER_DEFLATE_FLAGS}. */
export const SERVER_DEFLATE_USAGE = `  --deflate             accept permessage-deflate compression (RFC 7692) when a client offers it
  --deflate-level N     zlib level 0-9 for what is sent (default 1)
  --deflate-threshold B send messages under B bytes uncompressed (default 1024)
  --deflate-context-takeover
                        keep zlib's context between messages both ways: a better ratio on similar messages,
                        about 250 KiB per connection that has talked (default: reset after every message,
                        no zlib memory on idle connections; --deflate-no-context-takeover says so explicitly)
`;

/** Flags of a client, for `parse`. */
export const CLIENT_DEFLATE_FLAGS = {
  'no-deflate': { type: 'boolean' },
} as const;

/** Usage lines for {@link CLIENT_DEFLATE_FLAGS}. */
export const CLIENT_DEFLATE_USAGE = `  --no-deflate          do not offer permessage-deflate compression (offered by default)
`;

type Values = Record<string, string | boolean | undefined>;

/** The listener's `perMessageDeflate` option from the flags: false without `--deflate`. Exits 2 on misuse. */
export function serverDeflateOption(values: Values): false | PerMessageDeflateOptions {
  const tuned = ['deflate-level', 'deflate-threshold', 'deflate-no-context-takeover', 'deflate-context-takeover'].filter((f) => values[f] !== undefined);
  if (values['deflate'] !== true) {
    if (tuned.length > 0) {
      process.stderr.write(`--${tuned[0]} needs --deflate\n`);
      process.exit(2);
    }
    return false;
  }
  const options: PerMessageDeflateOptions = {};
  if (values['deflate-level'] !== undefined) {
    const level = intOption(values['deflate-level'], 'deflate-level', 1);
    if (level > 9) {
      process.stderr.write('--deflate-level must be 0 to 9\n');
      process.exit(2);
    }
    options.level = level;
  }
  if (values['deflate-threshold'] !== undefined) options.threshold = intOption(values['deflate-threshold'], 'deflate-threshold', 1024);
  if (values['deflate-context-takeover'] === true) {
    if (values['deflate-no-context-takeover'] === true) {
      process.stderr.write('--deflate-context-takeover and --deflate-no-context-takeover exclude each other\n');
      process.exit(2);
    }
    options.contextTakeover = true;
  }
  return options;
}

/** The client's `perMessageDeflate` option from the flags. */
export function clientDeflateOption(values: Values): boolean {
  return values['no-deflate'] !== true;
}
