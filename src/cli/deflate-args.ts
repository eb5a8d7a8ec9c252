/**
 * permessage-deflate flags shared by the commands: listeners turn it on with `--deflate` (and tune it), clients
 * offer it unless given `--no-deflate`.
 * @packageDocumentation
 */
import type { PerMessageDeflateOptions } from '../index.js';
import { exclusive, intOption, usageError, type FlagSpec, type Values } from './args.js';

/** Flags of a listener. */
export const SERVER_DEFLATE_FLAGS: readonly FlagSpec[] = [
  { name: 'deflate', help: 'accept permessage-deflate compression (RFC 7692) when a client offers it' },
  { name: 'deflate-level', value: 'N', help: 'with --deflate: zlib level 0-9 for what is sent (default 1)' },
  {
    name: 'deflate-threshold',
    value: 'B',
    help: 'with --deflate: send messages under B bytes uncompressed (default 1024)',
  },
  {
    name: 'deflate-context-takeover',
    help: "with --deflate: keep zlib's context between messages both ways: a better ratio on similar messages, about 250 KiB per connection that has talked (default: reset after every message, no zlib memory on idle connections)",
  },
  {
    name: 'deflate-no-context-takeover',
    help: 'with --deflate: reset the context after every message (the default, said explicitly)',
  },
];

/** Flags of a client. */
export const CLIENT_DEFLATE_FLAGS: readonly FlagSpec[] = [
  { name: 'no-deflate', help: 'do not offer permessage-deflate compression (offered by default)' },
];

/** The listener's `perMessageDeflate` option from the flags: false without `--deflate`. A usage error on misuse. */
export function serverDeflateOption(values: Values): false | PerMessageDeflateOptions {
  const tuned = [
    'deflate-level',
    'deflate-threshold',
    'deflate-no-context-takeover',
    'deflate-context-takeover',
  ].filter((f) => values[f] !== undefined);
  if (values['deflate'] !== true) {
    if (tuned.length > 0) usageError(`--${tuned[0]} needs --deflate`);
    return false;
  }
  const options: PerMessageDeflateOptions = {};
  if (values['deflate-level'] !== undefined) {
    const level = intOption(values['deflate-level'], 'deflate-level', 1);
    if (level > 9) usageError('--deflate-level must be 0 to 9');
    options.level = level;
  }
  if (values['deflate-threshold'] !== undefined)
    options.threshold = intOption(values['deflate-threshold'], 'deflate-threshold', 1024);
  exclusive(values, 'deflate-context-takeover', 'deflate-no-context-takeover');
  if (values['deflate-context-takeover'] === true) options.contextTakeover = true;
  return options;
}

/** The client's `perMessageDeflate` option from the flags. */
export function clientDeflateOption(values: Values): boolean {
  return values['no-deflate'] !== true;
}
