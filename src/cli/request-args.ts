/**
 * Flags that shape `nopoll connect`'s handshake request: header fields (`-H`), Origin (`-o`), HTTP Basic
 * credentials (`--auth`), subprotocols (`-s`), redirects (`-L`).
 * @packageDocumentation
 */
import type { ConnOptsInit } from '../index.js';
import { intOption, listOption, stringOption, usageError, type FlagSpec, type Values } from './args.js';

/** The request flags. */
export const CLIENT_REQUEST_FLAGS: readonly FlagSpec[] = [
  {
    name: 'header',
    short: 'H',
    value: "'NAME: VALUE'",
    multiple: true,
    help: 'add this header field to the handshake request',
  },
  { name: 'origin', short: 'o', value: 'ORIGIN', help: 'send this Origin header (http://example.com)' },
  {
    name: 'auth',
    value: 'USER:PASS',
    help: 'HTTP Basic authentication (RFC 7617): sends Authorization: Basic with these credentials (mind that other users of this machine may see command lines)',
  },
  {
    name: 'subprotocol',
    short: 's',
    aliases: ['protocol'],
    value: 'P',
    multiple: true,
    help: 'offer this subprotocol (Sec-WebSocket-Protocol), most preferred first',
  },
  {
    name: 'location',
    short: 'L',
    help: 'follow redirects (301, 302, 303, 307, 308); Authorization and Cookie are dropped when one leaves the origin, wss: to ws: is refused',
  },
  { name: 'max-redirects', value: 'N', help: 'with --location: most redirects followed (default 10)' },
];

/** `NAME: VALUE` as a header field; a usage error when it is not one (the library checks the characters). */
function headerField(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon < 0 ? '' : text.slice(0, colon).trim();
  if (name === '') usageError(`--header needs 'NAME: VALUE', got ${JSON.stringify(text)}`);
  return [name, text.slice(colon + 1).trim()];
}

/** The handshake options from the flags. A usage error on a flag that cannot be used. */
export function clientRequestOptions(
  values: Values,
): Pick<ConnOptsInit, 'extraHeaders' | 'origin' | 'protocols' | 'followRedirects' | 'maxRedirects'> {
  const headers = listOption(values, 'header').map(headerField);
  const auth = stringOption(values, 'auth');
  if (auth !== undefined) {
    if (!auth.includes(':')) usageError(`--auth needs USER:PASS, got ${JSON.stringify(auth)}`);
    if (headers.some(([name]) => name.toLowerCase() === 'authorization'))
      usageError('--auth and --header Authorization exclude each other');
    // RFC 7617 §2: base64 of user-id ":" password, in UTF-8 (§2.1).
    headers.push(['Authorization', `Basic ${Buffer.from(auth, 'utf8').toString('base64')}`]);
  }
  const origin = stringOption(values, 'origin');
  if (origin !== undefined && headers.some(([name]) => name.toLowerCase() === 'origin'))
    usageError('--origin and --header Origin exclude each other');
  const protocols = listOption(values, 'subprotocol');
  if (values['max-redirects'] !== undefined && values['location'] !== true)
    usageError('--max-redirects needs --location');
  return {
    ...(headers.length > 0 ? { extraHeaders: headers } : {}),
    ...(origin !== undefined ? { origin } : {}),
    ...(protocols.length > 0 ? { protocols } : {}),
    ...(values['location'] === true
      ? { followRedirects: true, maxRedirects: intOption(values['max-redirects'], 'max-redirects', 10) }
      : {}),
  };
}
