/**
 * `nopoll connect URL`: interactive client. Each line typed is sent as a text message; each message received is
 * printed. End of input closes the connection.
 * @packageDocumentation
 */
import { createInterface } from 'node:readline';
import { Conn, Context } from '../index.js';
import { parse } from './args.js';
import { CLIENT_TLS_FLAGS, CLIENT_TLS_USAGE, clientTlsOptions } from './tls-args.js';
import { CLIENT_HTTP2_FLAGS, CLIENT_HTTP2_USAGE, clientHttp2Mode } from './http2-args.js';

const USAGE = `usage: nopoll connect URL [--protocol P]... [--ca F] [--cert F --key F] [--insecure] [--http2 | --http2-auto]
  Sends each input line as a text message and prints each message received ("< text" or "< binary N bytes: hex").
  URL is ws:// or wss://.
${CLIENT_TLS_USAGE}${CLIENT_HTTP2_USAGE}`;

/** Runs the interactive client. */
export async function connectCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { protocol: { type: 'string', multiple: true }, ...CLIENT_TLS_FLAGS, ...CLIENT_HTTP2_FLAGS, help: { type: 'boolean', short: 'h' } },
    USAGE,
  );
  const url = positionals[0];
  if (!url) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const ctx = new Context();
  const protocols = values['protocol'] as unknown as string[] | undefined;
  let conn: Conn;
  try {
    const tls = clientTlsOptions(values, url);
    conn = await Conn.open(ctx, url, { ...(protocols ? { protocols } : {}), ...(tls ? { tls } : {}), http2: clientHttp2Mode(values), timeoutMs: 20_000 });
  } catch (error) {
    process.stderr.write(`connect: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.stderr.write(`connected to ${url}${conn.acceptedProtocol ? ` (protocol ${conn.acceptedProtocol})` : ''}${conn.httpVersion === '2' ? ' over HTTP/2' : ''}\n`);
  conn.onMessage = (_conn, msg) => {
    if (msg.isText) process.stdout.write(`< ${msg.text}\n`);
    else process.stdout.write(`< binary ${msg.size} bytes: ${msg.payload.subarray(0, 64).toString('hex')}\n`);
  };
  const input = createInterface({ input: process.stdin, terminal: false });
  input.on('line', (line) => conn.sendText(line));
  input.on('close', () => void conn.close(1000));
  process.on('SIGTERM', () => void conn.close(1001));
  process.on('SIGINT', () => void conn.close(1001));
  const info = await conn.closed;
  input.close();
  process.stderr.write(`closed: ${info.code}${info.reason ? ` ${info.reason}` : ''}\n`);
  process.exit(info.wasClean ? 0 : 1);
}
